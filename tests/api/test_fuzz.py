"""Property-based fuzzing of the whole REST API from its own OpenAPI document.

Schemathesis reads `/api/openapi.json` and, for every operation, sends the app (in-process,
over ASGI, no network) its coverage cases (boundary and invalid values of every parameter
and body field) and `MAX_EXAMPLES` random valid and invalid requests, then runs linked
sequences of calls (create, then use or delete what was created). Every answer is checked
with every schemathesis check: never a 5xx; only documented statuses, media types, headers
and bodies; invalid data refused and valid data accepted (with the written exceptions in
`REFUSED_BEYOND_SCHEMA`); authentication enforced; 405 with the right `Allow`; nothing
usable after its deletion. And every 4xx carries the one error shape
`{"error": {"code": str, "message": str}}`.

To get past authentication and "project not found", requests go out as the data owner of
`demo` (sometimes as the platform admin, sometimes with whatever credentials the fuzzer
made up), and path parameters are often swapped for names that exist: project `demo`, its
default dataset `Resources`, files in it, members, an API key, pending shares. A mutation
that succeeds may destroy that world, so it is rebuilt after each one.

Run with `-s` to see the seed, how many requests were made and which statuses came back;
HOPS_FUZZ_SEED=<seed> replays a run, HOPS_FUZZ_EXAMPLES=<n> explores more,
HOPS_FUZZ_OPERATIONS=<regex> fuzzes only the matching operations ("PUT /api/...").
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import hypothesis
import pytest
import schemathesis
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from hypothesis import strategies as st
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.generation.meta import ParameterLocation, TestPhase

from hopsworks_api.config import Settings
from hopsworks_api.quotas.models import MAX_LIMIT
from tests.support.api import PASSWORD, Api
from tests.support.settings import test_settings

# Random cases per operation, on top of the coverage cases. Raise it for a deeper local
# run; pin the seed to replay a run (every run prints its seed with -s, or on failure).
MAX_EXAMPLES = int(os.environ.get("HOPS_FUZZ_EXAMPLES", "15"))
# CI replays one fixed seed so a red run is reproducible; HOPS_FUZZ_SEED=random explores.
_SEED_ENV = os.environ.get("HOPS_FUZZ_SEED", "20261124")
SEED = None if _SEED_ENV == "random" else int(_SEED_ENV)

DEMO = "/api/projects/demo"
OTHER = "/api/projects/other"

# Names that exist once `ensure_world` has run, by path-parameter name. The fuzzer's own
# value stays one of the choices, so garbage still reaches every route.
KNOWN: dict[str, list[str]] = {
    "project": ["demo", "demo", "other"],
    "dataset": ["Resources", "Jupyter", "other::Resources"],
    "path": ["notes.txt", "dir", "dir/inner.csv", "missing.bin"],
    "email": ["scientist@example.org", "owner@example.org", "outsider@example.org"],
    "name": ["fuzz-key"],
    "target": ["other"],
    "ref": ["other::Resources"],
}

# `positive_data_acceptance` expects a request that fits the schema to succeed, or to fail
# for a reason a schema cannot know about (401, 403, 404, 409, 429). These operations also
# refuse some schema-valid requests for reasons JSON Schema cannot express; each is listed
# with the statuses it adds and why. Everything else must hold as documented.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
REFUSED_BEYOND_SCHEMA: dict[str, tuple[tuple[int, ...], str]] = {
    "POST /api/ca/hosts": (
        (400,),
        "a CSR is checked cryptographically (PEM, signature, key strength, one host name)",
    ),
    "PUT /api/projects/{project}/datasets/{dataset}/files/{path}": (
        (400, 413),
        "path segments are limited in UTF-8 bytes and may not be '.' or '..'; the body "
        "must fit the project's storage quota, which an admin may have set to anything",
    ),
    "GET /api/projects/{project}/datasets/{dataset}/files/{path}": (
        (400,),
        "path segments are limited in UTF-8 bytes and may not be '.' or '..'",
    ),
    "DELETE /api/projects/{project}/datasets/{dataset}/files/{path}": (
        (400,),
        "path segments are limited in UTF-8 bytes and may not be '.' or '..'; '/' is the "
        "dataset itself",
    ),
    "POST /api/projects/{project}/datasets/{dataset}/uploads": (
        (400, 413),
        "path segments are limited in UTF-8 bytes; size, chunk_size and total_chunks must "
        "add up; the size must fit the project's storage quota",
    ),
    "PUT /api/projects/{project}/datasets/{dataset}/uploads/{session_id}/chunks/{number}": (
        (400,),
        "the chunk's number and length follow from the session's chunking",
    ),
    "POST /api/projects/{project}/topics": (
        (413,),
        "the project's topic quota, which an admin may have set to anything",
    ),
    **{
        f"{method} /api/projects/{{project}}/environments{path}": (
            (400,),
            "requirements are parsed line by line as PEP 508 specifiers (no pip options, "
            "URLs or paths)",
        )
        for method, path in (("POST", ""), ("PUT", "/{name}"))
    },
    **{
        f"{method} /api/projects/{{project}}/jobs{path}": (
            (400,),
            "app_path must name an existing file of one of the project's datasets, and a job "
            "type's runtime (pyspark) must be installed in its environment",
        )
        for method, path in (("POST", ""), ("PUT", "/{job}"))
    },
    "POST /api/projects/{project}/models": (
        (400, 422),
        "path must name a directory holding files inside the project's Models dataset; "
        "metric names and input_example may not hold lone surrogates (JSON allows them, no "
        "UTF-8 column stores them)",
    ),
    **{
        f"POST /api/projects/{{project}}/{resource}/shares": (
            (400,),
            "the target named in the body may be the project in the path, which shares "
            "nothing with itself",
        )
        for resource in ("datasets/{dataset}", "topics/{topic}", "hive")
    },
}

# HOPS_FUZZ_OPERATIONS=<regex> fuzzes only the operations whose label ("GET /api/...")
# matches, to replay one failure quickly.
ONLY = os.environ.get("HOPS_FUZZ_OPERATIONS")

# Who sends a generated request; None keeps the credentials the fuzzer made up (or none).
ACTORS: list[str | None] = ["owner", "owner", "owner", "admin", None]

AUTH_HEADERS = frozenset({"authorization", "x-api-key"})


@dataclass(repr=False)
class Stats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    rebuilds: int = 0
    # Errors the app logged while answering below 500, e.g. a failed audit write (counted,
    # not failed: the answer itself was right).
    logged: Counter[str] = field(default_factory=Counter)


class ServerLog(logging.Handler):
    """Keeps what the app logs at ERROR: the traceback behind a 500, failed audit writes."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s: %(message)s")
        return "\n".join(formatter.format(record) for record in self.records)


