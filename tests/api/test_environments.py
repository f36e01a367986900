"""Per-project Python environments, built for real (a venv and pip) from an offline
wheelhouse of tiny wheels made here: no network, about a second per build."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from hopsworks_api.clock import naive_utc
from hopsworks_api.config import Settings
from hopsworks_api.environments import service
from hopsworks_api.environments.models import Environment
from hopsworks_api.errors import Conflict, NotFound
from hopsworks_api.projects.models import Project
from hopsworks_api.runtime import Runtime
from tests.support.api import Api
from tests.support.settings import test_settings

BASE = "/api/projects/demo/environments"


def make_wheel(directory: Path, name: str, version: str) -> Path:
    """A pure-Python wheel written directly (setuptools here cannot build one)."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip(
            "="
        )

    record = "".join(f"{p},{digest(c.encode())},{len(c.encode())}\n" for p, c in files.items())
    files[f"{dist}/RECORD"] = record + f"{dist}/RECORD,,\n"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in files.items():
            archive.writestr(member, content)
    return path


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    directory = tmp_path / "wheelhouse"
    directory.mkdir()
    for version in ("1.0", "2.0"):
        make_wheel(directory, "tinypkg", version)
    return directory


@pytest.fixture
def settings(tmp_path: Path, db_url: str, wheelhouse: Path) -> Settings:
    return test_settings(tmp_path / "data", db_url, wheelhouse=wheelhouse)


def ok(reply, status: int = 200):  # type: ignore[no-untyped-def]
    assert reply.status_code == status, reply.text
    return reply


def settled(api: Api, name: str, *, timeout: float = 60) -> dict:
    """Poll until the latest build of `name` ended."""
    deadline = time.monotonic() + timeout
    while True:
        body = ok(api.call("owner", "GET", f"{BASE}/{name}")).json()
        if body["state"] != "BUILDING":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def demo_id(rt: Runtime) -> int:
    with rt.read_sessions() as session:
        return session.scalar(select(Project.id).where(Project.name == "demo"))


