"""The audit chain's HMAC key, kept outside the metadata DB.

Anyone who can write the DB could recompute a plain hash chain after rewriting history;
with an HMAC under a key the DB never sees they cannot. The key comes from
`HOPS_AUDIT_KEY` (what a cluster sets, so that every instance shares it) or from
`<data_dir>/audit.key`, generated once and created 0600 from the first byte.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from hopsworks_api.config import Settings
from hopsworks_api.security import secret_file_once

KEY_FILE = "audit.key"
MIN_KEY_LENGTH = 32  # the fingerprint and every record would let a short key be guessed


class AuditKeyMissing(RuntimeError):
    """Raised by readers (verify, checkpoint) that must not invent a key of their own, and
    for a key too short or empty to be one."""


def key_path(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def load_audit_key(settings: Settings, *, create: bool) -> bytes:
    """The configured key, else the key file; `create` makes the file when it is missing
    (the service does, the verifying CLI does not: a fresh key would prove nothing)."""
    if settings.audit_key is not None and settings.audit_key.get_secret_value():
        return _checked(settings.audit_key.get_secret_value(), "HOPS_AUDIT_KEY")
    path = key_path(settings)
    if not path.exists() and not create:
        raise AuditKeyMissing(
            f"no audit key: set HOPS_AUDIT_KEY or provide {path} (the service's key)"
        )
    return _checked(secret_file_once(path), str(path))


def _checked(key: str, source: str) -> bytes:
    if len(key) < MIN_KEY_LENGTH:
        raise AuditKeyMissing(f"the audit key in {source} is shorter than {MIN_KEY_LENGTH}")
    return key.encode()


def fingerprint(key: bytes) -> str:
    """A public name for the key (16 hex digits): tells which key sealed a chain without
    revealing it."""
    return hmac.new(key, b"hops-audit-key-id", hashlib.sha256).hexdigest()[:16]