def as_actor(api: Api, headers: dict[str, Any] | None, actor: str | None) -> dict[str, Any] | None:
    """`headers` with the fuzzer's credentials replaced by `actor`'s; None keeps them."""
    if actor is None:
        return headers
    kept = {k: v for k, v in (headers or {}).items() if k.lower() not in AUTH_HEADERS}
    return {**kept, **api.headers(actor)}


def _integers(value: Any) -> Iterator[int]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _integers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _integers(item)


def beyond_double(case: schemathesis.Case) -> bool:
    """Whether the body holds an integer past 2**63 - 1, the largest any field allows
    (BIGINT quota limits). Schemathesis reads a bound that large as a double (2**63) and so
    sends 2**63 + 1 or 2**63 + 192 as valid data; read exactly, as the service reads JSON,
    it is not, and the 422 is right. Such a case is still checked for everything else."""
    return any(abs(n) > MAX_LIMIT for n in _integers(case.body))


def _strings_under(value: Any, key: str) -> Iterator[str]:
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key and isinstance(item, str):
                yield item
            else:
                yield from _strings_under(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_under(item, key)


def special_use_email(case: schemathesis.Case) -> bool:
    """Whether the body holds an address at a special-use domain (RFC 6761: `.test`,
    `.local`, ...). The service refuses them (422); `format: email` cannot say so, and
    schemathesis generates them as valid."""
    for address in _strings_under(case.body, "email"):
        labels = address.rpartition("@")[2].lower().rstrip(".").split(".")
        if any(".".join(labels[i:]) in SPECIAL_USE_DOMAIN_NAMES for i in range(len(labels))):
            return True
    return False


def made_valid_by_harness(api: Api, case: schemathesis.Case) -> bool:
    """A negative case whose only invalid parts were the credentials or the path
    parameters, both of which the hooks replaced with an actor's token and with names that
    exist: it reaches the service as a valid request, and its success is right."""
    if case.meta is None or not case.meta.generation.mode.is_negative:
        return False
    negative = {
        location for location, info in case.meta.components.items() if info.mode.is_negative
    }
    if not negative or not negative <= {ParameterLocation.HEADER, ParameterLocation.PATH}:
        return False
    if ParameterLocation.HEADER in negative and not explicit_auth(api, case.headers):
        return False
    patterns = path_patterns(case.operation)
    sent = {name: unquote(str(value)) for name, value in (case.path_parameters or {}).items()}
    return ParameterLocation.PATH not in negative or all(
        value in KNOWN.get(name, []) and fits(value, patterns.get(name))
        for name, value in sent.items()
    )


def excluded_checks(api: Api, case: schemathesis.Case) -> list[Any]:
    """The checks that do not apply to this one case, for the reasons given above."""
    excluded = []
    if beyond_double(case) or special_use_email(case):
        excluded.append(positive_data_acceptance)
    if made_valid_by_harness(api, case):
        excluded.append(negative_data_rejection)
    return excluded


def path_patterns(operation: Any) -> dict[str, str]:
    """The `pattern` of each path parameter of `operation`, as documented."""
    found = {}
    for parameter in operation.definition.raw.get("parameters", []):
        pattern = parameter.get("schema", {}).get("pattern")
        if parameter.get("in") == "path" and pattern:
            found[parameter["name"]] = pattern
    return found


def fits(value: str, pattern: str | None) -> bool:
    """A known name replaces a generated one only where the document allows it, so that a
    case generated as valid stays valid."""
    return pattern is None or re.search(pattern, value) is not None


def explicit_auth(api: Api, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """The credentials of `headers` that are a known actor's (not made up by the fuzzer):
    `ignored_auth` then probes the operation without them and with invalid ones."""
    known = {value for actor in api.tokens for value in api.headers(actor).values()}
    chosen = {k: v for k, v in (headers or {}).items() if k.lower() in AUTH_HEADERS and v in known}
    return chosen or None


def sign_in_again(api: Api) -> None:
    """The fuzzer logs actors out (every token of the account ends) and deletes accounts:
    sign each one in again, or register it anew."""
    for actor in list(api.tokens):
        if api.call(actor, "GET", "/api/users/me").status_code != 401:
            continue
        credentials = {"email": api.email(actor), "password": PASSWORD}
        reply = api.client.post("/api/auth/login", json=credentials)
        if reply.status_code == 200:
            api.tokens[actor] = reply.json()["access_token"]
        else:
            api.register(actor)


def ensure_world(api: Api) -> None:
    """Idempotently (re)build what the known path parameters refer to."""
    sign_in_again(api)
    owner = {"email": api.email("owner"), "role": "data_owner"}
    for name, url in (("demo", DEMO), ("other", OTHER)):
        mine = api.call("owner", "GET", url)
        if mine.status_code == 200 and mine.json()["role"] == "data_owner":
            continue
        if mine.status_code == 200:  # demoted, once the fuzzer made a second data owner
            reply = api.call(
                "admin", "PUT", f"{url}/members/{owner['email']}", json={"role": "data_owner"}
            )
        elif api.call("admin", "GET", url).status_code == 200:  # the admin fuzzer made it
            reply = api.call("admin", "POST", f"{url}/members", json=owner)
        else:
            reply = api.call("owner", "POST", "/api/projects", json={"name": name})
        assert reply.status_code in (200, 201), reply.text
    api.call(
        "owner",
        "POST",
        f"{DEMO}/members",
        json={"email": api.email("scientist"), "role": "data_scientist"},
    )
    for url in (DEMO, OTHER):
        if api.call("owner", "GET", f"{url}/datasets/Resources/files").status_code == 404:
            api.call("owner", "POST", f"{url}/datasets", json={"name": "Resources"})
    for path, data in (("notes.txt", b"hello\n"), ("dir/inner.csv", b"a,b\n1,2\n")):
        if api.download("owner", "demo", "Resources", path).status_code != 200:
            reply = api.upload("owner", "demo", "Resources", path, data)
            if reply.status_code == 413:  # the fuzzer (as admin) set a tiny quota
                unlimited = {"storage_bytes": None, "storage_files": None}
                api.call("admin", "PUT", f"{DEMO}/quotas", json=unlimited)
                reply = api.upload("owner", "demo", "Resources", path, data)
            assert reply.status_code == 201, reply.text
    keys = api.call("owner", "GET", "/api/auth/api-keys").json()["items"]
    if not any(key["name"] == "fuzz-key" for key in keys):
        api.call("owner", "POST", "/api/auth/api-keys", json={"name": "fuzz-key"})
    # Offers both ways: demo -> other (to unshare), other -> demo (to accept or reject).
    api.call("owner", "POST", f"{DEMO}/datasets/Resources/shares", json={"project": "other"})
    api.call("owner", "POST", f"{OTHER}/datasets/Resources/shares", json={"project": "demo"})


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """The fuzzer sends wrong passwords as the known actors (password change) and from the
    harness's own address (login): with the usual limits it would lock the harness out of
    the accounts it rebuilds the world with. Throttling is tested in test_identity*.py."""
    return test_settings(
        tmp_path / "data",
        db_url,
        login_account_max_failures=10**9,
        login_client_max_failures=10**9,
        wheelhouse=tmp_path / "wheelhouse",  # environment builds fail at once, offline
    )


@pytest.fixture
def fuzz_stats() -> Stats:
    return Stats()


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    handler = ServerLog()
    logger = logging.getLogger("hopsworks_api")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def build_schema(app: Any, api: Api, fuzz_stats: Stats, *, stateful: bool = False) -> Any:
    """The app's own document, served in-process, with the known names and actors mixed
    into what the fuzzer generates."""

    async def served(scope: Any, receive: Any, send: Any) -> None:
        """The app as a server runs it: Starlette answers an unhandled error with the app's
        500 and then re-raises it for the server to log; the 500 is what we check."""
        if scope["type"] == "http":
            fuzz_stats.requests += 1
        with contextlib.suppress(Exception):  # already answered with a 500, and logged
            await app(scope, receive, send)

    config = schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            # Links between operations are inferred only when the stateful phase is on.
            "phases": {"stateful": {"enabled": stateful}},
            "operations": [
                {
                    "include-name": label,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*ACCEPTED, *(str(s) for s in statuses)]
                        }
                    },
                }
                for label, (statuses, _why) in REFUSED_BEYOND_SCHEMA.items()
            ],
            **({"seed": SEED} if SEED is not None else {}),
        }
    )
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", served, config=config)

    @schema.hook
    def flatmap_path_parameters(ctx: Any, parameters: dict[str, Any] | None) -> Any:
        if not parameters:
            return st.just(parameters)
        patterns = path_patterns(ctx.operation)
        return st.fixed_dictionaries(
            {
                name: st.sampled_from(
                    [value, *(v for v in KNOWN.get(name, []) if fits(v, patterns.get(name)))]
                )
                for name, value in parameters.items()
            }
        )

    @schema.hook
    def flatmap_headers(_: Any, headers: dict[str, Any] | None) -> Any:
        return st.sampled_from(ACTORS).map(lambda actor: as_actor(api, headers, actor))

    return schema


