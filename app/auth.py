"""JWT authentication: the algorithm pinned by configuration, `exp` required.

HS256 with JWT_SECRET by default; RS256, ES256 or EdDSA with JWT_PUBLIC_KEY (and
JWT_ALGORITHM) when set. JWT_ISSUER / JWT_AUDIENCE, when set, must match. The user's
wallet is the `wallet_address` claim, else `sub`, and must be a Solana address. Service
tokens carry `role: "engine"` or `role: "bot"`.

`Verifier` does the work once that does not change between requests: the key is parsed
and checked once (PyJWT would parse a PEM, and try an HMAC secret as a DER key, at every
decode), and a token fully verified once (PyJWT: format, algorithm, signature, claims)
keeps its parsed claims and principal in a bounded cache. A token seen again has its
signature checked again with the prepared key, and its `exp` against the clock (its
`nbf` and `iat` held when it was first verified, and time moves forward); nothing else
is parsed again.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt.utils import base64url_decode

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
    # The claims as the JSON text the prelude sets (serialized once per token).
    claims_json: str = field(default="", compare=False, repr=False)
    actor: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.actor:
            kind = "api" if self.kind == "user" else self.kind
            object.__setattr__(self, "actor", f"{kind}:{self.subject}")
        if self.claims and not self.claims_json:
            text = json.dumps(self.claims, separators=(",", ":"), default=str)
            object.__setattr__(self, "claims_json", text)


class InvalidToken(Exception):
    pass


def _decode(token: str, key: Any, config: AuthConfig) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            key,
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


def _principal(claims: dict[str, Any]) -> Principal:
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


class Verifier:
    """Verifies tokens with one configuration's key, prepared once; see the module's
    docstring for what a token seen again costs."""

    CACHE_SIZE = 4096  # tokens; the oldest leaves first

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.algorithm = jwt.PyJWS().get_algorithm_by_name(config.algorithm)
        # The parsed public key (a cryptography object, which PyJWT takes as it is), or
        # the HMAC secret (checked once here; PyJWT checks it again on a first decode).
        self.key = self.algorithm.prepare_key(config.verify_key)
        self.decode_key = config.verify_key if config.algorithm == "HS256" else self.key
        self.seen: dict[str, tuple[Principal, int, bytes, bytes]] = {}

    def verify(self, token: str) -> Principal:
        """The principal of a token, or InvalidToken (never says why to the caller)."""
        known = self.seen.get(token)
        if known is None:
            return self._first(token)
        principal, expires, signing_input, signature = known
        if not self.algorithm.verify(signing_input, self.key, signature):
            raise InvalidToken("InvalidSignatureError")  # cannot happen with one key
        if expires <= time.time():
            del self.seen[token]
            raise InvalidToken("ExpiredSignatureError")
        return principal

    def _first(self, token: str) -> Principal:
        claims = _decode(token, self.decode_key, self.config)
        principal = _principal(claims)
        signing_input, _, encoded = token.encode().rpartition(b".")
        if len(self.seen) >= self.CACHE_SIZE:
            del self.seen[next(iter(self.seen))]
        expires = int(claims["exp"])  # as PyJWT reads it
        self.seen[token] = (principal, expires, signing_input, base64url_decode(encoded))
        return principal


_verifiers: dict[AuthConfig, Verifier] = {}


def verify(token: str, config: AuthConfig) -> Principal:
    """The principal of a token, or InvalidToken (never says why to the caller)."""
    verifier = _verifiers.get(config)
    if verifier is None:
        verifier = _verifiers[config] = Verifier(config)
    return verifier.verify(token)


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
