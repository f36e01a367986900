"""The `hops` command: run the service and administer it."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hops_client.cli import register as register_people_commands
from hopsworks_api.config import Settings

app = typer.Typer(
    help="Hopsworks-style platform: everyday commands (start with `hops login`; docs/cli.md) "
    "and the control service's operation.",
    no_args_is_help=True,
)
admin_app = typer.Typer(help="Platform administration.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")
app.add_typer(db_app, name="db")
ca_app = typer.Typer(help="The platform certificate authority.", no_args_is_help=True)
app.add_typer(ca_app, name="ca")
servings_app = typer.Typer(help="Model serving.", no_args_is_help=True)
app.add_typer(servings_app, name="servings")
# The people's commands (login, ls, put, get, projects, members, ...): a client of the REST
# API that never imports this package (hops_client).
register_people_commands(app)

console = Console(stderr=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory [env HOPS_DATA_DIR; ~/.hops]")
]
DbUrl = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL, e.g. mysql+pymysql://... [env HOPS_DATABASE_URL]"),
]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _env_name(field: str) -> str:
    """The variable a setting is read from: its first `HOPS_*` alias, else HOPS_<FIELD>."""
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
    named = [c for c in choices if isinstance(c, str) and c.upper().startswith("HOPS_")]
    return named[0].upper() if named else f"HOPS_{field.upper()}"


def _environment_help() -> str:
    """`hops serve --help`'s list of settings, generated from `Settings` so that it cannot
    drift from what is read. Paragraphs, because Typer's help joins single lines."""
    from rich.markup import escape

    lines = ["[bold]Environment[/] (every setting; options above win over them):"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "" if default in (None, "", []) else f" \\[default: {escape(str(default))}]"
        about = f": {escape(field.description)}" if field.description else ""
        lines.append(f"[bold]{_env_name(name)}[/]{shown}{about}")
    return "\n\n".join(lines)


def _settings_or_exit(**overrides: Any) -> Settings:
    """Settings for `hops serve`; a bad value is one line naming its variable, exit 2."""
    from pydantic import ValidationError

    try:
        return _settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            where = f"{_env_name(field)}: " if field in Settings.model_fields else ""
            problems.append(f"{where}{error['msg']}")
        typer.echo(f"hops serve: invalid setting {'; '.join(problems)}", err=True)
        raise typer.Exit(2) from None


def _check_port_free(host: str, port: int) -> None:
    """Bind as uvicorn will (SO_REUSEADDR) and let go: a port in use is one line and exit
    1 here, instead of uvicorn's log record after the whole service has started."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            typer.echo(f"hops serve: cannot listen on {host}:{port}: {exc.strerror}", err=True)
            raise typer.Exit(1) from None


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from hopsworks_api.db import migrate
    from hopsworks_api.db.engine import create_db_engine

    engine = create_db_engine(settings.resolved_database_url, settings.database_failover_nodes)
    migrate.upgrade(engine)
    return engine


@app.command(epilog=_environment_help())
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [8181]")] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="HTTPS with a CA-issued certificate; accept client certs")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Processes serving this port; periodic jobs run in one process of the "
            "cluster at a time (README: Running several instances)",
        ),
    ] = 1,
) -> None:
    """Start the control service; the schema is migrated and the CA created on start."""
    import uvicorn

    from hopsworks_api.http_server import uvicorn_options
    from hopsworks_api.logging_setup import configure_logging
    from hopsworks_api.main import create_app

    settings = _settings_or_exit(host=host, port=port, data_dir=data_dir, database_url=db)
    _check_port_free(settings.host, settings.port)
    configure_logging(json_output=settings.log_json)
    # Built here even for several workers: migrations, the CA and the generated secrets are
    # then in place before any worker starts (each would also manage on its own, in turn).
    application = create_app(settings)
    rt = application.state.runtime
    options = uvicorn_options(rt, tls=tls)
    scheme = "https" if tls else "http"
    console.print(
        f"[bold]hops[/] serving on {scheme}://{settings.host}:{settings.port}/api "
        f"(db: {rt.engine.dialect.name}, data: {settings.data_dir}, workers: {workers})"
    )
    served: Any = application
    if workers > 1:
        # Uvicorn starts each worker afresh and has it import the app: the options given
        # here reach the workers' Settings through the environment.
        rt.engine.dispose()
        os.environ.update(
            HOPS_HOST=settings.host,
            HOPS_PORT=str(settings.port),
            HOPS_DATA_DIR=str(settings.data_dir),
            HOPS_DATABASE_URL=settings.resolved_database_url,
        )
        served = "hopsworks_api.cli:worker_app"  # each worker settles its own heap
    else:
        settle_heap()
    uvicorn.run(
        served,
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        **options,
    )


def worker_app() -> Any:
    """The app of one `hops serve --workers` process, configured from the environment."""
    from hopsworks_api.logging_setup import configure_logging
    from hopsworks_api.main import create_app

    settings = Settings()
    configure_logging(json_output=settings.log_json)
    application = create_app(settings)
    settle_heap()
    return application


def settle_heap() -> None:
    """Exempt what the app built at startup (routes, schemas, mappers: ~300k objects) from
    the cyclic garbage collector. A full collection walked all of them, 150 ms during which
    no request was answered: the p99 of every read under load (docs/performance.md). They
    live as long as the process anyway. Only for a served process: a test session builds
    many apps, whose garbage must stay collectable."""
    gc.collect()
    gc.freeze()


@contextmanager
def _refusal_exits() -> Iterator[None]:
    """A use case's refusal (AppError) is the admin command's message and exit code 1."""
    from hopsworks_api.errors import AppError

    try:
        yield
    except AppError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc


@admin_app.command("create-user")
def create_user(
    email: str,
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="HOPS_NEW_USER_PASSWORD"
        ),
    ],
    admin: Annotated[bool, typer.Option("--admin", help="Make a platform administrator")] = False,
    first_name: str = "",
    last_name: str = "",
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Create an account (the first account is always an administrator)."""
    from pydantic import ValidationError

    from hopsworks_api.main import build_runtime
    from hopsworks_api.users import service
    from hopsworks_api.users.models import UserCreate

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    try:
        data = UserCreate(
            email=email, password=password, first_name=first_name, last_name=last_name
        )
    except ValidationError as exc:
        console.print(f"[red]invalid input:[/] {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from exc
    with _refusal_exits():
        user = service.create(rt, data=data, is_admin=admin)
    role = "platform admin" if user.is_admin else "user"
    console.print(f"created {role} {user.email} (username {user.username})")


def _audit_key(settings: Settings) -> bytes:
    """The service's audit key; never a new one (a fresh key would vouch for nothing)."""
    from hopsworks_api.audit.keys import AuditKeyMissing, load_audit_key

    try:
        return load_audit_key(settings, create=False)
    except AuditKeyMissing as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A file from `hops audit checkpoint`: its record must still be in the chain",
        ),
    ] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Recompute the keyed hash chain; exit 1 if any record was edited, removed or inserted
    (or, with --checkpoint, if the log was cut or rewritten below the checkpoint)."""
    import json

    from sqlalchemy.orm import Session

    from hopsworks_api.audit.service import verify

    settings = _settings(data_dir=data_dir, database_url=db)
    key = _audit_key(settings)
    expected = None
    if checkpoint is not None:
        try:
            expected = json.loads(checkpoint.read_text())
        except (OSError, ValueError) as exc:
            console.print(f"[red]cannot read the checkpoint {checkpoint}:[/] {exc}")
            raise typer.Exit(2) from exc
        if not isinstance(expected, dict):
            console.print(f"[red]{checkpoint} is not a checkpoint[/]")
            raise typer.Exit(2)
    with Session(_engine(settings)) as session:
        report = verify(session, key, expected)
    for note in report.notes:
        console.print(f"[yellow]note[/] {note}")
    for problem in report.problems:
        console.print(f"[red]TAMPERED[/] {problem}")
    if not report.ok:
        raise typer.Exit(1)
    against = f", up to checkpoint record {expected['last_id']}" if expected else ""
    console.print(f"[green]audit log intact[/]: {report.checked} records verified{against}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the checkpoint here [stdout]")
    ] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Export a signed head of the verified chain (last id, its hash, time, HMAC); keep it
    away from the DB, and `hops audit verify --checkpoint` detects a later truncation."""
    import json

    from sqlalchemy.orm import Session

    from hopsworks_api.audit.service import make_checkpoint, verify

    settings = _settings(data_dir=data_dir, database_url=db)
    key = _audit_key(settings)
    with Session(_engine(settings)) as session:
        report = verify(session, key)
        if not report.ok:
            for problem in report.problems:
                console.print(f"[red]TAMPERED[/] {problem}")
            console.print("no checkpoint written: the chain does not verify")
            raise typer.Exit(1)
        signed = make_checkpoint(session, key)
    text = json.dumps(signed, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
    console.print(f"checkpoint at record {signed['last_id']} ({signed['last_hash'][:16]}...)")


@admin_app.command("delete-user")
def delete_user(email: str, data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Delete an account; its memberships go and its certificates are revoked."""
    from hopsworks_api.main import build_runtime
    from hopsworks_api.users import service

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    with _refusal_exits():
        service.delete(rt, email=email)
    console.print(f"deleted {email}; its certificates are revoked")


@admin_app.command("instances")
def admin_instances(
    current: Annotated[
        bool,
        typer.Option(
            "--check-current",
            help="Exit 1 unless some instance is live and every live one runs this version",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout")] = False,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """The live instances of the service (heartbeat fresh) and the version each runs: after
    an upgrade, every one runs the new code (upgrade.yml waits for that)."""
    import json
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from hopsworks_api import __version__
    from hopsworks_api.clock import naive_utc
    from hopsworks_api.db.engine import create_db_engine
    from hopsworks_api.jobs.watch import live_instances

    settings = _settings(data_dir=data_dir, database_url=db)
    engine = create_db_engine(settings.resolved_database_url, settings.database_failover_nodes)
    now = naive_utc(datetime.now(UTC))
    with Session(engine) as session:
        rows = live_instances(session, now=now, beat_s=settings.instance_heartbeat_seconds)
        found = [
            {
                "id": r.id,
                "version": r.version,
                "age_s": round((now - r.heartbeat_at).total_seconds(), 1),
            }
            for r in rows
        ]
    engine.dispose()
    stale = [i for i in found if i["version"] != __version__]
    if as_json:
        typer.echo(json.dumps({"version": __version__, "instances": found}))
    else:
        for i in found:
            console.print(f"{i['id']}  {i['version'] or '(older code)'}  beat {i['age_s']} s ago")
        console.print(f"{len(found)} live; this code is {__version__}")
    if current and (not found or stale):
        console.print(f"[red]{len(stale)} of {len(found)} live instances run other code[/]")
        raise typer.Exit(1)


@admin_app.command("approve")
def approve_user(email: str, data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Let an account registered under HOPS_REGISTRATION=approval sign in."""
    from hopsworks_api.main import build_runtime
    from hopsworks_api.users import service

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    with _refusal_exits():
        user = service.approve(rt, email=email)
    console.print(f"approved {user.email}: it may sign in now")


@admin_app.command("unblock")
def unblock_user(email: str, data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Lift the back-off that failed sign-ins put on an account."""
    from hopsworks_api.main import build_runtime
    from hopsworks_api.users import throttle

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    throttle.clear(rt, email=email)
    console.print(f"failed sign-ins of {email} forgotten")


@ca_app.command("init")
def ca_init(data_dir: DataDir = None) -> None:
    """Create the root and first intermediate CA (idempotent)."""
    from hopsworks_api.main import open_ca

    settings = _settings(data_dir=data_dir)
    ca = open_ca(settings)
    root = ca.root()[1]
    console.print(
        f"CA at {settings.ca_dir}: root '{root.subject.rfc4514_string()}', "
        f"signing with intermediate {ca.current().number}"
    )


@ca_app.command("rotate-intermediate")
def ca_rotate(data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Issue a new intermediate; certificates under older ones stay valid until they
    expire or are revoked, and the chain endpoint serves every live intermediate."""
    from hopsworks_api.main import build_runtime

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    new = rt.ca.rotate_intermediate()
    console.print(f"new signing intermediate: {new.number} ({new.cert.subject.rfc4514_string()})")


@ca_app.command("host-cert")
def ca_host_cert(
    hostname: str,
    out: Annotated[Path, typer.Option("--out", help="Directory for key.pem, cert.pem, chain.pem")],
    ip: Annotated[list[str] | None, typer.Option("--ip", help="IP address SAN (repeat)")] = None,
    dns: Annotated[list[str] | None, typer.Option("--dns", help="Extra DNS SAN (repeat)")] = None,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Issue a service host's key and certificate (for the deployment roles)."""
    from hopsworks_api.errors import AppError
    from hopsworks_api.main import build_runtime
    from hopsworks_api.pki import service as pki_service
    from hopsworks_api.pki.keys import write_private, write_public

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    try:
        key_pem, bundle = pki_service.host_key_and_certificate(
            rt, hostname=hostname, ips=ip or [], extra_names=dns or []
        )
    except (AppError, ValueError) as exc:
        console.print(f"[red]{getattr(exc, 'message', exc)}[/]")
        raise typer.Exit(2) from exc
    write_private(out / "key.pem", key_pem)
    write_public(out / "cert.pem", bundle.certificate.encode())
    write_public(out / "chain.pem", bundle.ca_chain.encode())
    console.print(f"wrote {out}/key.pem (0600), cert.pem, chain.pem; serial {bundle.serial}")


@app.command()
def reconcile(
    project: Annotated[str | None, typer.Option(help="Only this project")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report drift, repair nothing")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="As --dry-run, and exit 1 on drift or unfinished changes (deploy tools)"
        ),
    ] = False,
    data_dir: DataDir = None,
    db: DbUrl = None,
) -> None:
    """Compare every backend with the DB, print the drift, and repair it; list the changes
    the journal worker has not finished yet (a system down since). Exits 2 when a backend
    does not answer."""
    dry_run = dry_run or check
    from rich.table import Table

    from hopsworks_api.main import build_runtime
    from hopsworks_api.provisioning.converge import reconcile as run_reconcile
    from hopsworks_api.provisioning.journal import waiting

    rt = build_runtime(_settings(data_dir=data_dir, database_url=db))
    report = run_reconcile(rt, project=project, dry_run=dry_run)
    table = Table(title="drift" + (" (dry run)" if dry_run else ""))
    for column in ("system", "project", "problem", "repaired"):
        table.add_column(column)
    for drift in report.drift:
        table.add_row(drift.system, drift.project, drift.problem, "yes" if drift.repaired else "no")
    Console().print(table if report.drift else "[green]no drift[/]: every backend matches the DB")
    for problem in report.unreachable:
        console.print(f"[red]unreachable[/] {problem}")
    with rt.read_sessions() as session:
        changes = waiting(session)
    if changes:
        pending = Table(title="changes the journal worker has not finished")
        for column in ("id", "change", "projects", "attempts", "next attempt (UTC)", "last error"):
            pending.add_column(column)
        for change in changes:
            pending.add_row(
                str(change.id),
                change.reason,
                ", ".join(sorted(change.scope)),
                str(change.attempts),
                change.next_attempt_at.isoformat(timespec="seconds"),
                change.last_error or "",
            )
        Console().print(pending)
    if report.unreachable:
        raise typer.Exit(2)
    if check and (report.drift or changes):
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Migrate the metadata DB to the newest schema."""
    from hopsworks_api.db import migrate
    from hopsworks_api.db.engine import create_db_engine

    settings = _settings(data_dir=data_dir, database_url=db)
    engine = create_db_engine(settings.resolved_database_url, settings.database_failover_nodes)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    note = "already current" if before == after else f"upgraded from {before or 'an empty DB'}"
    console.print(f"schema at revision {after} ({note})")


@db_app.command("check")
def db_check(data_dir: DataDir = None, db: DbUrl = None) -> None:
    """Exit 0 when the metadata DB is at the newest schema, 1 when it needs `db upgrade`
    (deploy tools ask before migrating, so a re-run changes nothing)."""
    from hopsworks_api.db import migrate
    from hopsworks_api.db.engine import create_db_engine

    settings = _settings(data_dir=data_dir, database_url=db)
    current = migrate.current_revision(
        create_db_engine(settings.resolved_database_url, settings.database_failover_nodes)
    )
    head = migrate.head_revision()
    if current != head:
        console.print(f"schema at revision {current or 'none'}; the newest is {head}")
        raise typer.Exit(1)
    console.print(f"schema at revision {current} (current)")


@servings_app.command("build-runtime")
def servings_build_runtime(data_dir: DataDir = None) -> None:
    """Build the model servers' environment (KServe, scikit-learn) unless it is built, as
    the service's user with its settings. pip reads its usual settings: PIP_NO_INDEX and
    PIP_FIND_LINKS point it at a wheelhouse on an air-gapped site."""
    from hopsworks_api.servings import model_server_env

    settings = _settings(data_dir=data_dir)
    before = model_server_env.installed(settings)
    python = model_server_env.ensure(settings)
    typer.echo(f"model server environment {'ready' if before else 'built'}: {python}")


@servings_app.command("check-runtime")
def servings_check_runtime(data_dir: DataDir = None) -> None:
    """Exit 0 when the model servers' environment is built, 1 when `build-runtime` is due."""
    from hopsworks_api.servings import model_server_env

    python = model_server_env.installed(_settings(data_dir=data_dir))
    typer.echo(f"model server environment ready: {python}" if python else "not built")
    if python is None:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