@pytest.fixture
def fuzz_schema(app, api: Api, fuzz_stats: Stats, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    ensure_world(api)
    if not hasattr(request.node, "_nodeid"):
        # schemathesis 4.32's lazy-schema runner still reads `Node._nodeid`, which
        # pytest 9.2 renamed; it only uses it to label each operation's subtest.
        request.node._nodeid = request.node.nodeid

    schema = build_schema(app, api, fuzz_stats)

    started = time.monotonic()
    yield schema
    print(  # the run's size, shown with -s or on failure
        f"\nfuzz[{request.node.callspec.id}] seed {schema.config.seed}: {fuzz_stats.requests} requests in "
        f"{time.monotonic() - started:.1f}s, {fuzz_stats.rebuilds} world rebuilds, "
        f"statuses {dict(sorted(fuzz_stats.statuses.items()))}, "
        f"errors logged under a non-5xx answer {dict(fuzz_stats.logged) or 'none'}"
    )


def error_shape(_ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx is {"error": {"code": str, "message": str}}."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{response.status_code} body is not JSON: {response.text[:500]!r}"
        ) from None
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
    ):
        raise AssertionError(
            f'{response.status_code} body is not {{"error": {{"code": str, "message": str}}}}: '
            f"{response.text[:500]}"
        )


