"""The hottest reads (authenticating a request, resolving the caller's project) on the
database driver's own cursor.

Each of those reads is one indexed lookup: ~10 us in SQLite itself, but ~250 us through an
ORM session (session, `Connection`, the transaction events, the result machinery) and
~130 us through a Core `Connection`. Every authenticated request pays two of them, so they
were most of the cost of a read (docs/performance.md). Here a Core `select` is still the
one definition of the query: it is compiled once per dialect, and its bind and result
types are applied with their own processors (`TypeEngine.bind_processor` /
`result_processor`), so values come back as the ORM would give them.

A `read_cursor` is a pooled connection (checked out and returned as the ORM's would be,
MariaDB's pre-ping and reset included) outside any transaction of SQLAlchemy's: each
statement reads committed rows (SQLite: its own snapshot; MariaDB: the pool's rollback on
return ends the read). Only single-row and small reads of plain columns belong here;
anything that writes, locks or needs one snapshot across statements uses a session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import Engine, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, class_mapper, make_transient_to_detached
from sqlalchemy.pool import PoolProxiedConnection

M = TypeVar("M")
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    compiled: Any  # SQLCompiler: construct_params, positiontup
    bind_processors: Mapping[str, Processor]
    result_processors: tuple[Processor, ...]
    row: type[tuple[Any, ...]]


class DriverSelect:
    """A Core `select` of columns, run on a driver cursor (see the module docstring)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}  # by dialect name, compiled once

    def plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("expanding (IN) parameters are not supported on the driver path")
        columns = list(self.statement.selected_columns)
        keys = [column.key for column in columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"selected columns need distinct names (label them): {keys}")
        return _Plan(
            sql=compiled.string,
            compiled=compiled,
            bind_processors={
                name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                for name, bind in compiled.binds.items()
            },
            result_processors=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ),
            row=NamedTuple("Row", [(key, Any) for key in keys]),  # type: ignore[misc]
        )


class ReadCursor:
    """A driver cursor of a pooled connection, running `DriverSelect`s."""

    def __init__(self, connection: PoolProxiedConnection, cursor: Any, dialect: Dialect) -> None:
        self._connection = connection
        self._cursor = cursor
        self._dialect = dialect

    def _execute(self, query: DriverSelect, params: Mapping[str, Any]) -> _Plan:
        plan = query.plan(self._dialect)
        values = plan.compiled.construct_params(params)
        for name, process in plan.bind_processors.items():
            if process is not None and name in values:
                values[name] = process(values[name])
        positions = plan.compiled.positiontup
        arguments = [values[name] for name in positions] if positions is not None else values
        with self._as_sqlalchemy_errors(plan.sql, arguments):
            self._cursor.execute(plan.sql, arguments)
        return plan

    @contextmanager
    def _as_sqlalchemy_errors(self, sql: str, arguments: Any) -> Iterator[None]:
        """The driver's errors as SQLAlchemy raises them (`OperationalError` for a lost
        server or a lock wait, which the API answers as it does for the ORM's), and a
        connection the server dropped leaves the pool instead of going back to it."""
        base = self._dialect.loaded_dbapi.Error
        try:
            yield
        except base as error:
            lost = self._dialect.is_disconnect(error, self._connection.dbapi_connection, None)
            if lost:
                self._connection.invalidate(error)
            raise DBAPIError.instance(
                sql,
                arguments,
                error,
                base,
                hide_parameters=True,  # a key's prefix, a name: not for the logs
                connection_invalidated=lost,
                dialect=self._dialect,
            ) from error

    def _row(self, plan: _Plan, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        return plan.row(
            *(
                value if process is None else process(value)
                for process, value in zip(plan.result_processors, raw, strict=True)
            )
        )

    def first(self, query: DriverSelect, **params: Any) -> Any:
        plan = self._execute(query, params)
        with self._as_sqlalchemy_errors(plan.sql, params):
            raw = self._cursor.fetchone()
            self._cursor.fetchall()  # the rest, so the statement is finished on every driver
        return None if raw is None else self._row(plan, raw)

    def all(self, query: DriverSelect, **params: Any) -> list[Any]:
        plan = self._execute(query, params)
        with self._as_sqlalchemy_errors(plan.sql, params):
            rows = self._cursor.fetchall()
        return [self._row(plan, raw) for raw in rows]


@contextmanager
def read_cursor(engine: Engine) -> Iterator[ReadCursor]:
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            yield ReadCursor(connection, cursor, engine.dialect)
        finally:
            cursor.close()
    finally:
        connection.close()  # back to the pool, which resets (rolls back) it


class EntityColumns(Generic[M]):
    """A model's columns selected as `<prefix><column>` (beside other columns, without a
    clash), and the instance built back from a row of them: the naming in one place."""

    def __init__(self, model: type[M], prefix: str) -> None:
        self.model = model
        table_columns = model.__table__.columns  # type: ignore[attr-defined]
        self.columns = [column.label(prefix + column.key) for column in table_columns]
        self._keys = [
            (column.key, label.name)
            for column, label in zip(table_columns, self.columns, strict=True)
        ]

    def instance(self, row: Any) -> M:
        """The instance as a session that loaded it and closed would leave it (detached,
        nothing pending), so it behaves like the ORM-loaded object it replaces. Built as
        the ORM's loader builds one (a new instance, its loaded values in its dict): the
        instrumented constructor's attribute events tripled the cost."""
        instance = class_mapper(self.model).class_manager.new_instance()
        instance.__dict__.update({key: getattr(row, label) for key, label in self._keys})
        make_transient_to_detached(instance)
        return instance


class SessionReads:
    """The same queries inside a session's transaction (seeing what it flushed), for the
    use cases that read on the way to a write."""

    def __init__(self, session: Session) -> None:
        # on the session's connection (a column query through `Session.execute` went
        # through the ORM's compile and result machinery for nothing), after the flush the
        # ORM would have done before a query, so rows the session added are seen
        session.flush()
        self._connection = session.connection()

    def first(self, query: DriverSelect, **params: Any) -> Any:
        return self._connection.execute(query.statement, params).first()

    def all(self, query: DriverSelect, **params: Any) -> list[Any]:
        return list(self._connection.execute(query.statement, params).all())


Reads = ReadCursor | SessionReads


def reads_of(source: Session | Reads) -> Reads:
    """Queries written once for both paths: a session's transaction or a driver cursor."""
    return SessionReads(source) if isinstance(source, Session) else source
