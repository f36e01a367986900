"""Runs on this host under bubblewrap (`bwrap`), the sandbox Flatpak uses.

The program sees an empty root with only: /usr and the /lib* directories read-only (what an
interpreter needs), the environment's interpreter prefix (and the prefix its `bin/python`
links to) read-only, the project's datasets the service chose under `/hopsfs/<dataset>`
(read-only unless the member's role may write there) and the datasets shared with the
project under `/hopsfs/<owner>::<dataset>`, its credentials read-only, a scratch working
directory and a private /tmp. Every namespace is unshared: the network namespace has only a
loopback, on which the platform services of `RunSpec.endpoints` are forwarded (`forward`),
and nothing else is reachable. It runs as an unprivileged uid with no capabilities, in a
cgroup of its own holding `RunSpec.limits` (`cgroups`), dies with the service
(`--die-with-parent`) and cannot reach the service's terminal (`--new-session`). stdout and
stderr go to files in the run's directory, readable while it runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hopsworks_api.backends.runner import forward
from hopsworks_api.backends.runner.base import Outcome, RunHandle, RunSpec, Stream
from hopsworks_api.backends.runner.cgroups import Cgroups, RunCgroup
from hopsworks_api.backends.storage.embedded import EmbeddedStorage
from hopsworks_api.errors import Unavailable

NOBODY = "65534"
FORWARDER = "/.hops-forward.py"
"""The sandbox's half of its network (`sandbox_forward.py`), started before the program."""
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# read-only extras some programs need (TLS roots, `alternatives` links); absent is fine
# (and Debian's JDK configuration, which /usr/lib/jvm/*/conf links to: Java and Spark)
OPTIONAL_RO = (
    "/etc/ssl",
    "/etc/alternatives",
    "/etc/ca-certificates",
    *sorted(str(p) for p in Path("/etc").glob("java-*")),
)
POLL_SECONDS = 0.05


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (here: the sandbox's own init and the program), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: the ppid follows the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class _Run:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        forwarder: forward.HostForwarder | None,
        cgroup: RunCgroup | None,
    ) -> None:
        self.process = process
        self.forwarder = forwarder
        self.cgroup = cgroup
        self.outcome: Outcome | None = None
        self.done = threading.Event()

    def release(self) -> None:
        """What the run held outside its sandbox, once its processes are gone."""
        if self.forwarder is not None:
            self.forwarder.close()
        if self.cgroup is not None:
            self.cgroup.remove()


