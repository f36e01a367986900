"""Build the FastAPI app from settings: engine, migrations, storage, routers, middleware."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from operator import attrgetter

import anyio
from fastapi import FastAPI

from hopsworks_api import __version__, api, openapi
from hopsworks_api.audit.keys import load_audit_key
from hopsworks_api.audit.middleware import AuditMiddleware
from hopsworks_api.audit.service import seal
from hopsworks_api.backends.registry import build_backends
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.config import Settings
from hopsworks_api.coordination.periodic import PeriodicJob, run_periodic_jobs, unfenced
from hopsworks_api.coordination.shared_keys import require_shared_keys
from hopsworks_api.datasets import uploads
from hopsworks_api.db import migrate
from hopsworks_api.db.engine import (
    create_db_engine,
    create_read_session_factory,
    create_session_factory,
    is_sqlite,
)
from hopsworks_api.environments import service as environments
from hopsworks_api.errors import install_error_handlers
from hopsworks_api.jobs import schedules
from hopsworks_api.jobs import service as jobs
from hopsworks_api.jobs.watch import Watcher
from hopsworks_api.limits import BodyLimit
from hopsworks_api.metrics import Metrics, MetricsMiddleware
from hopsworks_api.notebooks import service as notebooks
from hopsworks_api.pki.ca import CertificateAuthority, resolve_passphrase
from hopsworks_api.provisioning import worker
from hopsworks_api.provisioning.converge import reconcile
from hopsworks_api.quotas import accounting
from hopsworks_api.request_context import RequestContextMiddleware
from hopsworks_api.runtime import Runtime
from hopsworks_api.sdk_compat import router as sdk_routes
from hopsworks_api.security import Passwords, TokenCodec, load_jwt_secret
from hopsworks_api.servings import service as servings
from hopsworks_api.webui import routes as webui

log = logging.getLogger(__name__)


def open_audit_chain(rt: Runtime) -> bytes:
    """Load (or generate) the audit key and seal the chain under it; an instance holding
    another key than the chain's refuses to start rather than write unverifiable records."""
    key = load_audit_key(rt.settings, create=True)
    sealed = seal(rt.sessions, key)
    if sealed is not None:
        log.info("audit chain sealed under its key", extra={"seal": sealed})
    return key


def open_ca(settings: Settings) -> CertificateAuthority:
    """Open the platform CA, creating root and intermediate on first start."""
    configured = settings.ca_passphrase.get_secret_value() if settings.ca_passphrase else None
    ca = CertificateAuthority(
        settings.ca_dir,
        resolve_passphrase(settings.ca_dir, configured),
        algorithm=settings.ca_key_algorithm,
        organization=settings.ca_organization,
    )
    ca.init()
    return ca


def build_runtime(settings: Settings) -> Runtime:
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = create_db_engine(settings.resolved_database_url, settings.database_failover_nodes)
    migrate.upgrade(engine)
    backends = build_backends(settings)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=create_session_factory(engine),
        read_sessions=create_read_session_factory(engine),
        tokens=TokenCodec(load_jwt_secret(settings), settings.access_token_ttl_seconds),
        passwords=Passwords(
            time_cost=settings.password_time_cost, memory_kib=settings.password_memory_kib
        ),
        ca=open_ca(settings),
        backends=backends,
        inline_reads=is_sqlite(engine) and isinstance(backends.storage, EmbeddedStorage),
    )


