"""A throwaway, real MariaDB server on loopback for the test suite and benchmarks.

Why a real server: the control service relies on MariaDB behaviour that SQLite cannot imitate
(triggers that ``SIGNAL``, row locking, utf8mb4 collations, strict-mode errors), so the suite
runs against the genuine article. Why not the system service: on Debian the ``policy-rc.d``
shim (containers, CI images) stops packages from starting daemons, a shared service would leak
state between runs, and we want several isolated servers at once. So each ``MariaDBServer``
gets its own temporary data directory, its own free TCP port on 127.0.0.1, its own socket and
pid file, and is torn down completely by ``stop()``.

Usage::

    with MariaDBServer() as server:
        url = server.create_database("hops_test")   # SQLAlchemy URL for user ``hops``
        ...

Command-line mode (used by the benchmarks)::

    python -m tests.support.mariadb
    # prints one line ``HOPS_DATABASE_URL=mysql+pymysql://...`` and serves until SIGTERM/SIGINT
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from urllib.parse import quote_plus

import pymysql

from tests.support.processes import die_with_parent, free_port

__all__ = ["MariaDBServer", "ensure_mariadb_installed"]

# Debian puts the daemon in /usr/sbin, which is often not on a non-login PATH.
_SEARCH_DIRS = (
    "/usr/sbin",
    "/usr/bin",
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/local/mysql/bin",
)

# Another shell may be running ``apt-get install mariadb-server`` in the background and append
# ``done <rc>`` to this log when it finishes; we wait for it rather than fight over the dpkg lock.
_BACKGROUND_APT_LOG = Path("/tmp/apt-mariadb.log")  # agreed-upon path, read only
_BACKGROUND_APT_WAIT_S = 900.0

# Serialises installation between processes (pytest-xdist workers, parallel benchmarks).
_INSTALL_LOCK_FILE = Path(tempfile.gettempdir()) / "hops-install-mariadb.lock"

# Unix socket paths are limited to 108 bytes (sun_path) on Linux, including the NUL.
_MAX_SOCKET_PATH = 107

_DB_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _find_binary(*names: str) -> str | None:
    """Locate a MariaDB executable on PATH or in the usual sbin/bin directories."""
    search_path = os.pathsep.join([os.environ.get("PATH", ""), *_SEARCH_DIRS])
    for name in names:
        found = shutil.which(name, path=search_path)
        if found:
            return found
    return None


def _binaries() -> tuple[str, str] | None:
    """Return ``(server, install_db)`` paths, or None if either is missing."""
    server = _find_binary("mariadbd", "mysqld")
    install_db = _find_binary("mariadb-install-db", "mysql_install_db")
    if server and install_db:
        return server, install_db
    return None


def _package_manager_running() -> bool:
    """True if an apt/dpkg process exists (so a half-written apt log is still live)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if comm in {"apt", "apt-get", "dpkg", "aptitude", "unattended-upgr"}:
            return True
    return False


