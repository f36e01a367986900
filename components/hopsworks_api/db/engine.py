"""Engine and session factory for SQLite (embedded) and MySQL/MariaDB (clusters).

SQLite gets `BEGIN IMMEDIATE` on every transaction so concurrent writers queue on the
busy timeout instead of failing halfway through a read-then-write; WAL keeps readers
unblocked. Foreign keys are switched on because cascades are how nothing is orphaned.

MariaDB may be a Galera cluster: `failover_nodes` are further (host, port) nodes, and every new
connection goes to the first node that answers, the URL's host first. All instances of the
service so write to one node while it lives (concurrent writes on several nodes would fail
Galera's certification more often), and `pool_pre_ping` replaces the pool's connections to a
node that died, so requests keep being answered through a node's death and return.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(url: str, failover_nodes: Sequence[tuple[str, int]] = ()) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
            pool_size=20,
        )
        _configure_sqlite(engine)
        return engine
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=20, max_overflow=20, pool_recycle=3600
    )
    if failover_nodes:
        first = (parsed.host or "localhost", parsed.port or 3306)
        _connect_to_first_answering(engine, [first, *failover_nodes])
    return engine


def _connect_to_first_answering(engine: Engine, nodes: Sequence[tuple[str, int]]) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(dialect, _record, cargs, cparams: dict[str, Any]):  # type: ignore[no-untyped-def]
        dbapi = dialect.loaded_dbapi
        failure: Exception | None = None
        for host, port in nodes:
            try:
                connection = dbapi.connect(*cargs, **{**cparams, "host": host, "port": port})
            except dbapi.OperationalError as error:
                failure = error
                continue
            if _serving(connection):
                return connection
            connection.close()
            failure = dbapi.OperationalError(f"{host}:{port} is not a synced cluster node")
        assert failure is not None
        raise failure


def _configure_sqlite(engine: Engine) -> None:
    writer = _WriterTurn()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # on the driver's connection itself: SQLAlchemy's own path costs more than the
        # statement, and every request pays it (docs/performance.md)
        raw = conn.connection.dbapi_connection
        if conn.get_execution_options().get(READ_ONLY, False):
            raw.execute("BEGIN")
            return
        writer.take(conn.info)
        try:
            raw.execute("BEGIN IMMEDIATE")
        except BaseException:
            writer.give_back(conn.info)
            raise

    # the turn ends as the transaction does (just before its COMMIT or ROLLBACK runs: a
    # writer starting in that instant waits on SQLite's busy handler for it, once)
    for name in ("commit", "rollback"):
        event.listen(engine, name, lambda conn: writer.give_back(conn.info))

    # a connection returned or dropped without either (an error in between) gives it back too
    @event.listens_for(engine.pool, "invalidate")
    def _on_invalidate(_dbapi, record, _error) -> None:  # type: ignore[no-untyped-def]
        writer.give_back(record.info)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi, record) -> None:  # type: ignore[no-untyped-def]
        writer.give_back(record.info)


BUSY_TIMEOUT_SECONDS = 60


class _WriterTurn:
    """SQLite has one writer at a time. Left to itself, a writer that finds the database
    locked sleeps and polls (the busy handler: 1, 2, 5 ... 100 ms), so under load writers
    queued behind each other for whole seconds while the lock was free most of the time
    (p99 2.3 s with 30 clients, docs/performance.md). Writers of this process take turns on
    a lock instead and start the moment the previous one ends; other processes (`--workers`,
    the CLI) are still ordered by SQLite's own lock and busy timeout."""

    _HELD = "hops_writer_turn"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, info: dict[str, Any]) -> None:
        if info.get(self._HELD):  # this connection's turn has not ended: still its own
            return
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            )
        info[self._HELD] = True

    def give_back(self, info: dict[str, Any]) -> None:
        if info.pop(self._HELD, False):
            self._lock.release()


READ_ONLY = "hops_read_only"


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def create_read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for use cases that only read: on SQLite they take no write lock, so
    token checks and listings never queue behind writers (WAL gives them a snapshot)."""
    return sessionmaker(bind=engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _serving(connection: Any) -> bool:
    """False for a Galera node that accepts connections but not yet queries (joining, or
    cut off from the primary component); a server not in a cluster has `wsrep_on` off."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT VARIABLE_NAME, UPPER(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS "
            "WHERE VARIABLE_NAME = 'WSREP_READY' UNION ALL SELECT VARIABLE_NAME, "
            "UPPER(VARIABLE_VALUE) FROM information_schema.GLOBAL_VARIABLES "
            "WHERE VARIABLE_NAME = 'WSREP_ON'"
        )
        found = dict(cursor.fetchall())
    return found.get("WSREP_ON", "OFF") != "ON" or found.get("WSREP_READY") == "ON"
