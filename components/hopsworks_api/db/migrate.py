"""Run Alembic programmatically so `hops serve` migrates the schema on start."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _one_at_a_time(engine):
        # A schema at head (every start but the first after an upgrade) needs nothing:
        # Alembic's own way to find that out loads every revision file, ~35 ms a start.
        if revision == "head" and current_revision(engine) == head_revision():
            return
        command.upgrade(alembic_config(engine), revision)


@contextmanager
def _one_at_a_time(engine: Engine) -> Iterator[None]:
    """Instances starting together migrate one after the other; the later ones find the
    schema at head and do nothing. MariaDB commits DDL implicitly, so a transaction cannot
    order them: a named lock held on its own connection does. On SQLite the migrations'
    transaction begins IMMEDIATE (see env.py and db.engine), which already queues them."""
    if engine.dialect.name not in ("mysql", "mariadb"):
        yield
        return
    name = f"hops-migrate:{engine.url.database}"[:64]
    with engine.connect() as conn:
        taken = conn.execute(text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": 600})
        if taken.scalar() != 1:
            raise RuntimeError(f"another instance held the migration lock {name!r} for 10 min")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})


@functools.cache  # the revision files of this installed package: fixed while it runs
def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