def _wait_for_background_install(timeout: float = _BACKGROUND_APT_WAIT_S) -> None:
    """Block while the agreed-upon background ``apt-get install`` is still in progress.

    The log is considered finished once it has a ``done <rc>`` line. If it has none but no
    package manager is running either, the writer died and there is nothing to wait for.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = _BACKGROUND_APT_LOG.read_text(errors="replace")
        except OSError:
            return
        if re.search(r"^done -?\d+\s*$", text, re.MULTILINE):
            return
        if not _package_manager_running():
            return
        if time.monotonic() >= deadline:
            return  # fall through; our own apt-get will queue on the dpkg lock
        time.sleep(2.0)


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """Inter-process lock so concurrent test workers do not all run apt-get."""
    with open(_INSTALL_LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_mariadb_installed() -> tuple[str, str]:
    """Return ``(mariadbd, mariadb-install-db)`` paths, installing the package if needed.

    Installing needs root; without it we raise a RuntimeError that says what to install,
    rather than letting the suite fail later with an obscure FileNotFoundError.
    """
    found = _binaries()
    if found:
        return found
    _wait_for_background_install()
    found = _binaries()
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError(
            "MariaDB server binaries (mariadbd, mariadb-install-db) were not found and this "
            "process is not root, so it cannot install them. Install the server package, e.g. "
            "`sudo apt-get install mariadb-server` (Debian/Ubuntu), and re-run."
        )
    with _install_lock():
        found = _binaries()  # another worker may have installed it while we waited
        if found:
            return found
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock_wait = ["-o", "DPkg::Lock::Timeout=600"]
        commands = [
            ["apt-get", *lock_wait, "update"],
            ["apt-get", *lock_wait, "install", "-y", "--no-install-recommends", "mariadb-server"],
        ]
        for cmd in commands:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, check=False, timeout=1800
            )
            if proc.returncode != 0:
                tail = (proc.stdout + proc.stderr)[-4000:]
                raise RuntimeError(f"`{' '.join(cmd)}` failed (rc={proc.returncode}):\n{tail}")
    found = _binaries()
    if not found:
        raise RuntimeError(
            "mariadb-server was installed but mariadbd/mariadb-install-db are "
            "still not found on PATH or in " + ", ".join(_SEARCH_DIRS)
        )
    return found


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError as exc:
        return f"<could not read {path}: {exc}>"


class MariaDBServer:
    """One private ``mariadbd`` process with its own data directory, port and socket.

    Two instances never share anything, so parallel test sessions (or a benchmark next to a
    test run) can each start their own. Access is by a generated account ``hops``@``127.0.0.1``
    with a random password and ALL PRIVILEGES, because the application's migrations create
    databases and triggers; root stays reachable only over the private unix socket.
    """

    USER = "hops"
    HOST = "127.0.0.1"
    CHARSET = "utf8mb4"
    COLLATION = "utf8mb4_unicode_ci"
    START_TIMEOUT_S = 60.0
    STOP_TIMEOUT_S = 30.0

    def __init__(self, base_dir: Path | None = None, *, die_with_parent: bool = True) -> None:
        """Configure without starting anything.

        ``base_dir`` is where the private temporary directory is created (default: the system
        temp dir); only that private directory is removed on ``stop()``. ``die_with_parent``
        asks the kernel to SIGTERM mariadbd if the test process dies without running atexit
        hooks (Linux PR_SET_PDEATHSIG), so a killed pytest does not leak servers. The kernel
        ties that to the *thread* that forked, so it is only applied when ``start()`` runs on
        the main thread; from other threads we rely on ``stop()``/atexit instead.
        """
        self._base_dir = Path(base_dir) if base_dir is not None else None
        self._die_with_parent = die_with_parent
        self._tmp: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._password = secrets.token_hex(16)  # hex: no URL or SQL quoting pitfalls
        self._lock = threading.Lock()
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1 the server listens on."""
        if self._port is None:
            raise RuntimeError("MariaDB server is not started")
        return self._port

    @property
    def password(self) -> str:
        """Password of the ``hops`` account."""
        return self._password

    @property
    def directory(self) -> Path:
        """The private temporary directory (datadir, config, socket, logs)."""
        if self._tmp is None:
            raise RuntimeError("MariaDB server is not started")
        return self._tmp

    @property
    def socket_path(self) -> Path:
        return self.directory / "mysqld.sock"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    @property
    def pid(self) -> int | None:
        """Process id of mariadbd, or None when not running."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def url_for(self, name: str) -> str:
        """SQLAlchemy URL for database ``name`` as the ``hops`` user (does not create it)."""
        _check_db_name(name)
        # ssl_disabled: this loopback server has no TLS, and pymysql's default (TLS if the
        # server offers it) builds a fresh SSL context from the system's CA store for every
        # connection, ~45 ms each. TLS to MariaDB is the lab's to prove (test_site.py).
        return (
            f"mysql+pymysql://{quote_plus(self.USER)}:{quote_plus(self._password)}"
            f"@{self.HOST}:{self.port}/{name}?charset={self.CHARSET}&ssl_disabled=true"
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MariaDBServer:
        """Install if needed, initialise a fresh datadir, launch mariadbd and wait for it."""
        with self._lock:
            if self.running:
                return self
            started = time.monotonic()
            mariadbd, install_db = ensure_mariadb_installed()
            self._tmp = Path(tempfile.mkdtemp(prefix="hops-mariadb-", dir=self._base_dir)).resolve()
            try:
                if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
                    raise RuntimeError(
                        f"socket path {self.socket_path} exceeds the {_MAX_SOCKET_PATH}-byte "
                        "unix socket limit; pass a shorter base_dir"
                    )
                self._install_db(install_db)
                self._launch_with_port_retries(mariadbd)
                self._bootstrap_accounts()
            except BaseException:
                self._teardown()
                raise
            atexit.register(self.stop)
            self.startup_seconds = time.monotonic() - started
            return self

    def stop(self) -> None:
        """Shut the server down (SIGTERM, bounded wait, SIGKILL) and delete its directory."""
        with self._lock:
            atexit.unregister(self.stop)
            self._teardown()

    def __enter__(self) -> MariaDBServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases
    def create_database(self, name: str) -> str:
        """Create database ``name`` (utf8mb4) and return its SQLAlchemy URL for ``hops``.

        Plain CREATE (not IF NOT EXISTS) so a leftover from a test that forgot to clean up
        is reported instead of silently reused.
        """
        _check_db_name(name)
        with self.admin_connection() as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE DATABASE `{name}` CHARACTER SET {self.CHARSET} COLLATE {self.COLLATION}"
            )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists."""
        _check_db_name(name)
        with self.admin_connection() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")

    def admin_connection(self, database: str | None = None) -> pymysql.connections.Connection:
        """A fresh autocommit pymysql connection as root over the private unix socket."""
        if not self.running:
            raise RuntimeError("MariaDB server is not running")
        return self._root_connect(database=database)

    # ------------------------------------------------------------------ internals
    def _root_connect(
        self, database: str | None = None, timeout: int = 10
    ) -> pymysql.connections.Connection:
        return pymysql.connect(
            unix_socket=str(self.socket_path),
            user="root",
            password="",
            database=database,
            charset=self.CHARSET,
            autocommit=True,
            connect_timeout=timeout,
            ssl_disabled=True,  # a unix socket; see url_for
        )

    def _user_args(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; running as root inside our own
        # temp dir avoids chown'ing everything to ``mysql`` (and works in rootless containers).
        if os.geteuid() == 0:
            return ["--user=root"]
        return []

    def _install_db(self, install_db: str) -> None:
        """Create the system tables in a fresh datadir.

        ``--auth-root-authentication-method=normal`` gives root@localhost an empty password so
        any OS user can administer over the private socket (which is mode-restricted to the temp
        dir; TCP is bound to loopback and root has no TCP grant).
        """
        assert self._tmp is not None
        datadir = self._tmp / "data"
        cmd = [
            install_db,
            "--no-defaults",
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            *self._user_args(),
            # passed through to the bootstrap mariadbd; keeps it light and quick
            "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=2",
        ]
        proc = subprocess.run(
            cmd,
            cwd=self._tmp,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed (rc={proc.returncode}): {' '.join(cmd)}\n"
                f"{(proc.stdout + proc.stderr)[-4000:]}"
            )

    def _write_config(self, port: int) -> Path:
        assert self._tmp is not None
        tmp = self._tmp
        (tmp / "tmp").mkdir(exist_ok=True)
        user_line = "user = root\n" if os.geteuid() == 0 else ""
        config = (
            "[mysqld]\n"
            f"{user_line}"
            f"datadir = {tmp / 'data'}\n"
            f"tmpdir = {tmp / 'tmp'}\n"
            f"socket = {self.socket_path}\n"
            f"pid-file = {tmp / 'mysqld.pid'}\n"
            f"log-error = {self.error_log}\n"
            f"port = {port}\n"
            "bind-address = 127.0.0.1\n"
            "skip-log-bin\n"
            "skip-name-resolve\n"
            "skip-external-locking\n"
            "performance_schema = OFF\n"
            "innodb_flush_log_at_trx_commit = 2\n"
            "innodb_buffer_pool_size = 64M\n"
            "innodb_log_buffer_size = 8M\n"
            "character-set-server = utf8mb4\n"
            f"collation-server = {self.COLLATION}\n"
            "max_connections = 500\n"
            # Only matters when binary logging is on (it is off here), but harmless and
            # keeps CREATE TRIGGER/FUNCTION permitted if someone enables log-bin later.
            "log_bin_trust_function_creators = 1\n"
            "\n[client]\n"
            f"socket = {self.socket_path}\n"
            f"port = {port}\n"
            "default-character-set = utf8mb4\n"
        )
        path = tmp / "my.cnf"
        path.write_text(config)
        return path

    def _launch_with_port_retries(self, mariadbd: str, attempts: int = 5) -> None:
        """Start mariadbd; if the chosen port got taken in the meantime, retry with another."""
        for attempt in range(attempts):
            port = free_port()
            config = self._write_config(port)
            try:
                self._launch(mariadbd, config)
                self._port = port
                return
            except _PortInUseError:
                self._kill_proc()
                with contextlib.suppress(OSError):
                    self.error_log.unlink()
                if attempt == attempts - 1:
                    raise RuntimeError(
                        f"mariadbd could not bind a free port after {attempts} attempts"
                    ) from None

    def _launch(self, mariadbd: str, config: Path) -> None:
        assert self._tmp is not None
        stderr_path = self._tmp / "mariadbd.stderr"
        with open(stderr_path, "wb") as stderr:
            self._proc = subprocess.Popen(
                # --defaults-file must be the first option
                [mariadbd, f"--defaults-file={config}"],
                cwd=self._tmp,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                # own session: a Ctrl-C aimed at pytest must not kill the server mid-test;
                # we shut it down ourselves in stop().
                start_new_session=True,
                preexec_fn=die_with_parent if self._pdeathsig_safe() else None,
            )
        self._wait_until_ready()

    def _pdeathsig_safe(self) -> bool:
        # PR_SET_PDEATHSIG fires when the forking *thread* exits; a server started from a
        # worker thread would die as soon as that thread finished.
        return self._die_with_parent and threading.current_thread() is threading.main_thread()

    def _wait_until_ready(self) -> None:
        """Poll the socket until root can log in, the process dies, or we time out."""
        assert self._proc is not None
        deadline = time.monotonic() + self.START_TIMEOUT_S
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = _tail(self.error_log)
                if "Address already in use" in log or "Can't start server: Bind" in log:
                    raise _PortInUseError
                raise RuntimeError(
                    f"mariadbd exited with code {self._proc.returncode} during startup.\n"
                    f"--- {self.error_log} (tail) ---\n{log}\n"
                    f"--- stderr ---\n{_tail(self.directory / 'mariadbd.stderr', 1000)}"
                )
            if self.socket_path.exists():
                try:
                    self._root_connect(timeout=2).close()
                    return
                except pymysql.err.OperationalError as exc:
                    last_error = exc
            time.sleep(0.05)
        raise RuntimeError(
            f"mariadbd did not accept connections within {self.START_TIMEOUT_S:.0f}s "
            f"(last error: {last_error!r}).\n--- {self.error_log} (tail) ---\n"
            f"{_tail(self.error_log)}"
        )

    def _bootstrap_accounts(self) -> None:
        """Create ``hops``@``127.0.0.1`` with every privilege the migrations may need."""
        with self._root_connect() as conn, conn.cursor() as cur:
            cur.execute(
                f"CREATE USER '{self.USER}'@'{self.HOST}' IDENTIFIED BY %s", (self._password,)
            )
            cur.execute(
                f"GRANT ALL PRIVILEGES ON *.* TO '{self.USER}'@'{self.HOST}' WITH GRANT OPTION"
            )
            # Also settable at runtime; repeated here in case the config line is ever dropped.
            cur.execute("SET GLOBAL log_bin_trust_function_creators = 1")

    def _kill_proc(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=10)

    def _teardown(self) -> None:
        self._kill_proc()
        tmp, self._tmp = self._tmp, None
        self._port = None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


class _PortInUseError(Exception):
    """mariadbd lost the race for the port we picked; start() retries with a new one."""


def _check_db_name(name: str) -> None:
    # Names are interpolated into DDL (identifiers cannot be parameters), so be strict.
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(f"invalid database name {name!r}: use 1-64 of [A-Za-z0-9_]")


def main() -> int:
    """Run a server for benchmarks: print ``HOPS_DATABASE_URL=...`` and serve until signalled."""
    stop_event = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop_event.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    server = MariaDBServer()
    try:
        server.start()
        url = server.create_database("hops")
        try:
            sys.stdout.write(f"HOPS_DATABASE_URL={url}\n")
            sys.stdout.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
        print(
            f"mariadb ready on 127.0.0.1:{server.port} in {server.startup_seconds:.2f}s "
            f"(dir {server.directory}, pid {server.pid})",
            file=sys.stderr,
            flush=True,
        )
        while not stop_event.wait(1.0):
            if not server.running:
                print(
                    f"mariadbd exited unexpectedly:\n{_tail(server.error_log)}",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
