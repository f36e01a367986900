"""Alembic environment: the engine is handed in by hopsworks_api.db.migrate."""

from __future__ import annotations

from alembic import context

from hopsworks_api.db.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    raw = connection.connection.driver_connection
    if sqlite:
        # Batch migrations rebuild SQLite tables (copy, drop, rename). With foreign keys on,
        # dropping a parent would run its ON DELETE actions and empty its children; the
        # pragma only takes effect outside a transaction, hence before `begin`.
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left dangling references: {broken[:5]}")
    finally:
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")
