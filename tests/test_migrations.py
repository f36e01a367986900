"""The migrations build exactly the schema the models declare, on both databases, and
downgrade cleanly: a column added to a model without a migration (or the reverse) fails."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

import hopsworks_api.main  # noqa: F401 - imports every model module
from hopsworks_api.db.base import Base
from hopsworks_api.db.migrate import alembic_config, upgrade


@pytest.mark.unmigrated_db
def test_migrations_match_the_models(settings):
    engine = create_engine(settings.database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


@pytest.mark.unmigrated_db
def test_migrations_downgrade_to_the_start_and_back(settings):
    from alembic import command

    engine = create_engine(settings.database_url)
    try:
        upgrade(engine)
        command.downgrade(alembic_config(engine), "0003")
        upgrade(engine)
    finally:
        engine.dispose()
