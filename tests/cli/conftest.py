"""The `hops` console script run as a person runs it, against one live server per session.

The server is the app behind a real uvicorn on loopback (SQLite: the client sees only the
REST API, so one DB is enough); every test signs in its own account from its own HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hopsworks_api.main import create_app
from tests.conftest import _serve_in_thread
from tests.support.api import PASSWORD
from tests.support.settings import test_settings

HOPS = str(Path(sys.executable).parent / "hops")
TIMEOUT_S = 120


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("platform")
    application = create_app(test_settings(root / "data", f"sqlite:///{root / 'hops.db'}"))
    yield from _serve_in_thread(application)
    application.state.runtime.engine.dispose()


@dataclass
class Person:
    """An account with an API key, and a HOME of its own for `hops`."""

    url: str
    email: str
    key: str
    home: Path

    @property
    def config(self) -> Path:
        return self.home / ".config" / "hops" / "config.toml"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
        return {**env, "HOME": str(self.home), "COLUMNS": "200", **extra}

    def hops(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HOPS, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=TIMEOUT_S,
            check=False,
        )

    def ok(self, *args: str, **kwargs: str) -> subprocess.CompletedProcess[str]:
        done = self.hops(*args, **kwargs)
        assert done.returncode == 0, f"hops {' '.join(args)}: {done.stderr}"
        return done

    def new_project(self) -> str:
        """A project of this person's, made over HTTP (set-up, not the CLI under test)."""
        name = project_name()
        with self.http() as http:
            created = http.post("/api/projects", json={"name": name})
            assert created.status_code == 201, created.text
        return name

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"ApiKey {self.key}"}, timeout=30
        )


def sign_up(url: str, home: Path, name: str) -> Person:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.org"
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        ).is_success
        token = http.post("/api/auth/login", json={"email": email, "password": PASSWORD}).json()[
            "access_token"
        ]
        created = http.post(
            "/api/auth/api-keys",
            json={"name": "cli"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
    home.mkdir(parents=True, exist_ok=True)
    return Person(url, email, created.json()["key"], home)


def signed_in(platform: str, home: Path) -> Person:
    """Signed up and signed in with `hops login` (API key on stdin)."""
    someone = sign_up(platform, home, "person")
    someone.ok("login", platform, stdin=someone.key + "\n")
    return someone


@pytest.fixture(scope="module")
def person(platform: str, tmp_path_factory: pytest.TempPathFactory) -> Person:
    """One signed-in account per test module (each test makes its own projects)."""
    return signed_in(platform, tmp_path_factory.mktemp("home"))


def project_name() -> str:
    return f"p{uuid.uuid4().hex[:10]}"
