"""The driver-cursor reads (db/driver_reads.py) give what the ORM gives, on both dialects."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, inspect, literal_column, select, text
from sqlalchemy.exc import DBAPIError

from hopsworks_api.db.driver_reads import (
    DriverSelect,
    EntityColumns,
    SessionReads,
    read_cursor,
)
from hopsworks_api.projects.models import Project
from hopsworks_api.users.models import User
from tests.support.api import Api

_USER = EntityColumns(User, prefix="user_")
_USER_BY_EMAIL = DriverSelect(select(*_USER.columns).where(User.email == bindparam("email")))
_PROJECT_BY_NAME = DriverSelect(select(Project.id).where(Project.name == bindparam("name")))


def test_a_user_read_on_the_driver_equals_the_orm_loaded_one(api: Api, app) -> None:  # type: ignore[no-untyped-def]
    rt = app.state.runtime
    with read_cursor(rt.engine) as reads:
        row = reads.first(_USER_BY_EMAIL, email=api.email("admin"))
    user = _USER.instance(row)
    with rt.read_sessions() as session:
        loaded = session.scalar(select(User).where(User.email == api.email("admin")))
    assert loaded is not None
    for column in User.__table__.columns:
        mine, theirs = getattr(user, column.key), getattr(loaded, column.key)
        assert (mine, type(mine)) == (theirs, type(theirs)), column.key
    assert user.is_admin is True  # a bool, not SQLite's 1
    state = inspect(user)
    assert state.detached and not state.modified  # as a closed session leaves it


def test_a_missing_row_is_none_and_all_reads_every_row(api: Api, app) -> None:  # type: ignore[no-untyped-def]
    rt = app.state.runtime
    with read_cursor(rt.engine) as reads:
        assert reads.first(_USER_BY_EMAIL, email="nobody@example.org") is None
        everyone = reads.all(DriverSelect(select(User.email).order_by(User.email)))
    assert [row.email for row in everyone] == sorted(
        api.email(name) for name in ("admin", "owner", "scientist", "outsider")
    )


def test_session_reads_see_the_flushed_rows_a_driver_cursor_does_not(app) -> None:  # type: ignore[no-untyped-def]
    rt = app.state.runtime
    with rt.sessions() as session:
        session.add(Project(name="not_committed"))
        assert SessionReads(session).first(_PROJECT_BY_NAME, name="not_committed") is not None
        with read_cursor(rt.engine) as reads:
            assert reads.first(_PROJECT_BY_NAME, name="not_committed") is None
        session.rollback()


def test_queries_the_driver_path_cannot_run_as_written_are_refused(app) -> None:  # type: ignore[no-untyped-def]
    dialect = app.state.runtime.engine.dialect
    expanding = DriverSelect(select(User.id).where(User.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="expanding"):
        expanding.plan(dialect)
    twice = DriverSelect(select(User.id, Project.id).join(Project, Project.created_by == User.id))
    with pytest.raises(ValueError, match="distinct names"):
        twice.plan(dialect)


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(app) -> None:  # type: ignore[no-untyped-def]
    """So the API answers it as it answers the ORM's (errors.py), parameters hidden."""
    rt = app.state.runtime
    gone = DriverSelect(select(literal_column("1").label("one")).select_from(text("no_table")))
    with read_cursor(rt.engine) as reads, pytest.raises(DBAPIError) as raised:
        reads.first(gone)
    # the class SQLAlchemy maps the driver's to (sqlite3 and PyMySQL name it differently)
    assert type(raised.value).__name__ == type(raised.value.orig).__name__
    assert "no_table" in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value) or "[parameters" not in str(
        raised.value
    )
    with read_cursor(rt.engine) as reads:  # the pool still serves
        assert reads.first(_PROJECT_BY_NAME, name="nothing") is None
