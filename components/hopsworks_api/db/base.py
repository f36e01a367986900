"""Declarative base shared by every domain's ORM classes."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# MySQL's DATETIME drops microseconds unless asked; audit hashes cover them.
PreciseDateTime = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


# SQLite hands out the largest rowid + 1, so deleting the newest row frees its id for the
# next insert, unless the table is AUTOINCREMENT. Every table whose integer ids other rows
# or credentials name uses this in `__table_args__` (MariaDB/InnoDB never reuses them).
# Reflection does not see AUTOINCREMENT: a batch migration that rebuilds such a table on
# SQLite must pass `table_kwargs=NEVER_REUSE_IDS` (tests/api/test_identity_migration.py
# fails otherwise).
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(PreciseDateTime, default=utcnow, nullable=False)
