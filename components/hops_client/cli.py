"""The people's commands of `hops`: sign in once, then work with projects, members, files,
shares, topics, jobs and credentials, from a laptop, against the platform's REST API.

`register(app)` mounts them into the `hops` Typer app next to the admin commands.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer

from hops_client import config, credentials, downloads, jobs, uploads
from hops_client.api import Api, quoted
from hops_client.errors import EXIT_ERROR, CliError
from hops_client.output import emit, emit_one, field
from hops_client.progress import transfer_progress
from hops_client.remote import Remote, stat

F = TypeVar("F", bound=Callable[..., Any])

profiles_app = typer.Typer(help="Saved sign-ins (hops login): list, choose, forget.")
projects_app = typer.Typer(help="Your projects.", no_args_is_help=True)
members_app = typer.Typer(help="Members of a project and their roles.", no_args_is_help=True)
shares_app = typer.Typer(
    help="Datasets, topics and Hive databases shared between projects.", no_args_is_help=True
)
topics_app = typer.Typer(help="A project's Kafka topics.", no_args_is_help=True)
jobs_app = typer.Typer(help="A project's jobs: list them, run one.", no_args_is_help=True)
credentials_app = typer.Typer(help="Your certificate bundle for a project.", no_args_is_help=True)

ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile", envvar="HOPS_PROFILE", help="Saved profile to use (default: the current one)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
ParallelOpt = Annotated[
    int, typer.Option("--parallel", "-j", min=1, max=32, help="Transfers at a time")
]
ChunkOpt = Annotated[int, typer.Option("--chunk-mib", min=1, max=64, help="Chunk size in MiB")]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Progress bars on stderr")
]
Role = Annotated[str, typer.Argument(help="data_owner or data_scientist")]


def _fail(message: str, code: int) -> None:
    typer.echo(f"hops: {message}", err=True)
    raise typer.Exit(code)


def handled(fn: F) -> F:
    """Every refusal or failure is one line on stderr and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CliError as exc:
            _fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; run the same command again to resume a transfer", 130)
        except httpx.HTTPError as exc:
            _fail(f"the request failed: {exc}", EXIT_ERROR)
        except OSError as exc:
            _fail(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror}", EXIT_ERROR)
        return None

    return wrapper  # type: ignore[return-value]


def _api(profile: str | None, workers: int = 1) -> Api:
    return Api(config.select(config.load(), profile), workers=workers)


def _project_url(project: str, *rest: str) -> str:
    return "/".join([f"/projects/{quoted(project)}", *(quoted(part) for part in rest)])


def _confirm(what: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{what}: pass --yes to confirm (no terminal to ask on)", 2)
    if not typer.confirm(f"{what}?"):
        raise typer.Exit(1)


# --- signing in --------------------------------------------------------------------------


def _read_api_key(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        key = sys.stdin.readline().strip()
    else:
        key = typer.prompt(
            "API key (create one in the platform: POST /api/auth/api-keys)", hide_input=True
        ).strip()
    if not key:
        raise CliError("no API key given: paste one at the prompt or pipe it to stdin", 2)
    return key


@handled
def login(
    url: Annotated[str, typer.Argument(help="The platform, e.g. https://hops.example.org")],
    profile: Annotated[
        str, typer.Option("--profile", envvar="HOPS_PROFILE", help="Save it under this name")
    ] = config.DEFAULT_PROFILE,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", exists=True, dir_okay=False, help="PEM bundle to trust"),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify the TLS certificate")
    ] = False,
    api_key_stdin: Annotated[
        bool, typer.Option("--api-key-stdin", help="Read the API key from stdin")
    ] = False,
) -> None:
    """Sign in with an API key (asked for, or read from stdin), check it against the
    platform, and save it as a profile (the current one from now on)."""
    if not config.PROFILE_NAME.match(profile):
        raise CliError(f"'{profile}' is not a profile name: letters, digits, '-' and '_'", 2)
    if ca_file is not None and insecure:
        raise CliError("--ca-file and --insecure contradict each other: choose one", 2)
    base = url.strip().rstrip("/")
    if base.endswith("/api"):
        base = base[: -len("/api")]
    if not base.startswith(("http://", "https://")):
        raise CliError(f"'{url}' is not a URL: use https://HOST[:PORT]", 2)
    key = _read_api_key(api_key_stdin)
    candidate = config.Profile(
        name=profile,
        url=base,
        api_key=key,
        ca_file=str(ca_file.resolve()) if ca_file else None,
        insecure=insecure,
    )
    with Api(candidate) as api:
        me = api.json("GET", "/users/me")
    saved = config.load()
    saved.profiles[profile] = candidate
    saved.current = profile
    path = config.save(saved)
    typer.echo(f"signed in to {base} as {me['email']}; profile '{profile}' saved in {path}")


