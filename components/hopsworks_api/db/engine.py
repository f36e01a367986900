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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(url: str, failover_nodes: Sequence[tuple[str, int]] = ()) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=20
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
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        readonly = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


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
