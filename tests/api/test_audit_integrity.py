"""Audit integrity: what is stored is what is hashed, the chain is keyed (rewriting it
with the DB alone is detected), checkpoints catch truncation, the key stays outside the DB,
and older installations' unkeyed chains are sealed under the key."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import stat
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from hopsworks_api.audit.keys import fingerprint
from hopsworks_api.audit.service import AuditKeyMismatch
from hopsworks_api.cli import app as cli
from hopsworks_api.db import migrate
from hopsworks_api.main import create_app, open_audit_chain
from tests.support.api import Api

runner = CliRunner()


def _cli(settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    common = ["--db", settings.database_url, "--data-dir", str(settings.data_dir)]
    result = runner.invoke(cli, ["audit", *args, *common], env=env)
    return result.exit_code, " ".join(result.output.split())


def _rows(app, where: str = "1=1") -> list[dict]:
    with app.state.runtime.engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM audit_log WHERE {where} ORDER BY id"))
        return [dict(r._mapping) for r in result]


def _plain_hash(prev: str, row: dict) -> str:
    """The unkeyed SHA-256 an attacker can compute with nothing but DB access."""
    ts = row["ts"] if isinstance(row["ts"], datetime) else datetime.fromisoformat(row["ts"])
    fields = [
        prev,
        str(row["id"]),
        ts.isoformat(timespec="microseconds"),
        row["actor"],
        row["project"] or "",
        row["action"],
        row["target"],
        row["outcome"],
        str(row["status_code"]),
        row["client"],
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def _drop_guards(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("DROP TRIGGER audit_log_no_update"))
    conn.execute(text("DROP TRIGGER audit_log_no_delete"))


def _rechain(app, start: int, end: int | None = None) -> None:
    """A DB writer recomputes every hash from record `start` on (to `end`, else to the
    newest, fixing the head too); the guard triggers are already dropped."""
    rows = _rows(app)
    with app.state.runtime.engine.begin() as conn:
        prev = rows[start - 2]["hash"] if start > 1 else "0" * 64
        for row in rows[start - 1 : end]:
            digest = _plain_hash(prev, row)
            conn.execute(
                text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE id = :i"),
                {"p": prev, "h": digest, "i": row["id"]},
            )
            prev = digest
        if end is None:
            conn.execute(
                text("UPDATE audit_head SET last_id = :i, last_hash = :h"),
                {"i": rows[-1]["id"], "h": prev},
            )


# --- store what you hash ------------------------------------------------------------------


def test_a_very_long_anonymous_path_is_stored_as_hashed(api: Api, app, settings):
    path = "/api/projects/demo/datasets/Logs/files/" + "p" * 5000
    assert api.client.put(path, content=b"1").status_code == 401
    stored = _rows(app, "status_code = 401")[-1]
    assert stored["target"] == ("Logs/" + "p" * 5000)[:1024]
    code, output = _cli(settings, "verify")
    assert code == 0, output
    assert "intact" in output


def test_control_and_astral_characters_are_stored_escaped(api: Api, app, settings):
    path = "/api/projects/demo/datasets/Logs/files/%1b%5b31mred%0aforged%F0%9F%98%80%E2%80%AE"
    assert api.client.put(path, content=b"1").status_code == 404  # no route takes a newline
    stored = _rows(app, "status_code = 404")[-1]["target"]
    assert stored == (
        "/api/projects/demo/datasets/Logs/files/\\u001b[31mred\\u000aforged\\U0001f600\\u202e"
    )
    code, output = _cli(settings, "verify")
    assert code == 0, output


# --- the chain is keyed -------------------------------------------------------------------


@pytest.mark.parametrize("start", [1, 4], ids=["whole-chain", "from-the-edit"])
def test_rewrite_with_a_recomputed_plain_chain_is_detected(api: Api, app, settings, start):
    with app.state.runtime.engine.begin() as conn:
        _drop_guards(conn)
        conn.execute(text("UPDATE audit_log SET actor = 'someone@else.org' WHERE id = 4"))
    _rechain(app, start)
    code, output = _cli(settings, "verify")
    assert code == 1
    if start == 1:  # the seal no longer verifies under the key: nothing is keyed
        assert "no record is sealed under the audit key" in output
    else:
        assert "record 4: content does not match its hash" in output


def test_a_forged_seal_or_a_missing_key_cannot_pass(api: Api, app, settings):
    code, output = _cli(settings, "verify", env={"HOPS_AUDIT_KEY": "a guess " * 4})
    assert code == 1 and "sealed under key" in output
    code, output = _cli(settings, "verify", env={"HOPS_AUDIT_KEY": "short"})
    assert code == 2 and "shorter than 32" in output
    (settings.data_dir / "audit.key").unlink()
    code, output = _cli(settings, "verify")
    assert code == 2 and "no audit key" in output
    assert not (settings.data_dir / "audit.key").exists()  # verify never makes a key


def test_the_key_file_is_0600_and_outside_the_db(api: Api, app, settings):
    path: Path = settings.data_dir / "audit.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 32
    with app.state.runtime.engine.connect() as conn:
        heads = conn.execute(text("SELECT key_id FROM audit_head")).scalars().all()
    assert heads == [fingerprint(key.encode())]  # a public name of the key, not the key


def test_a_configured_key_is_used_and_no_file_is_made(settings):
    configured = settings.model_copy(update={"audit_key": SecretStr("k" * 48)})
    app = create_app(configured)
    try:
        assert not (settings.data_dir / "audit.key").exists()
        code, output = _cli(settings, "verify", env={"HOPS_AUDIT_KEY": "k" * 48})
        assert code == 0, output
    finally:
        app.state.runtime.engine.dispose()


def test_an_instance_with_another_key_refuses_to_start(api: Api, app, settings):
    other = settings.model_copy(update={"audit_key": SecretStr("another key " * 4)})
    runtime = dataclasses.replace(app.state.runtime, settings=other)
    with pytest.raises(AuditKeyMismatch, match="same HOPS_AUDIT_KEY"):
        open_audit_chain(runtime)


# --- checkpoints --------------------------------------------------------------------------


def test_checkpoint_then_verify_against_it(api: Api, app, settings, tmp_path: Path):
    out = tmp_path / "head.json"
    code, output = _cli(settings, "checkpoint", "--out", str(out))
    assert code == 0, output
    signed = json.loads(out.read_text())
    assert {"last_id", "last_hash", "created_at", "mac"} <= signed.keys()
    assert signed["last_id"] == _rows(app)[-1]["id"]
    api.upload("owner", "demo", "Logs", "later.csv", b"1")  # the log grows past it: fine
    code, output = _cli(settings, "verify", "--checkpoint", str(out))
    assert code == 0, output
    assert f"up to checkpoint record {signed['last_id']}" in output


def test_truncation_plus_head_rewrite_is_detected_with_a_checkpoint(
    api: Api, app, settings, tmp_path: Path
):
    out = tmp_path / "head.json"
    assert _cli(settings, "checkpoint", "--out", str(out))[0] == 0
    checkpoint_id = json.loads(out.read_text())["last_id"]
    api.upload("owner", "demo", "Logs", "evidence.csv", b"1")
    keep = checkpoint_id - 2
    survivor = _rows(app, f"id = {keep}")[0]
    with app.state.runtime.engine.begin() as conn:
        _drop_guards(conn)
        conn.execute(text(f"DELETE FROM audit_log WHERE id > {keep}"))
        conn.execute(
            text("UPDATE audit_head SET last_id = :i, last_hash = :h"),
            {"i": keep, "h": survivor["hash"]},
        )
    assert _cli(settings, "verify")[0] == 0  # without a checkpoint this cannot be seen
    code, output = _cli(settings, "verify", "--checkpoint", str(out))
    assert code == 1
    assert f"record {checkpoint_id} named by the checkpoint is missing" in output


def test_an_edited_checkpoint_is_refused(api: Api, settings, tmp_path: Path):
    out = tmp_path / "head.json"
    assert _cli(settings, "checkpoint", "--out", str(out))[0] == 0
    signed = json.loads(out.read_text())
    out.write_text(json.dumps({**signed, "last_id": signed["last_id"] - 1}))
    code, output = _cli(settings, "verify", "--checkpoint", str(out))
    assert code == 1 and "signature does not match" in output
    out.write_text("not json")
    assert _cli(settings, "verify", "--checkpoint", str(out))[0] == 2


def test_no_checkpoint_of_a_tampered_chain(api: Api, app, settings, tmp_path: Path):
    with app.state.runtime.engine.begin() as conn:
        _drop_guards(conn)
        conn.execute(text("UPDATE audit_log SET status_code = 299 WHERE id = 2"))
    code, output = _cli(settings, "checkpoint", "--out", str(tmp_path / "x.json"))
    assert code == 1 and "no checkpoint written" in output
    assert not (tmp_path / "x.json").exists()


# --- an older installation's unkeyed chain ------------------------------------------------


def _legacy_install(settings) -> None:  # type: ignore[no-untyped-def]
    """The schema before 0007 with records the old code wrote: a project created twice
    under one name, a request before, and one long path hashed in full but stored cut."""
    engine = create_engine(settings.database_url)
    migrate.upgrade(engine, "0006")
    entries = [
        ("a@example.org", "x", "project.create", "x", 201),  # the first `x`
        ("a@example.org", "x", "project.delete", "x", 204),
        ("o@example.org", "x", "member.add", "x", 404),  # before `x` existed again
        ("a@example.org", "x", "project.create", "x", 201),  # the `x` of today
        ("anonymous", "x", "file.upload", "L/" + "p" * 2000, 401),
        ("a@example.org", "x", "member.add", "b@example.org", 201),
    ]
    prev = "0" * 64
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, name, description, created_at, updated_at) "
                "VALUES (7, 'x', '', :t, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
        for number, (actor, project, action, target, status) in enumerate(entries, 1):
            row = {
                "id": number,
                "ts": datetime(2026, 1, 1, 0, 0, number, 123456),
                "actor": actor,
                "project": project,
                "action": action,
                "target": target,
                "outcome": "ok" if status < 400 else "denied",
                "status_code": status,
                "client": "127.0.0.1",
            }
            digest = _plain_hash(prev, row)  # of the full target
            conn.execute(
                text(
                    "INSERT INTO audit_log (id, ts, actor, project, action, target, outcome, "
                    "status_code, client, prev_hash, hash) VALUES (:id, :ts, :actor, "
                    ":project, :action, :target, :outcome, :status_code, :client, :p, :h)"
                ),
                {**row, "target": target[:1024], "p": prev, "h": digest},
            )
            prev = digest
        conn.execute(
            text("UPDATE audit_head SET last_id = :i, last_hash = :h"),
            {"i": len(entries), "h": prev},
        )
    engine.dispose()


@pytest.mark.unmigrated_db
def test_a_legacy_chain_is_sealed_once_and_stays_verifiable(settings):
    _legacy_install(settings)
    app = create_app(settings)
    try:
        rows = _rows(app)
        seal = rows[-1]
        assert (seal["id"], seal["action"], seal["prev_hash"]) == (7, "audit.seal", rows[5]["hash"])
        # attributed by id from the last creation of the name on, not before
        assert [r["project_id"] for r in rows[:6]] == [None, None, None, 7, 7, 7]
        code, output = _cli(settings, "verify")
        assert code == 0, output
        assert "1 records before the seal" in output and "stored truncated" in output
        create_app(settings).state.runtime.engine.dispose()  # a restart does not seal again
        assert [r["action"] for r in _rows(app)].count("audit.seal") == 1

        # a DB writer rewrites a legacy record and recomputes the plain chain up to the seal
        with app.state.runtime.engine.begin() as conn:
            _drop_guards(conn)
            conn.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE id = 2"))
        _rechain(app, 2, end=6)
        code, output = _cli(settings, "verify")
        assert code == 1
        assert "record 7: does not follow the previous record" in output
    finally:
        app.state.runtime.engine.dispose()


@pytest.mark.unmigrated_db
def test_a_legacy_record_edited_before_the_seal_is_still_reported(settings):
    _legacy_install(settings)
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        _drop_guards(conn)
        conn.execute(text("UPDATE audit_log SET status_code = 200 WHERE id = 3"))
    engine.dispose()
    app = create_app(settings)
    try:
        seal = _rows(app)[-1]
        assert seal["action"] == "audit.seal" and seal["outcome"] == "rejected"
        code, output = _cli(settings, "verify")
        assert code == 1
        assert "record 3: content does not match its hash" in output
    finally:
        app.state.runtime.engine.dispose()
