"""Ids are never handed out twice, on either database, and migration 0006 gets an existing
database there without losing a row (its SQLite table rebuilds must not cascade)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

import hopsworks_api.main  # noqa: F401 - imports every model module
from hopsworks_api.db.base import Base
from hopsworks_api.db.engine import create_db_engine
from hopsworks_api.db.migrate import upgrade

# Tables whose integer key needs no AUTOINCREMENT, and why.
EXEMPT = {
    "audit_log": "append-only (triggers refuse DELETE): no id is ever freed",
    "audit_head": "a single row with a fixed id",
}


def surrogate_key_tables() -> list[str]:
    """Every table with a generated integer id: the ones other rows or credentials name."""
    return sorted(
        name
        for name, table in Base.metadata.tables.items()
        if table.autoincrement_column is not None and name not in EXEMPT
    )


def test_no_table_hands_out_an_id_twice(settings):
    tables = surrogate_key_tables()
    assert {"users", "api_keys", "projects", "datasets", "certificates"} <= set(tables)
    engine = create_db_engine(settings.database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type='table'"))
                ddl = {row.name: row.sql for row in rows}
                missing = [t for t in tables if "AUTOINCREMENT" not in ddl[t]]
                assert missing == [], f"tables that would reuse a deleted row's id: {missing}"
            else:
                # InnoDB keeps its auto-increment counter across restarts since MariaDB
                # 10.2.4, and never hands a value out twice.
                rows = conn.execute(
                    text(
                        "SELECT table_name, engine FROM information_schema.tables "
                        "WHERE table_schema = DATABASE()"
                    )
                )
                engines = {row[0]: row[1] for row in rows}
                assert {engines[t] for t in tables} == {"InnoDB"}
                major, minor, patch = (
                    int(x) for x in conn.scalar(text("SELECT VERSION()")).split("-")[0].split(".")
                )
                assert (major, minor, patch) >= (10, 2, 4)
    finally:
        engine.dispose()


@pytest.mark.unmigrated_db
def test_upgrade_keeps_every_row_and_every_child(settings):
    """With the service's engine: on SQLite it switches foreign keys on for every
    connection, which is what would make a table rebuild cascade."""
    engine = create_db_engine(settings.database_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, username, password_hash, first_name, "
                    "last_name, is_admin, is_active, created_at) VALUES "
                    "(1, 'a@x.org', 'a', 'h', '', '', 1, 1, '2026-01-01'),"
                    "(2, 'b@x.org', 'b', 'h', '', '', 0, 1, '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO projects (id, name, description, created_by, updated_at, "
                    "created_at) VALUES (7, 'p1', '', 2, '2026-01-01', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO memberships (project_id, user_id, role, created_at) "
                    "VALUES (7, 2, 'data_owner', '2026-01-01')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO api_keys (id, user_id, name, prefix, secret_hash, created_at) "
                    "VALUES (3, 2, 'k', 'abc', 'h', '2026-01-01')"
                )
            )
        upgrade(engine)
        with engine.begin() as conn:
            subjects = conn.execute(text("SELECT id, subject, token_version FROM users")).all()
            assert [(r.id, r.token_version) for r in sorted(subjects)] == [(1, 0), (2, 0)]
            assert len({r.subject for r in subjects}) == 2
            assert all(len(r.subject) == 32 for r in subjects)
            assert conn.execute(text("SELECT user_id FROM memberships")).scalars().all() == [2]
            assert conn.execute(text("SELECT user_id FROM api_keys")).scalars().all() == [2]
            assert conn.execute(text("SELECT created_by FROM projects")).scalars().all() == [2]
            # the newest account is deleted; the next one does not get its id
            conn.execute(text("DELETE FROM users WHERE id = 2"))
            conn.execute(
                text(
                    "INSERT INTO users (email, username, password_hash, first_name, last_name,"
                    " is_admin, is_active, created_at, subject, token_version) VALUES "
                    "('c@x.org', 'c', 'h', '', '', 0, 1, '2026-01-01', 'c' , 0)"
                )
            )
            assert conn.scalar(text("SELECT id FROM users WHERE email = 'c@x.org'")) == 3
        assert "subject" in {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
