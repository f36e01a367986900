"""The `hops` command: admin accounts, migrations, and `hops serve` with zero config."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hopsworks_api.cli import app as cli
from tests.support.api import PASSWORD
from tests.support.processes import free_port

runner = CliRunner()


def test_create_user_admin_and_duplicates(tmp_path: Path):
    env = {"HOPS_DATA_DIR": str(tmp_path), "HOPS_NEW_USER_PASSWORD": PASSWORD}
    first = runner.invoke(cli, ["admin", "create-user", "first@example.org"], env=env)
    assert first.exit_code == 0, first.output
    assert "platform admin" in first.output  # the very first account
    second = runner.invoke(cli, ["admin", "create-user", "second@example.org"], env=env)
    assert "created user" in second.output
    third = runner.invoke(cli, ["admin", "create-user", "ops@example.org", "--admin"], env=env)
    assert "platform admin" in third.output
    again = runner.invoke(cli, ["admin", "create-user", "second@example.org"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(cli, ["admin", "create-user", "not-an-email"], env=env)
    assert bad.exit_code == 2 and "invalid input" in bad.output
    engine = create_engine(f"sqlite:///{tmp_path / 'hops.db'}")
    with engine.connect() as conn:
        admins = conn.execute(text("SELECT email FROM users WHERE is_admin")).scalars().all()
    assert sorted(admins) == ["first@example.org", "ops@example.org"]


def test_db_upgrade_is_idempotent(tmp_path: Path):
    from alembic.script import ScriptDirectory

    from hopsworks_api.db.migrate import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    before = runner.invoke(cli, ["db", "check", "--data-dir", str(tmp_path)])
    assert before.exit_code == 1 and f"the newest is {head}" in before.output
    for _ in range(2):
        result = runner.invoke(cli, ["db", "upgrade", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0 and f"revision {head}" in result.output
    after = runner.invoke(cli, ["db", "check", "--data-dir", str(tmp_path)])
    assert after.exit_code == 0 and "(current)" in after.output


def test_admin_instances_says_when_every_live_instance_runs_this_code(tmp_path: Path):
    """What upgrade.yml waits on: the heartbeat rows name each instance's version; one of
    older code (no version) or a newer one keeps --check-current failing; stale rows are
    not live."""
    import json
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.orm import Session

    from hopsworks_api import __version__
    from hopsworks_api.config import Settings
    from hopsworks_api.db.engine import create_db_engine
    from hopsworks_api.jobs.models import RunnerInstance

    args = ["admin", "instances", "--data-dir", str(tmp_path)]
    assert runner.invoke(cli, ["db", "upgrade", "--data-dir", str(tmp_path)]).exit_code == 0
    none = runner.invoke(cli, [*args, "--check-current"])
    assert none.exit_code == 1 and "0 of 0 live" in none.output
    engine = create_db_engine(Settings(data_dir=tmp_path).resolved_database_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    with Session(engine) as session:
        session.add(RunnerInstance(id="a:1", heartbeat_at=now, version=__version__))
        session.add(RunnerInstance(id="b:1", heartbeat_at=now, version=None))
        session.add(RunnerInstance(id="c:1", heartbeat_at=now - timedelta(hours=1), version="0"))
        session.commit()
    mixed = runner.invoke(cli, [*args, "--check-current", "--json"])
    assert mixed.exit_code == 1 and "1 of 2 live instances run other code" in mixed.output
    listed = json.loads(mixed.stdout.splitlines()[0])
    assert listed["version"] == __version__
    assert [(i["id"], i["version"]) for i in listed["instances"]] == [
        ("a:1", __version__),
        ("b:1", None),
    ]
    with Session(engine) as session:
        session.get(RunnerInstance, "b:1").version = __version__
        session.commit()
    engine.dispose()
    current = runner.invoke(cli, [*args, "--check-current"])
    assert current.exit_code == 0 and "2 live" in current.output


def test_serve_with_zero_configuration(tmp_path: Path):
    """Only HOPS_DATA_DIR is set (to keep the test out of ~/.hops): SQLite, local storage,
    migrated schema, a generated JWT key kept 0600."""
    port = free_port()
    env = {**os.environ, "HOPS_DATA_DIR": str(tmp_path / "home")}
    env.pop("HOPS_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hopsworks_api.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.HTTPError:
                exited = proc.poll() is not None
                assert not exited, proc.communicate()[1].decode(errors="replace")[-2000:]
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "database": "sqlite"}
        # the first account's password hash is deliberately slow: on a loaded 2-core machine
        # it outlasts httpx's 5 s default
        reply = httpx.post(
            f"{base}/api/auth/register",
            json={"email": "a@example.org", "password": PASSWORD},
            timeout=60,
        )
        assert reply.status_code == 201 and reply.json()["is_admin"] is True
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    home = tmp_path / "home"
    assert (home / "hops.db").exists() and (home / "storage" / "Projects").is_dir()
    assert stat.S_IMODE((home / "jwt.secret").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert PASSWORD.encode() not in err  # secrets never reach the logs
    secret = (home / "jwt.secret").read_text().strip()
    assert secret.encode() not in err
    passphrase = (home / "ca" / "passphrase").read_bytes().strip()
    assert passphrase not in err
    assert stat.S_IMODE((home / "ca" / "passphrase").stat().st_mode) == 0o600


def test_serve_help_names_every_setting_by_its_variable():
    from hopsworks_api.cli import _env_name
    from hopsworks_api.config import Settings

    result = runner.invoke(cli, ["serve", "--help"], env={"TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0, result.output
    for name in Settings.model_fields:
        assert _env_name(name) in result.output, name
    assert "HOPS_CA_DIR" in result.output  # an aliased setting under the name it is read from


def test_serve_refuses_a_bad_setting_or_a_busy_port_in_one_line(tmp_path: Path):
    env = {"HOPS_DATA_DIR": str(tmp_path / "home")}
    for name, value in (("HOPS_JOB_RUNNER", "nonsense"), ("HOPS_PORT", "eighty")):
        result = runner.invoke(cli, ["serve"], env={**env, name: value})
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and name in result.stderr, result.stderr
        assert "Traceback" not in result.output
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(cli, ["serve", "--port", str(port)], env=env)
    assert result.exit_code == 1, result.output
    assert (
        result.stderr == f"hops serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
    assert not (tmp_path / "home" / "hops.db").exists()  # refused before anything started


def test_the_model_server_runtime_is_checked_and_built_by_the_deploy_tools(tmp_path: Path):
    """What the roles run on a service host: `check-runtime` says whether
    `build-runtime` is due, and a configured interpreter is used, never rebuilt."""
    env = {"HOPS_DATA_DIR": str(tmp_path), "HOPS_MODEL_SERVER_PYTHON": sys.executable}
    ready = runner.invoke(cli, ["servings", "check-runtime"], env=env)
    assert ready.exit_code == 0 and f"ready: {sys.executable}" in ready.output
    built = runner.invoke(cli, ["servings", "build-runtime"], env=env)
    assert built.exit_code == 0 and "environment ready" in built.output, built.output
    missing = {**env, "HOPS_MODEL_SERVER_PYTHON": str(tmp_path / "no-python")}
    absent = runner.invoke(cli, ["servings", "check-runtime"], env=missing)
    assert absent.exit_code == 1 and "not built" in absent.output
