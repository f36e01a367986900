"""The real `hopsworks` SDK against a live `hops serve --tls`: one server, one user, one
project and one API key per test session, and `run_sdk(code)` to run a snippet with the
unchanged SDK from PyPI in its own virtualenv (tests/support/sdk_env.py).

The server is the app behind uvicorn with exactly the TLS options `hops serve --tls` uses,
on SQLite (the compatibility layer only calls the platform's services, which the `api`
tests already run on both databases). Fixture names are shared with the jobs, models and
serving SDK tests: keep them stable.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hopsworks_api.http_server import uvicorn_options
from hopsworks_api.main import create_app
from hopsworks_api.runtime import Runtime
from tests.support import sdk_env
from tests.support.api import PASSWORD
from tests.support.processes import free_port
from tests.support.settings import test_settings

PROJECT = "sdkdemo"
USER = "sdkuser@example.org"
SDK_TIMEOUT_S = 300
SERVER_START_TIMEOUT_S = 30

# What the snippet starts with: a logged-in `project`, and `result`, which the harness
# hands back to the test as JSON (anything json cannot encode becomes its str()).
IMPORTS = """\
import json, os, sys
import hopsworks
result = None
"""
LOGIN = """\
project = hopsworks.login(
    host=os.environ["SDK_HOST"],
    port=int(os.environ["SDK_PORT"]),
    project=os.environ["SDK_PROJECT"],
    api_key_value=os.environ["SDK_API_KEY"],
    hostname_verification=False,
    engine="python",
    cert_folder=os.environ["SDK_CERT_FOLDER"],
)
"""
EPILOGUE = """
with open(os.environ["SDK_RESULT"], "w") as _out:
    json.dump(result, _out, default=str)
"""


@dataclass(frozen=True)
class SdkServer:
    """Where the SDK finds the platform, and a platform-API client as the same user."""

    url: str  # https://127.0.0.1:<port>
    host: str
    port: int
    project: str
    user: str  # the user's email
    api_key: str
    app: FastAPI
    api: httpx.Client  # https, `user`'s API key, base URL set, certificate not checked

    @property
    def rt(self) -> Runtime:
        return self.app.state.runtime


@dataclass(frozen=True)
class SdkRun:
    returncode: int
    stdout: str
    stderr: str
    result: Any  # what the snippet left in `result`


class RunSdk(Protocol):
    def __call__(self, code: str, *, check: bool = True, login: bool = True) -> SdkRun: ...


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """The SDK's interpreter (built once per machine: about a minute the first time)."""
    return sdk_env.ensure()


def _start(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, int] | None:
    """uvicorn on a free port with `hops serve --tls`'s options; None if the port was taken
    meanwhile (the caller tries another)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        **uvicorn_options(app.state.runtime, tls=True),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            return None
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    return server, thread, port


def _serve(app: FastAPI) -> Iterator[tuple[str, int]]:
    for _attempt in range(3):
        started = _start(app)
        if started is not None:
            break
    else:
        raise RuntimeError("uvicorn could not bind a free port")
    server, thread, port = started
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=20)


@pytest.fixture(scope="session")
def sdk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkServer]:
    """A live HTTPS server with an admin (the first account), the SDK's user, its project
    `sdkdemo` (the user is its data owner) and an API key of that user."""
    root = tmp_path_factory.mktemp("sdk-server")
    settings = test_settings(root / "data", f"sqlite:///{root / 'hops.db'}")
    app = create_app(settings)
    try:
        for host, port in _serve(app):
            url = f"https://{host}:{port}"
            with httpx.Client(base_url=url, verify=False, timeout=60) as client:
                for email in ("sdkadmin@example.org", USER):
                    reply = client.post(
                        "/api/auth/register", json={"email": email, "password": PASSWORD}
                    )
                    assert reply.status_code == 201, reply.text
                reply = client.post("/api/auth/login", json={"email": USER, "password": PASSWORD})
                assert reply.status_code == 200, reply.text
                client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"
                reply = client.post("/api/projects", json={"name": PROJECT})
                assert reply.status_code == 201, reply.text
                reply = client.post("/api/auth/api-keys", json={"name": "sdk"})
                assert reply.status_code == 201, reply.text
                key = reply.json()["key"]
                # the key, not the short-lived access token: the session may outlast it
                client.headers["Authorization"] = f"ApiKey {key}"
                yield SdkServer(
                    url=url,
                    host=host,
                    port=port,
                    project=PROJECT,
                    user=USER,
                    api_key=key,
                    app=app,
                    api=client,
                )
    finally:
        app.state.runtime.engine.dispose()


@pytest.fixture(scope="session")
def run_sdk(
    sdk_python: Path, sdk_server: SdkServer, tmp_path_factory: pytest.TempPathFactory
) -> RunSdk:
    """Run `code` with the SDK's interpreter, after `hopsworks.login(...)` to `sdkdemo`
    (`login=False`: only the imports and `result`, e.g. to log in differently). Fails the
    test with the snippet's output unless it exits 0 (`check=False`: the caller looks)."""
    work = tmp_path_factory.mktemp("sdk-runs")
    counter = iter(range(1_000_000))

    def run(code: str, *, check: bool = True, login: bool = True) -> SdkRun:
        number = next(counter)
        script = work / f"snippet_{number}.py"
        result_file = work / f"result_{number}.json"
        prelude = IMPORTS + (LOGIN if login else "")
        script.write_text(prelude + textwrap.dedent(code) + EPILOGUE)
        cwd = work / f"cwd_{number}"
        cwd.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(work)),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "SDK_HOST": sdk_server.host,
            "SDK_PORT": str(sdk_server.port),
            "SDK_PROJECT": sdk_server.project,
            "SDK_API_KEY": sdk_server.api_key,
            "SDK_CERT_FOLDER": str(work / f"certs_{number}"),
            "SDK_RESULT": str(result_file),
            "SDK_URL": sdk_server.url,
        }
        completed = subprocess.run(
            [str(sdk_python), str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=SDK_TIMEOUT_S,
            check=False,
        )
        if check and completed.returncode != 0:
            pytest.fail(
                f"SDK snippet failed ({completed.returncode}):\n{completed.stdout[-4000:]}\n"
                f"{completed.stderr[-8000:]}"
            )
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        return SdkRun(completed.returncode, completed.stdout, completed.stderr, result)

    return run
