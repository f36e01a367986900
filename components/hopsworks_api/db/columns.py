"""Column queries on the hot paths, without the ORM layer.

A prebuilt `select` of columns (not entities) executed through `Session.execute` still goes
through the ORM's compile and result machinery, ~100 us a query on SQLite, more than the
query itself (docs/performance.md). Executed on the session's own connection it is the same
statement in the same transaction, at Core's cost.
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def columns(session: Session) -> Connection:
    """The session's connection, after the flush the ORM would have done before a query:
    rows the session added are visible to the query, as with `session.execute`."""
    session.flush()
    return session.connection()
