"""Migrate once per session, copy per test.

Why: every test that builds an app used to run all of Alembic's migrations on a new
database (SQLite table rebuilds included): two fifths of the suite's time, spent proving the
same thing again. The migrations themselves are proved by the tests that ask for an
unmigrated database (``@pytest.mark.unmigrated_db``); every other test starts from a copy of
one database migrated at the start of the session, which the app's own ``migrate.upgrade``
then finds at head.

SQLite copies the file. MariaDB has no CREATE DATABASE ... TEMPLATE, so the template's
tables (with their keys and counters), rows and triggers are read once and replayed into
each new database.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine

from hopsworks_api.db import migrate
from tests.support.mariadb import MariaDBServer


def migrated_sqlite_file(path: Path) -> Path:
    """A SQLite database at ``path``, migrated to head."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return path


def copy_sqlite(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@dataclass
class MariaDBTemplate:
    """What a migrated MariaDB database holds, as statements that rebuild it."""

    tables: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[tuple]]] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, server: MariaDBServer, name: str = "t_template") -> MariaDBTemplate:
        """Migrate a database called ``name`` and read back everything in it."""
        url = server.create_database(name)
        engine = create_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        template = cls()
        with server.admin_connection(name) as conn, conn.cursor() as cur:
            cur.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
            names = [row[0] for row in cur.fetchall()]
            for table in names:
                cur.execute(f"SHOW CREATE TABLE `{table}`")
                template.tables.append(cur.fetchone()[1])
                cur.execute(f"SELECT * FROM `{table}`")
                rows = list(cur.fetchall())
                if rows:
                    template.rows.append((table, rows))
            cur.execute("SHOW TRIGGERS")
            for trigger in [row[0] for row in cur.fetchall()]:
                cur.execute(f"SHOW CREATE TRIGGER `{trigger}`")
                template.triggers.append(cur.fetchone()[2])
        server.drop_database(name)
        return template

    def create(self, server: MariaDBServer, name: str) -> str:
        """A new database ``name`` holding what the template held; its URL."""
        url = server.create_database(name)
        with server.admin_connection(name) as conn, conn.cursor() as cur:
            cur.execute("SET FOREIGN_KEY_CHECKS = 0")
            for statement in self.tables:
                cur.execute(statement)
            for table, rows in self.rows:
                marks = ", ".join(["%s"] * len(rows[0]))
                cur.executemany(f"INSERT INTO `{table}` VALUES ({marks})", rows)
            for statement in self.triggers:
                cur.execute(statement)
        return url
