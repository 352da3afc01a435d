"""The execution bot's vault authority key: a Solana keypair (ed25519, 64 bytes: the 32-byte
secret seed then the 32-byte public key), read once at start.

Two sources, in this order:

* a Solana CLI keypair file (`solana-keygen new -o FILE`): a JSON array of 64 integers
  0..255. It is refused unless its mode gives nothing to group or others (mode & 0o077 ==
  0: `chmod 600 FILE`), as ssh refuses a private key others can read;
* else the environment variable XORJ_VAULT_AUTHORITY_KEY: the same 64 bytes in base58 (the
  form wallets export a secret key in).

Every error is an app.config.ConfigError naming the source (the path or the variable) and
what is wrong, and NEVER a byte of the secret: no value, no excerpt, no parser message that
could echo input, and no exception chained from one that could (`from None`). Note that
`str()` of a solders Keypair IS its base58 secret: never format a Keypair (its repr and
`.pubkey()` are safe).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping

from solders.keypair import Keypair

from app.base58 import ALPHABET
from app.config import ConfigError

KEY_VARIABLE = "XORJ_VAULT_AUTHORITY_KEY"
KEYPAIR_BYTES = 64
MAX_FILE_BYTES = 4096  # a keypair file is ~230 bytes; refuse to read anything large
_B58_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def load_keypair(
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    variable: str = KEY_VARIABLE,
    what: str = "vault authority",
) -> Keypair:
    """The keypair of the file at `path` when given, else of the base58 variable `variable`
    of `env` (default: os.environ). ConfigError when neither is usable."""
    if path is not None and str(path) != "":
        return _from_file(os.fspath(path))
    environ = os.environ if env is None else env
    value = environ.get(variable)
    if value is None or not value.strip():
        raise ConfigError(
            f"no {what} key: give a keypair file (mode 600) or set {variable} "
            "(the 64-byte secret key in base58)"
        )
    return _from_base58(value.strip(), variable)


def _from_file(path: str) -> Keypair:
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(f"keypair file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"keypair file {path} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)  # the file opened, not a name that may have changed since
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"keypair file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"keypair file {path} has mode {mode:04o}, which lets group or others read "
                f"it: run `chmod 600 {path}`"
            )
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"keypair file {path} is {info.st_size} bytes: not a Solana keypair file"
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        # No parser message: a JSON error may quote the document.
        raise ConfigError(
            f"keypair file {path} is not JSON: expected an array of {KEYPAIR_BYTES} "
            "integers 0..255 (solana-keygen's format)"
        ) from None
    if not isinstance(data, list):
        raise ConfigError(
            f"keypair file {path} does not hold a JSON array (of {KEYPAIR_BYTES} integers)"
        )
    if len(data) != KEYPAIR_BYTES:
        raise ConfigError(f"keypair file {path} holds {len(data)} values, expected {KEYPAIR_BYTES}")
    for index, item in enumerate(data):
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item <= 255:
            raise ConfigError(f"keypair file {path}: value {index} is not an integer 0..255")
    return _keypair(bytes(data), f"keypair file {path}")


def _from_base58(text: str, variable: str) -> Keypair:
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            # Which character (or where) would give part of the secret away: say neither.
            raise ConfigError(f"{variable} is not base58 (a character outside the alphabet)")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    secret = b"\0" * zeros + body
    if len(secret) != KEYPAIR_BYTES:
        raise ConfigError(
            f"{variable} decodes to {len(secret)} bytes, expected {KEYPAIR_BYTES} (the "
            "secret key and the public key, as wallets export it)"
        )
    return _keypair(secret, variable)


def _keypair(secret: bytes, source: str) -> Keypair:
    try:
        return Keypair.from_bytes(secret)
    except ValueError:
        raise ConfigError(
            f"{source}: not an ed25519 keypair (its last 32 bytes are not the public key "
            "of its first 32)"
        ) from None
