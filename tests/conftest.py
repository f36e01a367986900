"""Fixtures: every test that takes `api` runs twice, on SQLite and on a real MariaDB.

The MariaDB server is started once per session (installed with apt if missing) on
loopback; each test gets a database of its own: a copy of one migrated at the start of the
session (tests/support/template_db.py), or an empty one when it is marked
`unmigrated_db` (the tests of the migrations themselves).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hopsworks_api.config import Settings
from hopsworks_api.db import migrate
from hopsworks_api.db.engine import create_db_engine, create_session_factory
from hopsworks_api.http_server import uvicorn_options
from hopsworks_api.main import create_app
from tests.support.api import Api
from tests.support.mariadb import MariaDBServer
from tests.support.processes import free_port
from tests.support.settings import test_settings
from tests.support.template_db import MariaDBTemplate, copy_sqlite, migrated_sqlite_file

BACKENDS = [b for b in os.environ.get("HOPS_TEST_DBS", "sqlite,mariadb").split(",") if b]


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """One server for the session, its data in memory where the machine has a tmpfs: a
    throwaway server's durability means nothing, and InnoDB syncs every table it creates,
    which made each test's database (30 tables) cost twice as much on a disk the lab lane
    keeps busy."""
    shm = Path("/dev/shm")
    memory = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    server = MariaDBServer(memory).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_file(tmp_path_factory.mktemp("template") / "hops.db")


@pytest.fixture(scope="session")
def mariadb_template(mariadb: MariaDBServer) -> MariaDBTemplate:
    return MariaDBTemplate.read(mariadb)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    migrated = request.node.get_closest_marker("unmigrated_db") is None
    if request.param == "sqlite":
        target = tmp_path / "hops.db"
        if migrated:
            yield copy_sqlite(request.getfixturevalue("sqlite_template"), target)
        else:
            yield f"sqlite:///{target}"
        return
    server: MariaDBServer = request.getfixturevalue("mariadb")
    name = f"t_{uuid.uuid4().hex[:16]}"
    if migrated:
        url = request.getfixturevalue("mariadb_template").create(server, name)
    else:
        url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Write sessions on a migrated DB of each kind, without an app (the lease tests)."""
    engine = create_db_engine(db_url)
    migrate.upgrade(engine)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return test_settings(tmp_path / "data", db_url)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    application = create_app(settings)
    yield application
    application.state.runtime.engine.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def api(client: TestClient) -> Api:
    """An API driver with four actors: a platform admin (the first account), a data owner
    and a data scientist of project `demo`, and an outsider."""
    return Api.with_actors(client)


def _serve_in_thread(app, *, tls: bool = False) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    options = uvicorn_options(app.state.runtime, tls=tls)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app behind a real uvicorn on loopback, for tests of real concurrency."""
    yield from _serve_in_thread(app)


@pytest.fixture
def tls_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app served exactly as `hops serve --tls` serves it: HTTPS, client certs."""
    yield from _serve_in_thread(app, tls=True)


@pytest.fixture
def served_process(tmp_path: Path, db_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`hops serve` as a separate process, so its memory can be measured on its own."""
    port = free_port()
    env = {**os.environ, "HOPS_LOG_JSON": "true"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hopsworks_api.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "served"),
            "--db",
            db_url,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "wb"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((tmp_path / "serve.log").read_text()[-3000:])
        time.sleep(0.1)
    yield base, proc
    proc.terminate()
    proc.wait(timeout=20)
