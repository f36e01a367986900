"""The request path of issue 19 keeps its guarantees: where hot reads run, the audit
group commit (every record, one chain, fewer transactions than records), the turn
SQLite writers of a process take (given back whatever ends the transaction), and routes
matched once (no included router)."""

from __future__ import annotations

import asyncio
import threading

import anyio
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from sqlalchemy import event, func, select, text
from starlette.routing import Mount, Route

from hopsworks_api import api as api_routes
from hopsworks_api.audit.keys import load_audit_key
from hopsworks_api.audit.models import AuditRecord
from hopsworks_api.audit.service import AuditEntry, verify
from hopsworks_api.audit.writer import AuditWriter
from hopsworks_api.db.engine import create_db_engine, create_session_factory, is_sqlite
from hopsworks_api.paths import API, SDK
from hopsworks_api.reads import run_read
from hopsworks_api.sdk_compat import router as sdk_routes
from tests.support.api import Api


def test_every_api_route_is_matched_directly_under_its_mount_point(app) -> None:
    """No included router in the app's routes: FastAPI matches an included router's routes
    twice a request (hopsworks_api.paths). Every API route carries its full path."""
    assert all(isinstance(r, APIRoute | APIWebSocketRoute | Route | Mount) for r in app.routes)
    assert all(r.path.startswith(API + "/") for r in api_routes.routes)  # type: ignore[attr-defined]
    assert all(r.path.startswith(SDK + "/") for r in sdk_routes.routes)  # type: ignore[attr-defined]
    assert not any(r.include_in_schema for r in sdk_routes.routes)  # type: ignore[attr-defined]
    mounted = {id(r) for r in app.routes}
    assert all(id(r) in mounted for r in [*api_routes.routes, *sdk_routes.routes])
    assert len(api_routes.routes) + len(sdk_routes.routes) > 100


def test_hot_reads_run_inline_only_on_sqlite_with_the_embedded_storage(app) -> None:
    rt = app.state.runtime
    assert rt.inline_reads is is_sqlite(rt.engine)
    threads: list[threading.Thread] = []

    async def where() -> None:
        await run_read(rt, lambda: threads.append(threading.current_thread()))

    loop_thread = anyio.run(_thread_of_loop_running, where)
    assert (threads[0] is loop_thread) is rt.inline_reads


async def _thread_of_loop_running(step) -> threading.Thread:  # type: ignore[no-untyped-def]
    await step()
    return threading.current_thread()


def test_audit_records_are_group_committed_and_the_chain_verifies(app, settings) -> None:
    rt = app.state.runtime
    key = load_audit_key(settings, create=False)
    transactions = []
    event.listen(rt.engine, "commit", lambda conn: transactions.append(1))
    writer = AuditWriter(rt.sessions, key)
    entries = [
        AuditEntry("someone@x.io", None, "file.read", f"Resources/{n}", "ok", 200, "127.0.0.1")
        for n in range(40)
    ]

    async def record_all() -> None:
        await asyncio.gather(*(writer.record(entry) for entry in entries))

    with rt.read_sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuditRecord))
    asyncio.run(record_all())
    with rt.read_sessions() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()[before:]
        assert [row.target for row in rows] == [entry.target for entry in entries]
        assert verify(session, key).ok
    assert 1 <= len(transactions) < len(entries)  # batched, not one transaction each


def test_listing_a_directory_is_audited_once_per_request(api: Api) -> None:
    for _ in range(3):
        assert api.call("owner", "GET", "/api/projects/demo/datasets/Resources/files").is_success
    reply = api.call("owner", "GET", "/api/projects/demo/activity?limit=20")
    assert reply.status_code == 200, reply.text
    feed = reply.json()
    reads = [r for r in feed["items"] if r["action"] == "file.read" and r["target"] == "Resources"]
    assert len(reads) == 3


@pytest.mark.parametrize("ending", ["commit", "rollback", "error"])
def test_a_sqlite_writer_gives_its_turn_back_however_the_transaction_ends(tmp_path, ending):
    engine = create_db_engine(f"sqlite:///{tmp_path}/turn.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    sessions = create_session_factory(engine)
    try:
        with sessions() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            if ending == "commit":
                session.commit()
            elif ending == "error":
                session.execute(text("INSERT INTO missing VALUES (1)"))
    except Exception:
        assert ending == "error"
    done = threading.Event()

    def another_writer() -> None:
        with sessions() as session:
            session.execute(text("INSERT INTO t VALUES (2)"))
            session.commit()
        done.set()

    worker = threading.Thread(target=another_writer, daemon=True)
    worker.start()
    assert done.wait(10), f"the turn was not given back after a {ending}"
    with sessions() as session:
        values = sorted(session.scalars(text("SELECT x FROM t")))
    assert values == ([1, 2] if ending == "commit" else [2])
    engine.dispose()


def test_sqlite_writers_of_one_process_all_finish_in_turn(tmp_path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path}/turns.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    sessions = create_session_factory(engine)

    def write(n: int) -> None:
        for i in range(20):
            with sessions() as session:
                session.execute(text("INSERT INTO t VALUES (:x)"), {"x": n * 100 + i})
                session.commit()

    workers = [threading.Thread(target=write, args=(n,)) for n in range(10)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    with sessions() as session:
        assert session.scalar(text("SELECT COUNT(*) FROM t")) == 200
    engine.dispose()