@profiles_app.command("ls")
@handled
def profiles_ls(as_json: JsonOpt = False) -> None:
    """The saved profiles; `*` marks the current one."""
    saved = config.load()
    rows = [
        {
            "name": p.name,
            "current": p.name == saved.current,
            "url": p.url,
            "ca_file": p.ca_file,
            "insecure": p.insecure,
        }
        for p in sorted(saved.profiles.values(), key=lambda p: p.name)
    ]
    emit(
        rows,
        [
            ("", lambda r: "*" if r["current"] else ""),
            field("name"),
            field("url"),
            ("trust", lambda r: "none (--insecure)" if r["insecure"] else r["ca_file"] or "system"),
        ],
        as_json,
    )


@profiles_app.command("use")
@handled
def profiles_use(name: str) -> None:
    """Make NAME the profile commands use."""
    saved = config.load()
    config.select(saved, name)
    saved.current = name
    config.save(saved)
    typer.echo(f"now using profile '{name}' ({saved.profiles[name].url})")


@profiles_app.command("rm")
@handled
def profiles_rm(name: str) -> None:
    """Forget profile NAME (its API key stays valid on the platform: delete it there)."""
    saved = config.load()
    config.select(saved, name)
    del saved.profiles[name]
    if saved.current == name:
        saved.current = next(iter(sorted(saved.profiles)), None)
    config.save(saved)
    typer.echo(f"profile '{name}' removed")


# --- projects and members ----------------------------------------------------------------


PROJECT_COLUMNS = [field("name"), field("role"), field("description"), field("created_at")]


