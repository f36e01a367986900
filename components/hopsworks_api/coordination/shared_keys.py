"""Instances of one cluster must share their keys; one that does not refuses to start.

Behind a load balancer, an instance with its own JWT secret rejects every token its peers
issued (users see random 401s), and one with its own CA issues certificates that the
peers' chain and CRLs know nothing of. Both happen silently when an operator forgets
HOPS_JWT_SECRET or HOPS_CA_DIR on one host (each instance then generates its own), so
each instance compares a public fingerprint of its keys with the one the first instance
recorded in the DB. (The audit key has its own check: `audit.service.seal`.)

The JWT secret may be changed on purpose: a fingerprint that differs is taken over when no
instance is running (nobody holds the periodic lease), i.e. after every instance was
stopped and restarted with the new secret. A second CA is never right.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hopsworks_api.clock import naive_utc
from hopsworks_api.coordination.models import ClusterKey, LeaseRow
from hopsworks_api.coordination.periodic import LEASE_NAME
from hopsworks_api.runtime import Runtime
from hopsworks_api.security import load_jwt_secret

log = logging.getLogger(__name__)


class KeyMismatch(RuntimeError):
    """This instance's key is not the one the cluster's instances use."""


def jwt_fingerprint(secret: str) -> str:
    return hmac.new(secret.encode(), b"hops-jwt-key-id", hashlib.sha256).hexdigest()[:16]


def ca_fingerprint(rt: Runtime) -> str:
    return hashlib.sha256(rt.ca.root()[1].public_bytes(serialization.Encoding.DER)).hexdigest()


def require_shared_keys(rt: Runtime) -> None:
    """Record this instance's key fingerprints, or refuse to start on a mismatch."""
    _agree(
        rt,
        "jwt",
        jwt_fingerprint(load_jwt_secret(rt.settings)),
        replaceable=True,
        refusal="this instance's JWT secret is not the one the running instances use, so "
        "they would reject each other's tokens: set the same HOPS_JWT_SECRET on every "
        "instance (to change it, stop them all and start them with the new one)",
    )
    _agree(
        rt,
        "ca-root",
        ca_fingerprint(rt),
        replaceable=False,
        refusal=f"the CA at {rt.settings.ca_dir} is not the CA of the cluster this DB "
        "belongs to: point HOPS_CA_DIR at the cluster's shared CA directory",
    )


def _agree(rt: Runtime, name: str, fingerprint: str, *, replaceable: bool, refusal: str) -> None:
    """No row lock: a lost race to insert (IntegrityError) or to replace (no row matched)
    just reads the winner's fingerprint on the next pass."""
    for _ in range(3):
        with rt.sessions() as session:
            recorded = session.scalar(select(ClusterKey.fingerprint).where(ClusterKey.name == name))
            if recorded == fingerprint:
                return
            if recorded is None:
                session.add(ClusterKey(name=name, fingerprint=fingerprint))
                try:
                    session.commit()
                except IntegrityError:
                    continue
                return
            if not replaceable or _cluster_running(session, rt):
                raise KeyMismatch(refusal)
            replaced = session.execute(
                update(ClusterKey)
                .where(ClusterKey.name == name, ClusterKey.fingerprint == recorded)
                .values(fingerprint=fingerprint)
            ).rowcount
            session.commit()
            if replaced:
                log.warning(
                    "shared key changed while no instance ran; tokens issued under the old "
                    "one are no longer accepted",
                    extra={"key": name},
                )
                return
    raise KeyMismatch(refusal)


def _cluster_running(session: Session, rt: Runtime) -> bool:
    expires = session.scalar(select(LeaseRow.expires_at).where(LeaseRow.name == LEASE_NAME))
    return expires is not None and expires > naive_utc(rt.clock.now())
