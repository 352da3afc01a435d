"""JWT authentication: the algorithm pinned by configuration, `exp` required.

HS256 with JWT_SECRET by default; RS256, ES256 or EdDSA with JWT_PUBLIC_KEY (and
JWT_ALGORITHM) when set. JWT_ISSUER / JWT_AUDIENCE, when set, must match. The user's
wallet is the `wallet_address` claim, else `sub`, and must be a Solana address. Service
tokens carry `role: "engine"` or `role: "bot"`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from app.config import ConfigError

ADDRESS = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
ASYMMETRIC = ("RS256", "ES256", "EdDSA")
MIN_SECRET_BYTES = 32
MISSING_HEADER = "Missing or invalid authorization header"
INVALID_TOKEN = "Invalid or expired session token"


@dataclass(frozen=True)
class AuthConfig:
    algorithm: str
    verify_key: str
    signing_key: str | None
    issuer: str | None
    audience: str | None


def _pem(value: str) -> str:
    """A PEM given inline, or the contents of the file it names."""
    value = value.strip()
    if value.startswith("-----BEGIN"):
        return value.replace("\\n", "\n")
    path = Path(value)
    if not path.is_file():
        raise ConfigError("JWT key must be PEM text or the path of a PEM file")
    return path.read_text()


def auth_config(env: Mapping[str, str] | None = None) -> AuthConfig:
    env = os.environ if env is None else env
    public = env.get("JWT_PUBLIC_KEY", "").strip()
    secret = env.get("JWT_SECRET", "")
    issuer = env.get("JWT_ISSUER", "").strip() or None
    audience = env.get("JWT_AUDIENCE", "").strip() or None
    if public:
        algorithm = env.get("JWT_ALGORITHM", "RS256").strip()
        if algorithm not in ASYMMETRIC:
            raise ConfigError(
                f"JWT_ALGORITHM must be one of {', '.join(ASYMMETRIC)} with JWT_PUBLIC_KEY"
            )
        private = env.get("JWT_PRIVATE_KEY", "").strip()
        return AuthConfig(
            algorithm, _pem(public), _pem(private) if private else None, issuer, audience
        )
    if secret:
        algorithm = env.get("JWT_ALGORITHM", "HS256").strip()
        if algorithm != "HS256":
            raise ConfigError("JWT_ALGORITHM must be HS256 with JWT_SECRET (or set JWT_PUBLIC_KEY)")
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return AuthConfig("HS256", secret, secret, issuer, audience)
    raise ConfigError("no JWT key: set JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256, ES256, EdDSA)")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (with a wallet) or a service (engine or bot)."""

    kind: str  # 'user', 'engine' or 'bot'
    subject: str
    wallet: str | None = None
    # The verified token's claims, put into each transaction (request.jwt.claims): the
    # database takes the user's wallet from them.
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def actor(self) -> str:
        return f"{'api' if self.kind == 'user' else self.kind}:{self.subject}"


class InvalidToken(Exception):
    pass


def verify(token: str, config: AuthConfig) -> Principal:
    """The principal of a token, or InvalidToken (never says why to the caller)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            config.verify_key,
            algorithms=[config.algorithm],
            issuer=config.issuer,
            audience=config.audience,
            options={
                "require": ["exp"],
                "verify_aud": config.audience is not None,
                "verify_iss": config.issuer is not None,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    role = claims.get("role")
    if role in ("engine", "bot"):
        subject = str(claims.get("sub") or role)
        return Principal(role, subject[:100], claims=claims)
    if role not in (None, "user"):
        raise InvalidToken("unknown role")
    wallet = claims.get("wallet_address") or claims.get("sub")
    if not isinstance(wallet, str) or not ADDRESS.match(wallet):
        raise InvalidToken("no valid wallet")
    return Principal("user", wallet, wallet, claims=claims)


def issue(
    config: AuthConfig, wallet: str | None = None, role: str | None = None, ttl: int = 3600
) -> str:
    """A signed token for local use (`xorj token`)."""
    if config.signing_key is None:
        raise ConfigError("set JWT_PRIVATE_KEY to sign tokens with an asymmetric algorithm")
    if role not in (None, "engine", "bot"):
        raise ConfigError("role must be engine or bot")
    if role is None and (wallet is None or not ADDRESS.match(wallet)):
        raise ConfigError("a user token needs --wallet with a Solana address")
    if ttl <= 0:
        raise ConfigError("--ttl must be positive")
    now = int(time.time())
    claims: dict[str, Any] = {"iat": now, "nbf": now, "exp": now + ttl}
    if role:
        claims["role"] = role
        claims["sub"] = wallet or f"{role}-service"
    else:
        claims["sub"] = wallet
        claims["wallet_address"] = wallet
    if config.issuer:
        claims["iss"] = config.issuer
    if config.audience:
        claims["aud"] = config.audience
    return jwt.encode(claims, config.signing_key, algorithm=config.algorithm)
