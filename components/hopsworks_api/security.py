"""Password hashing (argon2id), JWT access tokens, refresh tokens and API key material.

Kept apart from the user service so that no other module handles secrets directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hopsworks_api.config import Settings
from hopsworks_api.errors import Unauthorized

_ALGORITHM = "HS256"
API_KEY_PREFIX = "hops"


class Passwords:
    """argon2id with tunable cost: RFC 9106 defaults in production, cheaper in test suites
    (still real argon2) so that hundreds of accounts can be made per run."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._dummy = self._hasher.hash("timing-equaliser")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def burn(self, password: str) -> None:
        """Spend the time a real check takes, so unknown emails cannot be told apart."""
        self.verify(self._dummy, password)


def write_secret_file(path: Path, content: str) -> None:
    """Create a secret 0600 from the first byte on: never world-readable, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def secret_file_once(path: Path) -> str:
    """The secret in `path`, generated on first use. Several processes starting at once
    (`hops serve --workers`, instances sharing a data dir) all end up with the same one:
    each writes its candidate 0600 under a private name and links it into place; the
    first link wins and the others read the winner's complete file, never a half-written
    one (creating the final name directly would let a loser read it while still empty)."""
    if not path.exists():
        staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        write_secret_file(staging, secrets.token_urlsafe(48))
        try:
            with contextlib.suppress(FileExistsError):  # another process won: use theirs
                os.link(staging, path)
        finally:
            staging.unlink()
    return path.read_text().strip()


def load_jwt_secret(settings: Settings) -> str:
    """Use the configured key, else a key generated once and kept 0600 in the data dir.
    Instances that do not share the data dir must all set HOPS_JWT_SECRET, the same on
    each: a token is then accepted by every instance, whichever issued it."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return secret_file_once(settings.data_dir / "jwt.secret")


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    version: int


class TokenCodec:
    """HS256 access tokens naming the account's random `subject` (never its numeric id,
    which a database could hand out again) and its `token_version` (`ver`). Time comes
    from the caller's clock, so expiry is checked against the same clock that issued."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

    def issue(self, *, subject: str, version: int, now: datetime) -> str:
        claims = {
            "sub": subject,
            "ver": version,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def claims(self, token: str, *, now: datetime) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={
                    "require": ["exp", "sub"],
                    "verify_exp": False,  # checked below, on the service's clock
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except (jwt.InvalidTokenError, ValueError) as exc:
            raise Unauthorized("invalid access token", code="invalid_token") from exc
        exp, subject, version = claims["exp"], claims["sub"], claims.get("ver")
        if type(exp) not in (int, float):  # bool is an int subclass: compare types exactly
            raise Unauthorized("invalid access token", code="invalid_token")
        if exp <= now.timestamp():
            raise Unauthorized("access token expired", code="token_expired")
        if type(subject) is not str or type(version) is not int:
            raise Unauthorized("invalid access token", code="invalid_token")
        return TokenClaims(subject=subject, version=version)


def new_refresh_token() -> tuple[str, str]:
    """Return (the opaque token shown once, the SHA-256 that is stored)."""
    token = secrets.token_urlsafe(48)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key() -> tuple[str, str, str]:
    """Return (full key shown once, lookup prefix, hash of the secret part)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"{API_KEY_PREFIX}_{prefix}_{secret}", prefix, hash_api_secret(secret)


def split_api_key(key: str) -> tuple[str, str]:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or not parts[2]:
        raise Unauthorized("malformed API key", code="invalid_api_key")
    return parts[1], parts[2]


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_secret_matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_api_secret(secret))
