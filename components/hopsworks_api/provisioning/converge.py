"""One pass that brings every system in line with the DB for some projects (or all).

It reads the desired state in a short read transaction and talks to the systems outside any
transaction, so no DB lock (SQLite's single write lock least of all) is held across a
network call."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from hopsworks_api.pki.keys import plain_key
from hopsworks_api.pki.models import Certificate
from hopsworks_api.provisioning.desired import load_world
from hopsworks_api.provisioning.systems import SYSTEMS
from hopsworks_api.provisioning.systems.base import Pass, Report
from hopsworks_api.runtime import Runtime

log = logging.getLogger(__name__)


def certificate_pems(rt: Runtime, certificate: object) -> tuple[str, str, str]:
    """Certificate, unencrypted key and chain: what a member's Secret holds."""
    assert isinstance(certificate, Certificate) and certificate.key_pem is not None
    key = rt.ca.decrypt(certificate.key_pem.encode())
    chain = rt.ca.chain_for(rt.ca.intermediate(certificate.issuer)).decode()
    return certificate.cert_pem, plain_key(key).decode(), chain


def converge(
    rt: Runtime,
    scope: Iterable[str] | None = None,
    *,
    dry_run: bool = False,
    strict: bool = False,
) -> Report:
    """`scope` None: every project, and whatever a system holds for unknown projects.
    `strict`: raise the first failure (a change being applied) instead of reporting it.
    The report names the projects the pass tore down (`removed`)."""
    names = None if scope is None else frozenset(scope)
    with rt.provisioning_locks.hold(names or ()):
        with rt.read_sessions() as session:
            world = load_world(session, names)
        run = Pass(
            backends=rt.backends,
            settings=rt.settings,
            world=world,
            certificate_pems=lambda cert: certificate_pems(rt, cert),
            dry_run=dry_run,
            strict=strict,
        )
        for system, check in SYSTEMS:
            run.guarded(system, check)
        run.finish()
    if world.scope is not None:
        run.report.removed = sorted(world.scope - set(world.want))
    for drift in run.report.drift:
        log.log(
            logging.WARNING if scope is None else logging.DEBUG,
            "drift",
            extra={
                "system": drift.system,
                "project": drift.project,
                "problem": drift.problem,
                "repaired": drift.repaired,
            },
        )
    return run.report


def reconcile(rt: Runtime, *, project: str | None = None, dry_run: bool = False) -> Report:
    """`hops reconcile` and the leader's periodic repair: drift from outside the service
    (an operator, a system restored from backup) is found and, unless `dry_run`, repaired."""
    return converge(rt, None if project is None else [project], dry_run=dry_run)