# Run once per cluster, by the instance holding the periodic lease (coordination.periodic).
# A job is (name, its interval setting, callable(rt, lease)); `unfenced` adapts a job that
# only takes the runtime.
PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    # changes a crash or a system that was down left unfinished; on taking the lead (at
    # start, or from a dead leader) every one of them, its request being gone
    PeriodicJob(
        "journal",
        attrgetter("journal_interval_seconds"),
        lambda rt, lease: worker.drain(rt, check=lease.check),
        on_taking_lead=lambda rt, lease: worker.drain(rt, everything=True, check=lease.check),
    ),
    PeriodicJob("reconcile", attrgetter("reconcile_interval_seconds"), unfenced(reconcile)),
    PeriodicJob("quotas", attrgetter("accounting_interval_seconds"), unfenced(accounting.account)),
    # reservations of uploads whose process died (they go stale, see datasets.files), and
    # resumable upload sessions expired or no longer allowed (datasets.uploads)
    PeriodicJob(
        "uploads",
        attrgetter("upload_idle_timeout_seconds"),
        unfenced(uploads.reap),
    ),
    # environment builds a restart interrupted fail; directories of deleted ones go
    PeriodicJob(
        "environments",
        attrgetter("environments_interval_seconds"),
        unfenced(environments.reap),
    ),
    # executions of an instance that is gone (an earlier process, a peer that stopped
    # beating) died with it (`--die-with-parent`); never those of a live instance
    PeriodicJob(
        "executions",
        attrgetter("journal_interval_seconds"),
        unfenced(jobs.fail_orphans),
        on_taking_lead=unfenced(jobs.fail_orphans),
    ),
    # notebook servers whose service process is gone died with it: end their rows (in a
    # cluster their objects are deleted; on taking the lead, every unaccounted one too)
    PeriodicJob(
        "notebooks",
        attrgetter("journal_interval_seconds"),
        unfenced(notebooks.fail_orphans),
        on_taking_lead=unfenced(notebooks.reconcile),
    ),
    # servings whose service process is gone: their model servers died with it
    PeriodicJob(
        "servings",
        attrgetter("journal_interval_seconds"),
        unfenced(servings.fail_orphans),
        on_taking_lead=unfenced(servings.fail_orphans),
    ),
    # scheduled jobs that are due, once each (claimed in the DB), as their creators
    PeriodicJob("schedules", attrgetter("scheduler_interval_seconds"), schedules.fire_due),
)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    rt = runtime or build_runtime(settings or Settings())
    audit_key = open_audit_chain(rt)
    require_shared_keys(rt)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # this instance's heartbeat, and its runs that must stop (jobs.watch)
        watcher = Watcher(rt)
        watcher.start()
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(run_periodic_jobs, rt, PERIODIC_JOBS)
                yield
                tasks.cancel_scope.cancel()
        finally:
            await anyio.to_thread.run_sync(notebooks.stop_all, rt)
            await anyio.to_thread.run_sync(servings.stop_all, rt)
            await anyio.to_thread.run_sync(watcher.stop)

    app = FastAPI(
        # The routers' own route objects in one flat list, not include_router: including
        # builds every route's dependency models again for each app (half a second a
        # test) and matches the included routes twice a request (hopsworks_api.paths);
        # these are built once per process and keep nothing of an app (each endpoint
        # reaches its runtime through request.app).
        routes=[*api.routes, *sdk_routes.routes],
        lifespan=lifespan,
        title="Hopsworks control service",
        version=__version__,
        openapi_url=None,  # openapi.install serves it (no endpoint may close over the app)
        docs_url=None,  # webui serves it, with Swagger UI's assets from this package
        redoc_url=None,
    )
    app.state.runtime = rt
    install_error_handlers(app)
    openapi.install(app)
    webui.install(app, openapi_url=openapi.DOCUMENT_URL, docs_url="/api/docs")
    # Innermost first: the body limit's 413 passes through the audit middleware, so it is
    # recorded like every other refusal.
    app.add_middleware(BodyLimit, limit=rt.settings.max_json_body_bytes)
    app.add_middleware(AuditMiddleware, runtime=rt, key=audit_key)
    app.add_middleware(
        MetricsMiddleware, metrics=Metrics(kafka_records=rt.backends.kafka.produce_stats)
    )
    # Outermost: every request, refused or not, gets an id and one access-log line.
    app.add_middleware(RequestContextMiddleware)
    return app