def run(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import tinypkg; print(tinypkg.VERSION)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def test_build_lock_failed_rebuild_and_delete(api: Api, app, wheelhouse: Path):  # type: ignore[no-untyped-def]
    rt: Runtime = app.state.runtime
    project_id = demo_id(rt)
    created = ok(
        api.call("owner", "POST", BASE, json={"name": "ml", "requirements": "tinypkg==1.0\n"}), 202
    ).json()
    assert created["state"] == "BUILDING" and created["active_build"] is None

    ready = settled(api, "ml")
    assert ready["state"] == "READY", ready["log_tail"]
    assert ready["active_build"] == ready["build"] == 1
    assert ready["packages"] == [{"name": "tinypkg", "version": "1.0"}]
    wheel_hash = hashlib.sha256((wheelhouse / "tinypkg-1.0-py3-none-any.whl").read_bytes())
    assert ready["lock"] == f"tinypkg==1.0 \\\n    --hash=sha256:{wheel_hash.hexdigest()}\n"
    lock = ok(api.call("scientist", "GET", f"{BASE}/ml/lock"))
    assert lock.headers["content-type"].startswith("text/plain") and lock.text == ready["lock"]
    assert run(service.python_for(rt, project_id=project_id, name="ml")) == "1.0"
    listed = ok(api.call("scientist", "GET", BASE)).json()["items"]
    assert [(e["name"], e["state"]) for e in listed] == [("default", "READY"), ("ml", "READY")]

    # a rebuild that fails leaves build 1 in use, and says why
    ok(api.call("owner", "PUT", f"{BASE}/ml", json={"requirements": "no-such-package\n"}), 202)
    failed = settled(api, "ml")
    assert failed["state"] == "FAILED" and failed["build"] == 2 and failed["active_build"] == 1
    assert "no-such-package" in failed["log_tail"] and "build failed" in failed["log_tail"]
    assert failed["lock"] == ready["lock"]
    assert run(service.python_for(rt, project_id=project_id, name="ml")) == "1.0"

    # one that succeeds replaces it
    ok(api.call("owner", "PUT", f"{BASE}/ml", json={"requirements": "tinypkg>=2"}), 202)
    rebuilt = settled(api, "ml")
    assert rebuilt["state"] == "READY" and rebuilt["active_build"] == 3
    assert rebuilt["packages"] == [{"name": "tinypkg", "version": "2.0"}]
    assert run(service.python_for(rt, project_id=project_id, name="ml")) == "2.0"
    directory = service.environment_dir(rt.settings, project_id, "ml")
    assert sorted(p.name for p in directory.iterdir()) == ["1", "3"]  # the failed one went

    ok(api.call("scientist", "DELETE", f"{BASE}/ml"), 403)
    ok(api.call("owner", "DELETE", f"{BASE}/ml"), 204)
    assert not directory.exists()
    ok(api.call("owner", "GET", f"{BASE}/ml"), 404)
    with pytest.raises(NotFound, match="environment 'ml' not found in project 'demo'"):
        service.python_for(rt, project_id=project_id, name="ml")


def test_default_environment_and_who_may_do_what(api: Api, app):  # type: ignore[no-untyped-def]
    rt: Runtime = app.state.runtime
    default = ok(api.call("scientist", "GET", f"{BASE}/default")).json()
    assert default["state"] == "READY" and default["lock"] is None
    assert "fastapi" in {p["name"].lower() for p in default["packages"]}
    assert service.python_for(rt, project_id=demo_id(rt), name="default") == Path(sys.executable)
    assert ok(api.call("owner", "DELETE", f"{BASE}/default"), 409).json()["error"]["code"]
    ok(api.call("owner", "PUT", f"{BASE}/default", json={"requirements": "x"}), 409)
    ok(api.call("owner", "POST", BASE, json={"name": "default", "requirements": "x"}), 409)
    ok(api.call("owner", "GET", f"{BASE}/default/lock"), 404)

    body = {"name": "ml", "requirements": "tinypkg"}
    ok(api.call("scientist", "POST", BASE, json=body), 403)
    ok(api.call("admin", "POST", BASE, json=body), 403)
    ok(api.call("outsider", "POST", BASE, json=body), 404)
    ok(api.call("outsider", "GET", BASE), 404)
    ok(api.call("outsider", "GET", f"{BASE}/default"), 404)
    for bad in (
        "--index-url https://evil.example/simple\ntinypkg",
        "tinypkg\n--extra-index-url https://evil.example/simple",
        "-e /tmp/x",
        "-r other.txt",
        "./some/dir",
        "https://evil.example/x.whl",
        "tinypkg @ https://evil.example/x.whl",
        "# only a comment",
        "tinypkg ==",
        "x" * 30_000,
    ):
        reply = ok(api.call("owner", "POST", BASE, json={"name": "ml", "requirements": bad}), 400)
        assert reply.json()["error"]["code"] == "bad_requirements", bad
    ok(api.call("owner", "GET", f"{BASE}/ml"), 404)  # nothing was recorded
    with pytest.raises(NotFound):
        service.python_for(rt, project_id=demo_id(rt), name="ml")


def test_interrupted_builds_fail_and_orphans_go(api: Api, app):  # type: ignore[no-untyped-def]
    """A build whose thread died with its process (no heartbeat) fails on the next pass,
    with a log line saying so; directories of deleted projects and environments go."""
    rt: Runtime = app.state.runtime
    project_id = demo_id(rt)
    long_ago = naive_utc(rt.clock.now()) - service.STALE_AFTER - timedelta(seconds=1)
    with rt.sessions() as session:
        rows = [
            Environment(
                project_id=project_id,
                name=name,
                requirements="tinypkg",
                state="BUILDING",
                build=1,
                heartbeat_at=long_ago,
            )
            for name in ("crashed", "running")
        ]
        session.add_all(rows)
        session.commit()
        running_id = rows[1].id
    service._heartbeat(rt, running_id, 1)  # what a live build thread does every 10 s
    root = service.environments_root(rt.settings)
    orphans = [root / "999999" / "ml" / "1", root / str(project_id) / "gone" / "1"]
    for orphan in orphans:
        orphan.mkdir(parents=True)

    service.reap(rt)

    crashed = ok(api.call("owner", "GET", f"{BASE}/crashed")).json()
    assert crashed["state"] == "FAILED" and service.INTERRUPTED in crashed["log_tail"]
    assert ok(api.call("owner", "GET", f"{BASE}/running")).json()["state"] == "BUILDING"
    assert not (root / "999999").exists() and not orphans[1].parent.exists()
    assert (root / str(project_id) / "crashed" / "1").exists()  # its log
    with pytest.raises(Conflict) as not_ready:
        service.python_for(rt, project_id=project_id, name="crashed")
    assert not_ready.value.code == "environment_not_ready"
    reply = ok(api.call("owner", "PUT", f"{BASE}/running", json={"requirements": "x"}), 409)
    assert reply.json()["error"]["code"] == "environment_building"
