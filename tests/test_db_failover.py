"""A metadata DB of several nodes (Galera): a new connection goes to the first node that
answers, the URL's host first, and a pool whose node died reconnects to the next one
(db/engine.py). The lab's Galera test does this against a real cluster."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from hopsworks_api.config import Settings
from hopsworks_api.db.engine import create_db_engine
from tests.support.mariadb import MariaDBServer
from tests.support.processes import free_port


@pytest.fixture
def database(mariadb: MariaDBServer):  # type: ignore[no-untyped-def]
    name = "failover_test"
    url = mariadb.create_database(name)
    yield make_url(url)
    mariadb.drop_database(name)


def served_by(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT @@port")).scalar_one())


def test_a_dead_first_node_is_passed_over(database, mariadb: MariaDBServer) -> None:  # type: ignore[no-untyped-def]
    dead = free_port()
    engine = create_db_engine(
        database.set(port=dead).render_as_string(hide_password=False),
        [("127.0.0.1", free_port()), ("127.0.0.1", mariadb.port)],
    )
    assert served_by(engine) == mariadb.port
    engine.dispose()


def test_the_first_node_is_preferred_while_it_answers(database, mariadb: MariaDBServer) -> None:  # type: ignore[no-untyped-def]
    url = database.render_as_string(hide_password=False)
    engine = create_db_engine(url, [("127.0.0.1", free_port())])
    assert served_by(engine) == mariadb.port
    engine.dispose()


def test_no_node_answering_is_the_drivers_error(database) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    url = database.set(port=free_port()).render_as_string(hide_password=False)
    engine = create_db_engine(url, [("127.0.0.1", free_port())])
    with pytest.raises(OperationalError):
        served_by(engine)


@pytest.mark.parametrize(
    ("given", "nodes"),
    [
        (["db2"], [("db2", 3306)]),
        (["db2:3307", "10.0.0.7:3306"], [("db2", 3307), ("10.0.0.7", 3306)]),
        (["[fd00::7]:3306", "[fd00::8]"], [("fd00::7", 3306), ("fd00::8", 3306)]),
    ],
)
def test_failover_hosts_are_read_from_the_environment(monkeypatch, given, nodes) -> None:  # type: ignore[no-untyped-def]
    import json

    monkeypatch.setenv("HOPS_DATABASE_FAILOVER_HOSTS", json.dumps(given))
    assert Settings().database_failover_nodes == nodes


@pytest.mark.parametrize("bad", ["db2:0", "db2:http", ":3306", "db2:99999"])
def test_a_bad_failover_host_is_refused_at_startup(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not host or host:port"):
        Settings(database_failover_hosts=[bad])
