"""`HiveServer2Hive`: project databases in a real HiveServer2 (or Spark Thrift Server).

It speaks the HiveServer2 Thrift protocol through PyHive, over a transport it builds itself
so that both phases are bounded: the TCP connect and the SASL/OpenSession handshake by
``connect_timeout_s``, every later request (a statement runs synchronously, so this bounds
the statement) by ``query_timeout_s``. A dead server fails at once (connection refused), a
silent one after those timeouts, always as ``BackendUnavailable("hive", ...)``; nothing
waits forever. Each operation uses a fresh session: a session whose socket timed out is in
an unknown state and is never reused, and a control service issues few Hive statements.

Authentication (``auth``): ``NONE`` (HiveServer2's default, and Spark Thrift Server's: SASL
PLAIN whose password is ignored; pure-sasl, no C library), ``NOSASL`` (a server configured
``hive.server2.authentication=NOSASL``: a bare buffered transport), ``LDAP`` / ``CUSTOM``
(SASL PLAIN with ``password``). Kerberos is not wired here.

Grants: statements are always generated (see `base.plan_privileges`). With ``grants="auto"``
the first GRANT/REVOKE tells whether the server takes them; Spark Thrift Server's parser
rejects GRANT, REVOKE and SHOW GRANT, so there the result says ``applied=False`` and
``list_grants`` returns None. ``grants="require"`` turns that into BackendUnavailable (a
deployment that relies on Hive for access control must not run without it); ``"off"``
never sends them (for a deployment where storage permissions or Ranger policies do it).
Hive answers "already granted" and "cannot find privilege" for repeats, which are success
for an idempotent step.

Size: by default the bytes under the database location when it is a ``file:`` location (the
server's warehouse on this machine); otherwise, or when the probe answers None, the sum of
the tables' statistics (``DESCRIBE TABLE EXTENDED``), marked ``size_source="table_stats"``.
For HDFS pass ``size_probe`` reading the location's WebHDFS content summary: that is the
figure an HDFS quota on the ``.db`` directory enforces.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from hopsworks_api.backends.errors import BackendUnavailable
from hopsworks_api.backends.hive.base import (
    PRIVILEGES,
    SYSTEM,
    GrantPlan,
    GrantResult,
    HiveDatabase,
    PlannedGrants,
    default_location,
    is_project_database,
    location_path,
    normalize_location,
    quote_identifier,
    same_location,
    sql_create_database,
    sql_drop_database,
    validate_location,
    validate_project,
)
from hopsworks_api.backends.hive.embedded import directory_size
from hopsworks_api.errors import Conflict, NotFound

log = logging.getLogger(__name__)

GrantMode = Literal["auto", "require", "off"]
Auth = Literal["NONE", "NOSASL", "LDAP", "CUSTOM"]

# Server messages, matched case-insensitively (Hive 2/3/4 and Spark 3/4 wordings).
NOT_FOUND_MARKERS = (
    "schema_not_found",
    "nosuchnamespaceexception",
    "nosuchdatabaseexception",
    "database does not exist",
)
ALREADY_EXISTS_MARKERS = ("schema_already_exists", "already exists")
GRANT_UNSUPPORTED_MARKERS = (
    "invalid_statement_or_clause",  # Spark 4: "The statement or clause: GRANT is not valid"
    "operation not allowed",  # Spark 3
    "parseexception",
    "is not supported",
    "authorization is disabled",
)
ALREADY_GRANTED_MARKERS = ("already granted", "already exists", "alreadyexists")
NOT_GRANTED_MARKERS = ("cannot find privilege", "no privilege", "does not have privilege")

STATS_BYTES_RE = re.compile(r"(\d+)\s+bytes")  # Spark: "Statistics | 657 bytes, 2 rows"
TOTAL_SIZE_RE = re.compile(r"totalSize\W{1,3}(\d+)")  # Hive: "totalSize=657" / "totalSize  657"


class ServerError(Exception):
    """The server refused a statement; ``message`` is its error text."""

    def __init__(self, statement: str, message: str) -> None:
        super().__init__(message)
        self.statement = statement
        self.message = message

    def has(self, markers: Sequence[str]) -> bool:
        low = self.message.lower()
        return any(m in low for m in markers)


def local_file_size(location: str) -> int | None:
    """Bytes under a ``file:`` location on this machine; None for any other file system."""
    value = normalize_location(location)
    if not value.startswith("file:"):
        return None
    return directory_size(Path(location_path(value)))


def _server_message(exc: Exception) -> str:
    response = exc.args[0] if exc.args else None
    status = getattr(response, "status", None)
    message = getattr(status, "errorMessage", None)
    return str(message or exc)


class _Cursor:
    """A PyHive cursor that raises `ServerError` for refused statements and
    BackendUnavailable for transport failures, and returns rows with column names."""

    def __init__(self, cursor: Any, where: str) -> None:
        self._cursor = cursor
        self._where = where

    def run(self, statement: str) -> list[tuple[Any, ...]]:
        from pyhive import exc as pyhive_exc

        try:
            self._cursor.execute(statement)
            return list(self._cursor.fetchall()) if self._cursor.description else []
        except pyhive_exc.DatabaseError as exc:
            raise ServerError(statement, _server_message(exc)) from exc
        except Exception as exc:
            raise _unavailable(self._where, exc) from exc

    def columns(self) -> list[str]:
        return [str(d[0]).lower() for d in (self._cursor.description or [])]


def _transport_failure(exc: BaseException) -> BaseException:
    """The Thrift transport error behind `exc`, with the socket's own error (a refused
    TLS certificate, say) that Thrift keeps in `inner`: PyHive's clean-up after a failed
    open raises an unrelated AttributeError whose context is the real failure."""
    seen: BaseException | None = exc
    while seen is not None:
        inner = getattr(seen, "inner", None)
        if isinstance(inner, BaseException):
            return inner
        if type(seen).__name__ == "TTransportException":
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _unavailable(where: str, exc: BaseException) -> BackendUnavailable:
    if isinstance(exc, BackendUnavailable):
        return exc
    exc = _transport_failure(exc)
    text = str(exc) or type(exc).__name__
    timed_out = "timed out" in text.lower() or "timeout" in text.lower()  # thrift: "read timeout"
    if isinstance(exc, socket.timeout | TimeoutError) or timed_out:
        return BackendUnavailable(SYSTEM, f"HiveServer2 at {where} did not answer in time")
    return BackendUnavailable(SYSTEM, f"HiveServer2 at {where} is unreachable: {text[:300]}")


class HiveServer2Hive(PlannedGrants):
    """Project databases in HiveServer2 / Spark Thrift Server (see the module docstring).

    Configuration (the constructor's parameters):
      host, port          where HiveServer2 listens (``hive.server2.thrift.port``, 10000)
      warehouse           URI under which project databases live, e.g.
                          ``hdfs://nn:8020/apps/hive/warehouse`` or ``file:/srv/warehouse``
      auth, username,     see the module docstring; ``username`` is the service's own
      password            identity (the one that owns the databases and issues grants)
      connect_timeout_s   TCP connect + handshake bound (default 5 s)
      query_timeout_s     bound on any single request after that (default 60 s)
      grants              "auto" | "require" | "off"
      size_probe          location -> bytes (or None to fall back to table statistics)
      configuration       session settings sent with OpenSession (``SET k=v`` equivalents)
      connect             a zero-argument factory of DB-API connections, replacing the
                          built-in one (tests, or a transport this class does not build)
      tls_ca              the CA chain (PEM) of a server that speaks TLS
                          (``hive.server2.use.SSL``): verified, its address included
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 10000,
        *,
        warehouse: str,
        auth: Auth = "NONE",
        username: str = "hopsworks",
        password: str | None = None,
        connect_timeout_s: float = 5.0,
        query_timeout_s: float = 60.0,
        grants: GrantMode = "auto",
        size_probe: Callable[[str], int | None] | None = local_file_size,
        configuration: dict[str, str] | None = None,
        connect: Callable[[], Any] | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        if auth not in ("NONE", "NOSASL", "LDAP", "CUSTOM"):
            raise ValueError(f"unsupported auth {auth!r}")
        if grants not in ("auto", "require", "off"):
            raise ValueError(f"grants must be auto, require or off, not {grants!r}")
        self.host, self.port = host, int(port)
        self.warehouse = warehouse
        self.auth = auth
        self.username = username
        self.password = password
        self.connect_timeout_s = connect_timeout_s
        self.query_timeout_s = query_timeout_s
        self.grants = grants
        self.size_probe = size_probe
        self.configuration = dict(configuration or {})
        self.tls_ca = tls_ca
        self._connect = connect or self._pyhive_connection
        self.grants_supported: bool | None = None if grants != "off" else False
        """None until the server was asked; then whether it accepts GRANT statements."""

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # --- connection ---------------------------------------------------------------------

    def _socket(self) -> Any:
        """A plain Thrift socket, or with `tls_ca` one that speaks TLS and verifies the
        server's certificate and address against that CA."""
        from thrift.transport import TSocket, TSSLSocket

        if self.tls_ca is None:
            return TSocket.TSocket(self.host, self.port)
        context = ssl.create_default_context(cafile=str(self.tls_ca))
        # the context checks the certificate's names and addresses itself; Thrift's own
        # after-the-fact check (validate_callback) knows no IP address names
        return TSSLSocket.TSSLSocket(
            self.host,
            self.port,
            ssl_context=context,
            server_hostname=self.host,
            validate_callback=lambda cert, hostname: None,
        )

    def _pyhive_connection(self) -> Any:
        from pyhive import hive
        from thrift.transport import TTransport

        sock = self._socket()
        sock.setTimeout(int(self.connect_timeout_s * 1000))
        if self.auth == "NOSASL":
            transport: Any = TTransport.TBufferedTransport(sock)
        else:
            import thrift_sasl
            from pyhive.hive import get_installed_sasl

            # NONE: the server ignores the password but SASL PLAIN needs a non-empty one
            password = self.password or "x"

            def sasl_client() -> Any:
                return get_installed_sasl(
                    host=self.host,
                    sasl_auth="PLAIN",
                    service=None,
                    username=self.username,
                    password=password,
                )

            transport = thrift_sasl.TSaslClientTransport(sasl_client, "PLAIN", sock)
        connection = hive.Connection(
            thrift_transport=transport,
            username=self.username,
            configuration=self.configuration,
        )
        sock.setTimeout(int(self.query_timeout_s * 1000))
        return connection

    @contextmanager
    def _session(self) -> Iterator[_Cursor]:
        try:
            connection = self._connect()
        except Exception as exc:
            raise _unavailable(self.where, exc) from exc
        try:
            yield _Cursor(connection.cursor(), self.where)
        except BackendUnavailable:
            # the socket timed out or broke: a CloseSession would wait out the timeout
            # again, so drop the transport (PyHive keeps it in `_transport`) and go
            transport = getattr(connection, "_transport", None)
            with contextlib.suppress(Exception):
                if transport is not None:
                    transport.close()
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                connection.close()
            raise
        else:
            # a failed close must not turn a done step into an error
            with contextlib.suppress(Exception):
                connection.close()

    # --- databases ----------------------------------------------------------------------

    def default_location(self, project: str) -> str:
        return default_location(self.warehouse, project)

    def _location(self, cur: _Cursor, project: str) -> str | None:
        """The database's location, or None if it does not exist."""
        try:
            rows = cur.run(f"DESCRIBE DATABASE EXTENDED {quote_identifier(project)}")
        except ServerError as exc:
            if exc.has(NOT_FOUND_MARKERS):
                return None
            raise _refused(exc) from exc
        columns = cur.columns()
        if "location" in columns:  # Hive: one row, a column per property
            return str(rows[0][columns.index("location")]) if rows else None
        for row in rows:  # Spark: (info_name, info_value) rows
            if row and str(row[0]).strip().lower() == "location":
                return str(row[1])
        raise BackendUnavailable(SYSTEM, f"DESCRIBE DATABASE of '{project}' shows no location")

    def create_database(self, project: str, location: str | None = None) -> HiveDatabase:
        validate_project(project)
        wanted = validate_location(project, location or self.default_location(project))
        with self._session() as cur:
            current = self._location(cur, project)
            if current is None:
                try:
                    cur.run(sql_create_database(project, wanted))
                except ServerError as exc:
                    if not exc.has(ALREADY_EXISTS_MARKERS):
                        raise _refused(exc) from exc
                current = self._location(cur, project)
                if current is None:
                    raise BackendUnavailable(SYSTEM, f"database '{project}' was not created")
            if not same_location(current, wanted):
                raise Conflict(f"Hive database '{project}' exists at {current}, not at {wanted}")
            return self._describe(cur, project, current)

    def drop_database(self, project: str) -> bool:
        validate_project(project)
        with self._session() as cur:
            if self._location(cur, project) is None:
                return False
            try:
                cur.run(sql_drop_database(project))
            except ServerError as exc:
                raise _refused(exc) from exc
            return True

    def database_exists(self, project: str) -> bool:
        validate_project(project)
        with self._session() as cur:
            return self._location(cur, project) is not None

    def describe(self, project: str) -> HiveDatabase:
        validate_project(project)
        with self._session() as cur:
            location = self._location(cur, project)
            if location is None:
                raise NotFound(f"Hive database '{project}' does not exist")
            return self._describe(cur, project, location)

    def _describe(self, cur: _Cursor, project: str, location: str) -> HiveDatabase:
        tables = self._tables(cur, project)
        size = self.size_probe(location) if self.size_probe else None
        if size is not None:
            return HiveDatabase(project, location, size, tables, "filesystem")
        total = sum(self._table_stats_bytes(cur, project, t) for t in tables)
        return HiveDatabase(project, location, total, tables, "table_stats")

    def _tables(self, cur: _Cursor, project: str) -> tuple[str, ...]:
        try:
            rows = cur.run(f"SHOW TABLES IN {quote_identifier(project)}")
        except ServerError as exc:
            raise _refused(exc) from exc
        columns = cur.columns()
        name_at = next((columns.index(c) for c in ("tablename", "tab_name") if c in columns), 0)
        temp_at = columns.index("istemporary") if "istemporary" in columns else None
        names = {
            str(row[name_at])
            for row in rows
            if temp_at is None or str(row[temp_at]).lower() not in ("true", "1")
        }
        return tuple(sorted(names))

    def _table_stats_bytes(self, cur: _Cursor, project: str, table: str) -> int:
        """A table's size from its statistics (Spark's "Statistics" row, Hive's
        ``totalSize`` parameter); 0 when it has none (never analyzed)."""
        if not re.fullmatch(r"[A-Za-z0-9_]+", table):
            return 0  # a name we would have to quote differently; not a platform table
        try:
            rows = cur.run(
                f"DESCRIBE TABLE EXTENDED {quote_identifier(project)}.{quote_identifier(table)}"
            )
        except ServerError:
            return 0  # dropped meanwhile, or a view
        for row in rows:
            cells = [str(c) for c in row if c is not None]
            text = " ".join(cells)
            if cells and cells[0].strip() == "Statistics":
                match = STATS_BYTES_RE.search(text)
                if match:
                    return int(match.group(1))
            match = TOTAL_SIZE_RE.search(text)
            if match:
                return int(match.group(1))
        return 0

    def list_project_databases(self) -> list[str]:
        with self._session() as cur:
            try:
                rows = cur.run("SHOW DATABASES")
            except ServerError as exc:
                raise _refused(exc) from exc
        return sorted({str(r[0]) for r in rows if r and is_project_database(str(r[0]))})

    # --- grants -------------------------------------------------------------------------

    def _grants_unsupported(self, exc: ServerError) -> None:
        self.grants_supported = False
        if self.grants == "require":
            raise BackendUnavailable(
                SYSTEM,
                f"HiveServer2 at {self.where} does not accept GRANT statements "
                f"({exc.message.splitlines()[0][:200]}), and grants='require'",
            ) from exc
        log.warning(
            "hive server does not accept GRANT; database access is not enforced by Hive",
            extra={"server": self.where},
        )

    def _apply(self, plans: Sequence[GrantPlan], *, must_exist: bool) -> GrantResult:
        statements = tuple(s for p in plans for s in p.statements)
        if not plans:
            return GrantResult((), False)
        project = plans[0].project
        with self._session() as cur:
            if self._location(cur, project) is None:
                if must_exist:
                    raise NotFound(f"Hive database '{project}' does not exist")
                return GrantResult(statements, False)
            if self.grants == "off" or (self.grants == "auto" and self.grants_supported is False):
                return GrantResult(statements, False)
            for plan in plans:
                for statement in plan.revokes:
                    if not self._grant_statement(cur, statement, NOT_GRANTED_MARKERS):
                        return GrantResult(statements, False)
                for statement in plan.grants:
                    if not self._grant_statement(cur, statement, ALREADY_GRANTED_MARKERS):
                        return GrantResult(statements, False)
        return GrantResult(statements, True)

    def _grant_statement(self, cur: _Cursor, statement: str, harmless: Sequence[str]) -> bool:
        """Run one GRANT/REVOKE; False when the server does not take them at all."""
        try:
            cur.run(statement)
        except ServerError as exc:
            if exc.has(harmless):
                return True
            if exc.has(GRANT_UNSUPPORTED_MARKERS):
                self._grants_unsupported(exc)
                return False
            raise _refused(exc) from exc
        self.grants_supported = True
        return True

    def list_grants(self, project: str) -> dict[str, tuple[str, ...]] | None:
        """``SHOW GRANT ON DATABASE``, USER principals and managed privileges only; None
        when grants are off or the server does not support them."""
        validate_project(project)
        if self.grants == "off" or self.grants_supported is False:
            return None
        with self._session() as cur:
            if self._location(cur, project) is None:
                return {}
            try:
                rows = cur.run(f"SHOW GRANT ON DATABASE {quote_identifier(project)}")
            except ServerError as exc:
                if exc.has(GRANT_UNSUPPORTED_MARKERS):
                    self._grants_unsupported(exc)
                    return None
                raise _refused(exc) from exc
            columns = cur.columns()
        self.grants_supported = True
        try:
            who_at = columns.index("principal_name")
            type_at = columns.index("principal_type")
            priv_at = columns.index("privilege")
        except ValueError:
            raise BackendUnavailable(
                SYSTEM, f"SHOW GRANT answered unexpected columns {columns}"
            ) from None
        found: dict[str, set[str]] = {}
        for row in rows:
            privilege = str(row[priv_at]).upper()
            if str(row[type_at]).upper() == "USER" and privilege in PRIVILEGES:
                found.setdefault(str(row[who_at]), set()).add(privilege)
        return {
            who: tuple(p for p in PRIVILEGES if p in privs) for who, privs in sorted(found.items())
        }


def _refused(exc: ServerError) -> Exception:
    """A statement the server refused for a reason other than the expected ones. Our
    statements are validated, so this is the server's state or configuration: 503 unless
    the message says the database is missing (404) or exists (409)."""
    first = exc.message.strip().splitlines()[0][:300] if exc.message.strip() else "error"
    if exc.has(NOT_FOUND_MARKERS):
        return NotFound(f"hive: {first}")
    if exc.has(ALREADY_EXISTS_MARKERS):
        return Conflict(f"hive: {first}")
    return BackendUnavailable(SYSTEM, f"statement refused: {first}")


__all__ = ["HiveServer2Hive", "ServerError", "local_file_size"]