lazy_schema = schemathesis.pytest.from_fixture("fuzz_schema")
if ONLY:
    lazy_schema = lazy_schema.include(name_regex=ONLY)


@lazy_schema.parametrize()
@hypothesis.settings(deadline=None, max_examples=MAX_EXAMPLES)
def test_no_server_errors_and_one_error_shape(
    case: schemathesis.Case, api: Api, fuzz_stats: Stats, server_log: ServerLog
) -> None:
    if case.meta is not None and case.meta.phase.name != TestPhase.FUZZING:
        # Coverage cases are fixed examples that bypass the header hook: send them as the
        # owner too, unless the case is about the credentials themselves.
        parameter = getattr(case.meta.phase.data, "parameter", None) or ""
        if parameter.lower() not in AUTH_HEADERS:
            case.headers = as_actor(api, case.headers, "owner")
    server_log.records.clear()
    response = case.call()
    fuzz_stats.statuses[response.status_code] += 1
    if response.status_code < 500:
        for record in server_log.records:
            fuzz_stats.logged[f"{case.operation.label}: {record.getMessage()}"] += 1
    # Before the world is rebuilt: a logout ends the tokens the case was sent with.
    explicit = explicit_auth(api, case.headers)
    if case.method.upper() != "GET" and response.status_code < 400:
        fuzz_stats.rebuilds += 1
        ensure_world(api)
    try:
        case.validate_response(
            response,
            additional_checks=[error_shape],
            excluded_checks=excluded_checks(api, case),
            headers=explicit,
        )
        # An unhandled error after the response started (a stream cut short) keeps its status.
        assert not any(r.name == "hopsworks_api.errors" for r in server_log.records), (
            f"unhandled error behind a {response.status_code} to {case.method} {case.formatted_path}"
        )
    except BaseException:  # schemathesis' FailureGroup is a BaseExceptionGroup
        if case.meta is not None:
            data = case.meta.phase.data
            print(f"phase {case.meta.phase.name.value}: {getattr(data, 'description', '')}")
        if server_log.records:
            print(f"server log for {case.method} {case.formatted_path}:\n{server_log.text()}")
        raise