@projects_app.command("ls")
@handled
def projects_ls(as_json: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """Your projects (platform admins: every project)."""
    with _api(profile) as api:
        emit(list(api.pages("/projects")), PROJECT_COLUMNS, as_json)


@projects_app.command("create")
@handled
def projects_create(
    name: str,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    as_json: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Create a project; you become its data owner."""
    with _api(profile) as api:
        project = api.json("POST", "/projects", json={"name": name, "description": description})
    emit_one(project, as_json, f"created project {project['name']}")


@projects_app.command("rm")
@handled
def projects_rm(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    profile: ProfileOpt = None,
) -> None:
    """Delete a project with its datasets, topics, jobs and members (data owners)."""
    _confirm(f"delete project {name} and everything in it", yes)
    with _api(profile) as api:
        api.request("DELETE", _project_url(name))
    typer.echo(f"deleted project {name}")


MEMBER_COLUMNS = [field("email"), field("role"), field("identity"), field("added_at")]


@members_app.command("ls")
@handled
def members_ls(project: str, as_json: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """The members of PROJECT."""
    with _api(profile) as api:
        emit(list(api.pages(_project_url(project, "members"))), MEMBER_COLUMNS, as_json)


@members_app.command("add")
@handled
def members_add(
    project: str,
    email: str,
    role: Annotated[str, typer.Option("--role", help="data_owner or data_scientist")] = (
        "data_scientist"
    ),
    profile: ProfileOpt = None,
) -> None:
    """Add the account EMAIL to PROJECT (data owners)."""
    with _api(profile) as api:
        api.request("POST", _project_url(project, "members"), json={"email": email, "role": role})
    typer.echo(f"added {email} to {project} as {role}")


@members_app.command("rm")
@handled
def members_rm(project: str, email: str, profile: ProfileOpt = None) -> None:
    """Remove EMAIL from PROJECT (data owners; anyone may remove themself)."""
    with _api(profile) as api:
        api.request("DELETE", _project_url(project, "members", email))
    typer.echo(f"removed {email} from {project}")


@members_app.command("role")
@handled
def members_role(project: str, email: str, role: Role, profile: ProfileOpt = None) -> None:
    """Change the role of EMAIL in PROJECT (data owners)."""
    with _api(profile) as api:
        api.request("PUT", _project_url(project, "members", email), json={"role": role})
    typer.echo(f"{email} is now {role} in {project}")


# --- files -------------------------------------------------------------------------------


@handled
def ls(
    target: Annotated[str | None, typer.Argument(metavar="[PROJECT[/DATASET[/PATH]]]")] = None,
    as_json: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """List your projects, a project's datasets, or a directory of a dataset."""
    with _api(profile) as api:
        if target is None:
            emit(list(api.pages("/projects")), PROJECT_COLUMNS, as_json)
            return
        where = Remote.parse(target)
        if not where.dataset:
            rows = list(api.pages(_project_url(where.project, "datasets")))
            columns = [
                field("name"),
                ("shared", lambda r: "yes" if r.get("shared") else ""),
                field("permission"),
                field("description"),
                field("created_at"),
            ]
            emit(rows, columns, as_json)
            return
        entry = stat(api, where)
        if entry is None:
            raise CliError(f"{where}: no such file or directory on the platform")
        if entry.is_dir:
            rows = list(api.pages(where.files_url()))
        else:
            rows = [{"name": where.name, "type": "file", "size": entry.size}]
        emit(rows, [field("type"), field("size"), field("modified"), field("name")], as_json)


@handled
def put(
    paths: Annotated[list[str], typer.Argument(metavar="LOCAL... REMOTE")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files")] = False,
    parallel: ParallelOpt = 4,
    chunk_mib: ChunkOpt = 8,
    progress: ProgressOpt = True,
    profile: ProfileOpt = None,
) -> None:
    """Upload files and directories to PROJECT/DATASET or a path in it, in parallel chunks; run the
    same command again after an interruption and it resumes."""
    if len(paths) < 2:
        raise CliError("give one or more local files and a PROJECT/DATASET[/PATH]", 2)
    sources = [Path(p) for p in paths[:-1]]
    target = Remote.parse(paths[-1])
    with _api(profile, parallel) as api:
        plan, empty_dirs = uploads.plan(api, sources, target)
        for directory in empty_dirs:
            dataset_url = _project_url(directory.project, "datasets", directory.dataset)
            api.request("POST", f"{dataset_url}/directories/{quoted(directory.path)}", ok=(409,))
        bars = transfer_progress(progress)
        uploader = uploads.Uploader(
            api, bars, workers=parallel, overwrite=overwrite, chunk_size=chunk_mib << 20
        )
        chunks = uploader.prepare(plan)
        with bars:
            uploader.send(chunks)
    total = sum(item.size for item in plan)
    typer.echo(f"uploaded {len(plan)} file(s), {total} bytes, to {target}", err=True)


@handled
def get(
    remote: Annotated[str, typer.Argument(metavar="PROJECT/DATASET[/PATH]")],
    local: Annotated[Path, typer.Argument(metavar="LOCAL")] = Path("."),
    parallel: ParallelOpt = 4,
    chunk_mib: ChunkOpt = 8,
    progress: ProgressOpt = True,
    profile: ProfileOpt = None,
) -> None:
    """Download a file or a directory, in parallel ranges; run the same command again
    after an interruption and it resumes from the `.part` files."""
    source = Remote.parse(remote)
    with _api(profile, parallel) as api:
        plan = downloads.plan(api, source, local)
        with transfer_progress(progress) as bars:
            downloads.Downloader(api, bars, workers=parallel, chunk_size=chunk_mib << 20).run(plan)
    total = sum(item.entry.size for item in plan)
    typer.echo(f"downloaded {len(plan)} file(s), {total} bytes, from {source}", err=True)


@handled
def mkdir(
    remote: Annotated[str, typer.Argument(metavar="PROJECT/DATASET/PATH")],
    profile: ProfileOpt = None,
) -> None:
    """Make a directory (and its parents) in a dataset."""
    where = Remote.parse(remote).require_dataset()
    if not where.path:
        raise CliError("give a path inside the dataset: PROJECT/DATASET/PATH", 2)
    with _api(profile) as api:
        dataset_url = _project_url(where.project, "datasets", where.dataset)
        api.request("POST", f"{dataset_url}/directories/{quoted(where.path)}")
    typer.echo(f"made {where}")


@handled
def rm(
    remote: Annotated[str, typer.Argument(metavar="PROJECT/DATASET/PATH")],
    profile: ProfileOpt = None,
) -> None:
    """Delete a file, or a directory with everything in it."""
    where = Remote.parse(remote).require_dataset()
    if not where.path:
        raise CliError("give a path inside the dataset: PROJECT/DATASET/PATH", 2)
    with _api(profile) as api:
        api.request("DELETE", where.files_url())
    typer.echo(f"deleted {where}")


# --- shares ------------------------------------------------------------------------------

KINDS = ("dataset", "topic", "hive")
KindOpt = Annotated[str, typer.Option("--kind", "-k", help="dataset, topic or hive")]


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise CliError(f"unknown kind '{kind}': use dataset, topic or hive", 2)
    return kind


def _shares_url(kind: str, source: str) -> str:
    """Where the shares of a resource are, from PROJECT/NAME (PROJECT for hive)."""
    project, _, name = source.partition("/")
    if kind == "hive":
        return _project_url(project, "hive", "shares")
    if not name:
        raise CliError(f"'{source}': give PROJECT/{kind.upper()}", 2)
    return _project_url(project, "datasets" if kind == "dataset" else "topics", name, "shares")


SHARE_COLUMNS = [
    field("kind"),
    ("owner", lambda r: r.get("owner_project")),
    ("resource", lambda r: r.get("dataset", r.get("resource"))),
    ("with", lambda r: r.get("project")),
    field("permission"),
    field("status"),
    field("created_at"),
]


@shares_app.command("ls")
@handled
def shares_ls(
    where: Annotated[str, typer.Argument(metavar="PROJECT | PROJECT/NAME")],
    kind: Annotated[
        str | None, typer.Option("--kind", "-k", help="dataset, topic or hive (default: all)")
    ] = None,
    as_json: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """PROJECT: what other projects offer or share with PROJECT (every kind, or --kind).
    PROJECT/NAME: with whom PROJECT's dataset NAME (--kind topic: topic NAME) is shared;
    PROJECT/hive --kind hive: PROJECT's Hive database."""
    project, _, name = where.partition("/")
    rows: list[dict[str, Any]] = []
    with _api(profile) as api:
        if name:
            chosen = _kind(kind or "dataset")
            for row in api.pages(_shares_url(chosen, where)):
                rows.append({"kind": chosen, **row})
        else:
            for each in [_kind(kind)] if kind else list(KINDS):
                suffix = {"dataset": (), "topic": ("topics",), "hive": ("hive",)}[each]
                for row in api.pages(_project_url(project, "shared", *suffix)):
                    rows.append({"kind": each, **row})
    emit(rows, SHARE_COLUMNS, as_json)


@shares_app.command("offer")
@handled
def shares_offer(
    source: Annotated[str, typer.Argument(metavar="PROJECT/NAME | PROJECT")],
    target: Annotated[str, typer.Argument(metavar="TARGET_PROJECT")],
    kind: KindOpt = "dataset",
    editable: Annotated[bool, typer.Option("--editable", help="Let it write too")] = False,
    profile: ProfileOpt = None,
) -> None:
    """Offer a dataset, a topic or the project's Hive database to TARGET_PROJECT (data
    owners); its data owners accept or reject it."""
    permission = "editable" if editable else "read_only"
    with _api(profile) as api:
        api.request(
            "POST",
            _shares_url(_kind(kind), source),
            json={"project": target, "permission": permission},
        )
    typer.echo(f"offered {kind} {source} to {target} ({permission})")


@shares_app.command("end")
@handled
def shares_end(
    source: Annotated[str, typer.Argument(metavar="PROJECT/NAME | PROJECT")],
    target: Annotated[str, typer.Argument(metavar="TARGET_PROJECT")],
    kind: KindOpt = "dataset",
    profile: ProfileOpt = None,
) -> None:
    """Stop sharing with TARGET_PROJECT (the offer, or the accepted share)."""
    with _api(profile) as api:
        api.request("DELETE", f"{_shares_url(_kind(kind), source)}/{quoted(target)}")
    typer.echo(f"{kind} {source} is no longer shared with {target}")


def _answer(project: str, ref: str, kind: str, verb: str, profile: str | None) -> None:
    suffix = {"dataset": (), "topic": ("topics",), "hive": ("hive",)}[_kind(kind)]
    if kind != "hive" and "::" not in ref:
        raise CliError(f"'{ref}': name the offer as OWNER_PROJECT::{kind.upper()}", 2)
    with _api(profile) as api:
        api.request("POST", _project_url(project, "shared", *suffix, ref, verb))


@shares_app.command("accept")
@handled
def shares_accept(
    project: str,
    ref: Annotated[str, typer.Argument(metavar="OWNER::NAME | OWNER (hive)")],
    kind: KindOpt = "dataset",
    profile: ProfileOpt = None,
) -> None:
    """Accept an offer made to PROJECT (data owners)."""
    _answer(project, ref, kind, "accept", profile)
    typer.echo(f"{project} accepted {kind} {ref}")


@shares_app.command("reject")
@handled
def shares_reject(
    project: str,
    ref: Annotated[str, typer.Argument(metavar="OWNER::NAME | OWNER (hive)")],
    kind: KindOpt = "dataset",
    profile: ProfileOpt = None,
) -> None:
    """Reject an offer to PROJECT, or leave an accepted share (data owners)."""
    _answer(project, ref, kind, "reject", profile)
    typer.echo(f"{project} rejected {kind} {ref}")


# --- topics ------------------------------------------------------------------------------


@topics_app.command("ls")
@handled
def topics_ls(project: str, as_json: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """The Kafka topics of PROJECT (named `PROJECT.TOPIC` on the broker)."""
    with _api(profile) as api:
        rows = list(api.pages(_project_url(project, "topics")))
    emit(
        rows,
        [field("name"), field("partitions"), field("replication"), field("created_at")],
        as_json,
    )


@topics_app.command("create")
@handled
def topics_create(
    project: str,
    name: str,
    partitions: Annotated[int, typer.Option(min=1)] = 1,
    replication: Annotated[int, typer.Option(min=1)] = 1,
    profile: ProfileOpt = None,
) -> None:
    """Create a topic in PROJECT."""
    body = {"name": name, "partitions": partitions, "replication": replication}
    with _api(profile) as api:
        api.request("POST", _project_url(project, "topics"), json=body)
    typer.echo(f"created topic {name} in {project}")


@topics_app.command("rm")
@handled
def topics_rm(project: str, name: str, profile: ProfileOpt = None) -> None:
    """Delete a topic of PROJECT and its records."""
    with _api(profile) as api:
        api.request("DELETE", _project_url(project, "topics", name))
    typer.echo(f"deleted topic {name} of {project}")


# --- jobs --------------------------------------------------------------------------------


@jobs_app.command("ls")
@handled
def jobs_ls(project: str, as_json: JsonOpt = False, profile: ProfileOpt = None) -> None:
    """The jobs of PROJECT."""
    with _api(profile) as api:
        rows = list(api.pages(_project_url(project, "jobs")))
    emit(
        rows,
        [field("name"), field("type"), field("app_path"), field("schedule"), field("creator")],
        as_json,
    )


@jobs_app.command("run")
@handled
def jobs_run(
    project: str,
    name: str,
    args: Annotated[
        list[str] | None, typer.Option("--arg", help="An argument (repeat; default: the job's own)")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print its output until it ends")
    ] = False,
    as_json: JsonOpt = False,
    profile: ProfileOpt = None,
) -> None:
    """Start an execution of job NAME. With --follow, stream its output and exit with its
    outcome: 0 FINISHED, the program's exit code when FAILED, 143 KILLED."""
    body = {"args": args} if args is not None else {}
    with _api(profile) as api:
        execution = api.json("POST", jobs.execution_url(project, name), json=body)
        typer.echo(f"execution {execution['id']} of {name}: {execution['state']}", err=True)
        if not follow:
            emit_one(execution, as_json, str(execution["id"]))
            return
        final = jobs.follow(api, project, name, execution)
    if as_json:
        emit_one(final, True, "")
    code = jobs.exit_code(final)
    exit_note = f", exit code {final['exit_code']}" if final.get("exit_code") is not None else ""
    typer.echo(f"execution {final['id']} of {name}: {final['state']}{exit_note}", err=True)
    if code:
        raise typer.Exit(code)


# --- credentials -------------------------------------------------------------------------


@credentials_app.command("write")
@handled
def credentials_write(
    project: str,
    directory: Annotated[Path, typer.Argument(metavar="DIR")],
    profile: ProfileOpt = None,
) -> None:
    """Write your certificate, key and CA chain (PEM), PKCS#12 keystore and truststore with
    their passwords, and kafka.properties, spark-defaults.conf, hive.properties and
    storage.properties naming them, into DIR (keys and passwords 0600)."""
    with _api(profile) as api:
        names = credentials.write(api, project, directory)
    typer.echo(f"wrote {', '.join(names)} to {directory}")


# --- mounting ----------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"hops {version('hopsworks-iac')}")
        except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
            typer.echo("hops (version unknown: not installed)")
        raise typer.Exit()


def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """Hopsworks-style platform: the people's commands (sign in with `hops login`) and the
    control service's operation and administration."""


def register(app: typer.Typer) -> None:
    """People's commands at the top level and under their nouns; the admin commands (serve,
    admin, audit, db, ca, reconcile) stay where they are."""
    app.callback()(main)
    app.command("login")(login)
    app.command("ls")(ls)
    app.command("put")(put)
    app.command("get")(get)
    app.command("mkdir")(mkdir)
    app.command("rm")(rm)
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(projects_app, name="projects")
    app.add_typer(members_app, name="members")
    app.add_typer(shares_app, name="shares")
    app.add_typer(topics_app, name="topics")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(credentials_app, name="credentials")
