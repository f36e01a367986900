"""Put a deleted row back as it was, id included: how a use case undoes its deletion of a
row when a system refused the change (provisioning's compensation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class RowCopy:
    model: type
    values: dict[str, Any]

    def restore(self, session: Session) -> None:
        session.execute(insert(self.model).values(**self.values))


def copy_of(row: object) -> RowCopy:
    mapper = inspect(type(row))
    values = {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}
    return RowCopy(type(row), values)