def reset_world(api: Api) -> None:
    """Back to the world `ensure_world` builds and nothing else: every project (demo and
    other included) and every account but the four actors deleted, the owner's keys
    revoked. Hypothesis replays a scenario's choices and expects the same answers; what an
    earlier scenario left behind (a name taken, a file deleted) would change them."""
    sign_in_again(api)
    actors = {api.email(actor) for actor in api.tokens}
    projects = api.call("admin", "GET", "/api/projects", params={"limit": 500}).json()["items"]
    for project in projects:
        reply = api.call("admin", "DELETE", f"/api/projects/{project['name']}")
        assert reply.status_code == 204, reply.text
    for user in api.call("admin", "GET", "/api/users", params={"limit": 500}).json()["items"]:
        if user["email"] not in actors:
            reply = api.call("admin", "DELETE", f"/api/users/{user['email']}")
            assert reply.status_code == 204, reply.text
    for key in api.call("owner", "GET", "/api/auth/api-keys").json()["items"]:
        api.call("owner", "DELETE", f"/api/auth/api-keys/{key['name']}")
    ensure_world(api)


def test_stateful_sequences_with_every_check(
    app: Any, api: Api, fuzz_stats: Stats, server_log: ServerLog
) -> None:
    """Chains of calls the document links (create something, then read, change or delete
    it through the values the answer gave), checked with every check: `use_after_free`
    and `ensure_resource_availability` only have something to look at here."""
    schema = build_schema(app, api, fuzz_stats, stateful=True)
    machine = schema.as_state_machine()

    class Scenario(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            reset_world(api)

        def before_call(self, case: schemathesis.Case) -> None:
            case.headers = as_actor(api, case.headers, "owner")

        def validate_response(  # type: ignore[override]
            self, response: Any, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            fuzz_stats.statuses[response.status_code] += 1
            explicit = explicit_auth(api, case.headers)
            try:
                case.validate_response(
                    response,
                    additional_checks=[error_shape],
                    excluded_checks=excluded_checks(api, case),
                    headers=explicit,
                    transport_kwargs=kwargs or None,
                    recorder=self.recorder,
                )
                assert not any(r.name == "hopsworks_api.errors" for r in server_log.records)
            except BaseException:  # schemathesis' FailureGroup is a BaseExceptionGroup
                if server_log.records:
                    print(f"server log for {case.method} {case.formatted_path}:")
                    print(server_log.text())
                raise
            finally:
                server_log.records.clear()

    assert len(machine.bundles) > 10  # the document's links were found
    machine_settings = hypothesis.settings(
        max_examples=MAX_EXAMPLES,  # scenarios, of up to 12 calls each
        stateful_step_count=12,
        deadline=None,
        derandomize=SEED is not None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    started = time.monotonic()
    Scenario.run(settings=machine_settings)
    print(
        f"\nstateful: {fuzz_stats.requests} requests in {time.monotonic() - started:.1f}s, "
        f"statuses {dict(sorted(fuzz_stats.statuses.items()))}"
    )