class EmbeddedRunner:
    datasets_dir = "/hopsfs"
    credentials_dir = "/credentials"
    scratch_dir = "/scratch"

    def __init__(
        self,
        runs_dir: Path,
        storage: EmbeddedStorage,
        cgroups: Cgroups | None = None,
        extra_args: Callable[[RunSpec], list[str]] | None = None,
    ) -> None:
        self.runs_dir = runs_dir
        self.storage = storage
        self.cgroups = cgroups if cgroups is not None else Cgroups()
        # more bwrap options of a run, after the others (a Spark driver's network, binds)
        self.extra_args = extra_args
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        # bwrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that
        # started it ends: a request's worker thread ends when idle, long before its run.
        # One thread that lives as long as the service starts every run.
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runner-start")

    def _bwrap(self) -> str:
        found = shutil.which("bwrap")
        if found is None:
            raise Unavailable(
                "the embedded job runner needs bubblewrap (`bwrap`), which is not installed",
                code="runner_unavailable",
            )
        return found

    def check(self) -> None:
        self._bwrap()

    def _prefixes(self, interpreter: Path) -> list[Path]:
        """The prefix of the interpreter and of every link on its way to the real binary
        (a venv links to its base, which may link further): all must exist inside. A prefix
        holding the service's own data (e.g. `/`) is refused rather than shown."""
        prefixes: set[Path] = set()
        current, hops = Path(os.path.abspath(interpreter)), 0
        while True:
            prefixes.add(current.parent.parent)
            if not current.is_symlink() or hops > 40:
                break
            current = Path(os.path.abspath(current.parent / os.readlink(current)))
            hops += 1
        shown = []
        usr = Path("/usr")
        root = Path(os.path.realpath(self.storage.root))
        for prefix in sorted(prefixes):
            if prefix == usr or usr in prefix.parents:
                continue  # shown already
            if root == prefix or prefix in root.parents:
                raise Unavailable(
                    f"the interpreter's prefix {prefix} holds the service's data; "
                    "refusing to show it to a job",
                    code="runner_unavailable",
                )
            shown.append(prefix)
        return shown

    def credentials_file(self, spec: RunSpec, name: str) -> Path:
        """Where a file of the run's credentials is on this host (bound read-only at
        `credentials_dir` in the sandbox), for runners that show it at another path too."""
        return self.runs_dir / spec.run_id / "credentials" / name

    def _arguments(self, spec: RunSpec, run_dir: Path, net: forward.HostForwarder) -> list[str]:
        args = [self._bwrap(), "--unshare-all", "--unshare-user", "--die-with-parent"]
        # a host name that resolves inside (Java's getLocalHost: log4j, Spark): not this host's
        args += ["--hostname", "localhost"]
        args += ["--new-session", "--uid", NOBODY, "--gid", NOBODY, "--cap-drop", "ALL"]
        args += ["--clearenv", "--ro-bind", "/usr", "/usr"]
        for name in SYSTEM_DIRS:
            if os.path.islink(name):
                args += ["--symlink", os.readlink(name), name]
            elif os.path.isdir(name):
                args += ["--ro-bind", name, name]
        for name in OPTIONAL_RO:
            args += ["--ro-bind-try", name, name]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 - the sandbox's own
        for prefix in self._prefixes(spec.interpreter):
            args += ["--ro-bind", str(prefix), str(prefix)]
        for name in ("passwd", "group"):
            args += ["--ro-bind", str(run_dir / name), f"/etc/{name}"]
        # `localhost` and the platform services' names resolve to the sandbox's loopback
        for name in ("hosts", "nsswitch.conf"):
            args += ["--ro-bind", str(net.net_dir / name), f"/etc/{name}"]
        program = list(spec.argv)
        if net.routes:
            args += ["--ro-bind", str(net.net_dir), forward.INSIDE_DIR]
            args += ["--ro-bind", str(forward.SCRIPT), FORWARDER]
            routes = f"{forward.INSIDE_DIR}/routes"
            program = [str(spec.interpreter), "-I", "-S", FORWARDER, routes, "--", *program]
        args += ["--dir", self.datasets_dir]
        for mount in spec.mounts:
            host = self.storage.dataset_path(mount.owner or spec.project, mount.dataset)
            if host.is_dir():
                flag = "--bind" if mount.writable else "--ro-bind"
                args += [flag, str(host), f"{self.datasets_dir}/{mount.name}"]
        args += ["--ro-bind", str(run_dir / "credentials"), self.credentials_dir]
        args += ["--bind", str(run_dir / "scratch"), self.scratch_dir, "--chdir", self.scratch_dir]
        if self.extra_args is not None:
            args += self.extra_args(spec)
        env = {
            "PATH": f"{spec.interpreter.parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": self.scratch_dir,
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",  # so the log is readable while the run lasts
            **spec.env,
            "HOPS_PROJECT": spec.project,
            "HOPS_USER": spec.identity,
            "HOPS_DATASETS_DIR": self.datasets_dir,
            "HOPS_CREDENTIALS_DIR": self.credentials_dir,
        }
        for key, value in sorted(env.items()):
            args += ["--setenv", key, value]
        return [*args, "--", *program]

    def start(self, spec: RunSpec) -> RunHandle:
        run_dir = self.runs_dir / spec.run_id
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True, mode=0o700)
        (run_dir / "scratch").mkdir(mode=0o700)
        credentials = run_dir / "credentials"
        credentials.mkdir(mode=0o700)
        for name, content in spec.credentials.items():
            fd = os.open(credentials / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
        # an account for the sandbox's uid, so `getpass`, Java and Spark find a user name
        (run_dir / "passwd").write_text(
            f"{spec.identity}:x:{NOBODY}:{NOBODY}::/scratch:/bin/false\n"
        )
        (run_dir / "group").write_text(f"{spec.identity}:x:{NOBODY}:\n")
        net = forward.HostForwarder(run_dir / "net", spec.endpoints)
        net.start()
        cgroup = None
        try:
            argv = self._arguments(spec, run_dir, net)
            cgroup = self.cgroups.create(spec.run_id, spec.limits)
            if cgroup is not None:
                argv = cgroup.enter_command(argv)
            process = self._starter.submit(self._spawn, run_dir, argv).result()
        except BaseException:
            net.close()
            if cgroup is not None:
                cgroup.remove()
            raise
        with self._lock:
            self._runs[spec.run_id] = _Run(process, net, cgroup)
        return RunHandle(run_id=spec.run_id, pid=process.pid, run_dir=run_dir)

    @staticmethod
    def _spawn(run_dir: Path, argv: list[str]) -> subprocess.Popen[bytes]:
        with (
            open(run_dir / "stdout.log", "wb") as out,
            open(run_dir / "stderr.log", "wb") as err,
        ):
            process = subprocess.Popen(  # noqa: S603 - a fixed program, no shell
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                env={"PATH": "/usr/bin:/bin"},
            )
        return process

    def _reaped(self, run: _Run, status: int, usage: object) -> Outcome:
        outcome = Outcome(
            exit_code=os.waitstatus_to_exitcode(status),
            # the sandbox's processes are reaped by bwrap, so their time is counted in its
            cpu_seconds=usage.ru_utime + usage.ru_stime,  # type: ignore[attr-defined]
        )
        run.process.returncode = outcome.exit_code  # reaped here, not by Popen
        run.release()  # the sandbox's processes died with its pid namespace
        run.outcome = outcome
        run.done.set()
        return outcome

    def _run(self, handle: RunHandle) -> _Run:
        with self._lock:
            run = self._runs.get(handle.run_id)
        if run is None:
            raise KeyError(f"no run {handle.run_id} in this process")
        return run

    def poll(self, handle: RunHandle) -> Outcome | None:
        run = self._run(handle)
        if run.done.is_set():
            return run.outcome
        try:
            pid, status, usage = os.wait4(handle.pid, os.WNOHANG)
        except ChildProcessError:  # a concurrent `wait` reaped it: its outcome follows
            run.done.wait()
            return run.outcome
        return None if pid == 0 else self._reaped(run, status, usage)

    def wait(self, handle: RunHandle) -> Outcome:
        run = self._run(handle)
        if run.done.is_set():
            assert run.outcome is not None
            return run.outcome
        try:
            _pid, status, usage = os.wait4(handle.pid, 0)
        except ChildProcessError:
            run.done.wait()
            assert run.outcome is not None
            return run.outcome
        return self._reaped(run, status, usage)

    def kill(self, handle: RunHandle, grace_seconds: float = 3.0) -> None:
        run = self._run(handle)
        if run.done.is_set():
            return
        # the program first, so it may clean up; bwrap itself would just die and take the
        # sandbox with it (`--die-with-parent`), which is what the SIGKILL below does
        _signal(descendants(handle.pid), signal.SIGTERM)
        if run.done.wait(grace_seconds):
            return
        _signal([*descendants(handle.pid), handle.pid], signal.SIGKILL)

    def log_path(self, handle: RunHandle, stream: Stream) -> Path:
        return handle.run_dir / f"{stream.value}.log"

    def scratch_path(self, handle: RunHandle) -> Path:
        return handle.run_dir / "scratch"

    def leftover(self, run_id: str) -> RunHandle | None:
        run_dir = self.runs_dir / run_id
        return RunHandle(run_id=run_id, pid=0, run_dir=run_dir) if run_dir.is_dir() else None

    def cleanup(self, handle: RunHandle) -> None:
        shutil.rmtree(handle.run_dir / "credentials", ignore_errors=True)
        shutil.rmtree(handle.run_dir, ignore_errors=True)
        with self._lock:
            self._runs.pop(handle.run_id, None)
