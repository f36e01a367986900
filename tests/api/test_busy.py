"""A transaction the database rolls back for a lock wait answers 503 `busy` with
`Retry-After` on every route, not only on those wrapped in `busy_on_lock_conflict`; any
other database error stays a 500 (it is a fault, not bad input)."""

from __future__ import annotations

import pymysql
import pytest
from sqlalchemy.exc import OperationalError

from tests.support.api import Api


def _raise(code: int):  # type: ignore[no-untyped-def]
    def fail(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT ...", {}, pymysql.err.OperationalError(code, "lost"))

    return fail


@pytest.mark.parametrize("code", [1213, 1205])
def test_a_lost_lock_wait_in_an_unwrapped_use_case_is_503_busy(api: Api, monkeypatch, code):
    from hopsworks_api.datasets import views

    monkeypatch.setattr(views.service, "create", _raise(code))
    reply = api.call("owner", "POST", "/api/projects/demo/datasets", json={"name": "raced"})
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "busy"
    assert reply.headers["Retry-After"] == "1"
    assert reply.headers["X-Request-ID"]  # answered inside the middleware stack


def test_any_other_database_error_is_still_a_500(api: Api, monkeypatch):
    from hopsworks_api.datasets import views

    monkeypatch.setattr(views.service, "create", _raise(2013))  # lost connection
    reply = api.call("owner", "POST", "/api/projects/demo/datasets", json={"name": "raced"})
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal_error"
