"""Benchmark a running control service over loopback and print the figures.

Why this exists: the control service is a metadata service with a file path through it.
The questions operators ask are "how many projects / members can it take per second",
"how fast are the hot reads" and "how much slower than the disk is an upload or a download
through the API". This script answers them against a real server (``hops serve``), with real
HTTP, real threads and the real database (SQLite or MariaDB), instead of in-process test
clients that skip the network stack and uvicorn.

Phases (each bounded in count *and* in wall time):

1. register + log in one bench user (unique e-mail);
2. project creations/s: ``POST /api/projects`` N times from C concurrent clients;
3. member adds/s: M users are registered *before* timing (argon2id makes registration
   deliberately slow; that rate is reported separately), then ``POST .../members`` is timed;
4. dataset listings/s: ``GET /api/projects/{p}/datasets`` N times over the created projects;
5. upload/download: a file of ``--upload-mib`` MiB is written next to the server's data dir
   (same filesystem), ``cp`` of it is timed as the disk baseline, then the file is streamed
   up (``PUT``, 1 MiB chunks, Content-Length set) and streamed back down (discarded as it
   arrives, without re-chunking), by httpx and again by ``curl`` (``-T`` up, ``-o /dev/null``
   down) when it is installed. Why both: httpx is what Python clients (the SDK's kind) get,
   but its pure-Python receive path tops out at ~400-500 MB/s here, below what the server
   sends, so a download through it measures the client; curl shows the server.

``--files-only`` runs phase 1 and the file phase alone (one project is made for it, untimed).

Fairness of the file phase, stated once here and again in the output:

* ``cp`` is timed *including a final ``sync``* (the bytes are on disk when the clock stops);
  the time of ``cp`` alone (page cache only) is printed too.
* The upload is timed until the server's ``201`` response. The server does **not** fsync, so
  its bytes may still be in the page cache at that point; ``upload + sync`` is printed too.
* The source file is in the page cache for both ``cp`` and the upload (it was just written);
  the download reads a file the server has just written, so it is served from cache as well.
* MB means 10**6 bytes.

Client threads run in this process and share the machine's cores with the server; on a small
machine the client's own CPU use is part of what is measured.

Only loopback URLs are accepted: this is a local benchmark and must not generate traffic
to other hosts.

Example::

    hops serve --port 8181 --data-dir /tmp/bench-data &
    python bench/api.py http://127.0.0.1:8181 --data-dir /tmp/bench-data
    python bench/api.py http://127.0.0.1:8181 --data-dir /tmp/bench-data --files-only
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

MiB = 1024 * 1024
MB = 1_000_000
CHUNK = MiB
PASSWORD = "bench-password-1234"
API_TIMEOUT = httpx.Timeout(60.0)
# Large transfers: generous read/write timeouts, but still bounded.
FILE_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=10.0)
MAX_ERROR_SAMPLES = 5

console = Console(stderr=True)


# ---------------------------------------------------------------------------- results


@dataclass
class ErrorSample:
    request: str
    status: int | None
    response: str


@dataclass
class PhaseResult:
    """Latencies (seconds) of the successful requests of one timed phase."""

    name: str
    attempted: int
    ok: int
    wall_s: float
    latencies: list[float] = field(default_factory=list)
    ok_jobs: list[int] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[ErrorSample] = field(default_factory=list)
    timed_out: bool = False

    @property
    def per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    def pct_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000.0

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "attempted": self.attempted,
            "ok": self.ok,
            "wall_s": round(self.wall_s, 3),
            "per_s": round(self.per_s, 1),
            "p50_ms": round(self.pct_ms(50), 2),
            "p90_ms": round(self.pct_ms(90), 2),
            "p99_ms": round(self.pct_ms(99), 2),
            "max_ms": round(max(self.latencies, default=0.0) * 1000.0, 2),
            "statuses": self.statuses,
            "timed_out": self.timed_out,
            "errors": [asdict(e) for e in self.errors],
        }


@dataclass
class FileResult:
    """Seconds per round for each operation; the report uses the median round."""

    size_bytes: int
    rounds: int
    scratch_dir: str
    same_fs_as_data_dir: bool | None
    disk: str
    generate_s: float
    cp_s: list[float] = field(default_factory=list)
    cp_sync_s: list[float] = field(default_factory=list)
    upload_s: list[float] = field(default_factory=list)
    upload_sync_s: list[float] = field(default_factory=list)
    download_s: list[float] = field(default_factory=list)
    upload_curl_s: list[float] = field(default_factory=list)
    download_curl_s: list[float] = field(default_factory=list)
    errors: list[ErrorSample] = field(default_factory=list)

    def median(self, name: str) -> float:
        values: list[float] = getattr(self, name)
        return statistics.median(values) if values else 0.0

    def mb_s(self, name: str) -> float:
        seconds = self.median(name)
        return self.size_bytes / MB / seconds if seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self)
        for name in TRANSFERS:
            out[name.removesuffix("_s") + "_median_mb_s"] = round(self.mb_s(name), 1)
        base = self.mb_s("cp_sync_s")
        for name in ("upload_s", "download_s", "upload_curl_s", "download_curl_s"):
            ratio = self.mb_s(name) / base if base and getattr(self, name) else None
            out[name.removesuffix("_s") + "_vs_cp"] = None if ratio is None else round(ratio, 3)
        return out


TRANSFERS = (
    "cp_s",
    "cp_sync_s",
    "upload_s",
    "upload_sync_s",
    "download_s",
    "upload_curl_s",
    "download_curl_s",
)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation): p99 of 200 samples is the 198th."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n*q/100)
    return ordered[int(min(rank, len(ordered))) - 1]


# ---------------------------------------------------------------------------- helpers


def require_loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return url.rstrip("/")
    try:
        if ipaddress.ip_address(host).is_loopback:
            return url.rstrip("/")
    except ValueError:
        pass
    raise SystemExit(f"refusing {url!r}: this benchmark only talks to loopback addresses")


def describe(response: httpx.Response) -> str:
    text = response.text
    return text if len(text) <= 500 else text[:500] + "..."


def check(response: httpx.Response, expected: int, what: str) -> httpx.Response:
    if response.status_code != expected:
        raise SystemExit(
            f"{what}: expected {expected}, got {response.status_code}: {describe(response)}"
        )
    return response


def register(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/api/auth/register", json={"email": email, "password": PASSWORD})


def login(client: httpx.Client, email: str) -> str:
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    return check(response, 200, f"login {email}").json()["access_token"]


def new_progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def run_concurrent(
    name: str,
    base_url: str,
    token: str | None,
    jobs: Sequence[Any],
    call: Callable[[httpx.Client, Any], tuple[httpx.Response, str]],
    expected: int,
    concurrency: int,
    time_limit_s: float,
) -> PhaseResult:
    """Run `call` once per job from `concurrency` threads, each with its own httpx.Client.

    Bounded twice: by the number of jobs and by `time_limit_s` (workers stop taking jobs
    after the deadline; a request in flight is itself bounded by the client timeout).
    Latency is recorded per successful request; throughput is successes / wall time.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    lock = threading.Lock()
    cursor = iter(range(len(jobs)))
    latencies: list[float] = []
    ok_jobs: list[int] = []
    statuses: Counter[str] = Counter()
    errors: list[ErrorSample] = []
    attempted = 0
    timed_out = False
    start = time.perf_counter()
    deadline = start + time_limit_s

    with new_progress() as progress:
        task = progress.add_task(name, total=len(jobs))

        def worker() -> None:
            nonlocal attempted, timed_out
            with httpx.Client(base_url=base_url, headers=headers, timeout=API_TIMEOUT) as client:
                while True:
                    with lock:
                        index = next(cursor, None)
                        if index is None:
                            return
                        if time.perf_counter() > deadline:
                            timed_out = True
                            return
                        attempted += 1
                    t0 = time.perf_counter()
                    try:
                        response, described = call(client, jobs[index])
                    except httpx.HTTPError as exc:
                        elapsed = time.perf_counter() - t0
                        with lock:
                            statuses[type(exc).__name__] += 1
                            if len(errors) < MAX_ERROR_SAMPLES:
                                errors.append(
                                    ErrorSample(
                                        f"job {jobs[index]!r}",
                                        None,
                                        f"{exc!r} after {elapsed:.1f}s",
                                    )
                                )
                        progress.advance(task)
                        continue
                    elapsed = time.perf_counter() - t0
                    with lock:
                        statuses[str(response.status_code)] += 1
                        if response.status_code == expected:
                            latencies.append(elapsed)
                            ok_jobs.append(index)
                        elif len(errors) < MAX_ERROR_SAMPLES:
                            errors.append(
                                ErrorSample(described, response.status_code, describe(response))
                            )
                    progress.advance(task)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            # the deadline stops new work; the extra margin covers one request in flight
            thread.join(timeout=time_limit_s + API_TIMEOUT.read + 5)
    wall = time.perf_counter() - start
    return PhaseResult(
        name=name,
        attempted=attempted,
        ok=len(latencies),
        wall_s=wall,
        latencies=latencies,
        ok_jobs=sorted(ok_jobs),
        statuses=dict(statuses),
        errors=errors,
        timed_out=timed_out,
    )


# ---------------------------------------------------------------------------- file phase


def sync() -> None:
    subprocess.run(["sync"], check=True, timeout=600)


def disk_of(path: Path) -> str:
    """`device fstype mountpoint (size)` of the filesystem holding `path`, via df."""
    try:
        out = subprocess.run(
            ["df", "-h", "--output=source,fstype,size,target", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.splitlines()
        return " ".join(out[-1].split()) if len(out) >= 2 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_random_file(path: Path, size: int) -> None:
    """Random-ish, incompressible content: a fresh pseudo-random MiB per chunk."""
    rng = random.Random(0x5EED)
    remaining = size
    with open(path, "wb") as handle:
        while remaining > 0:
            n = min(CHUNK, remaining)
            handle.write(rng.randbytes(n))
            remaining -= n


def file_chunks(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        remaining = size
        while remaining > 0 and (block := handle.read(min(CHUNK, remaining))):
            remaining -= len(block)
            yield block


def upload_once(
    client: httpx.Client, url: str, source: Path, size: int, errors: list[ErrorSample]
) -> bool:
    """Stream `source` up in 1 MiB chunks with a Content-Length; True on 201."""
    try:
        response = client.put(
            url,
            content=file_chunks(source, size),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
    except httpx.HTTPError as exc:
        errors.append(ErrorSample(f"PUT {url}", None, repr(exc)))
        return False
    if response.status_code != 201:
        errors.append(ErrorSample(f"PUT {url}", response.status_code, describe(response)))
        return False
    return True


CURL = shutil.which("curl")
WRITE_OUT = "%{http_code} %{size_download}"


def curl_transfer(
    url: str,
    headers: dict[str, str],
    args: list[str],
    errors: list[ErrorSample],
    *,
    status: int,
    size: int | None = None,
) -> bool:
    """One curl transfer (the server's speed without Python's client in the way), the
    answer discarded; True when it had `status` and, if given, `size` bytes of body."""
    assert CURL is not None
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    done = subprocess.run(
        [CURL, "-sS", "-o", "/dev/null", "-w", WRITE_OUT, *header_args, *args, url],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    code, _, received = done.stdout.strip().partition(" ")
    if done.returncode != 0 or code != str(status) or (size is not None and received != str(size)):
        detail = f"{code}, {received} bytes; {done.stderr.strip()[:300]}"
        errors.append(ErrorSample(f"curl {url}", None, detail))
        return False
    return True


def delete_once(client: httpx.Client, url: str, errors: list[ErrorSample]) -> bool:
    deleted = client.delete(url)
    if deleted.status_code != 204:
        errors.append(ErrorSample(f"DELETE {url}", deleted.status_code, describe(deleted)))
        return False
    return True


def download_once(client: httpx.Client, url: str, size: int, errors: list[ErrorSample]) -> bool:
    """Stream the file down, discarding it; True if all `size` bytes arrived with a 200."""
    received = 0
    try:
        with client.stream("GET", url) as stream:
            if stream.status_code != 200:
                stream.read()
                errors.append(ErrorSample(f"GET {url}", stream.status_code, describe(stream)))
                return False
            for block in stream.iter_bytes():  # as received: re-chunking costs client CPU
                received += len(block)
    except httpx.HTTPError as exc:
        errors.append(ErrorSample(f"GET {url}", None, repr(exc)))
        return False
    if received != size:
        errors.append(ErrorSample(f"GET {url}", 200, f"received {received} of {size} bytes"))
        return False
    return True


def file_phase(
    base_url: str,
    token: str,
    project: str,
    size: int,
    rounds: int,
    scratch_parent: Path,
    data_dir: Path | None,
) -> FileResult:
    """Write a test file next to the data dir, then per round: cp+sync, upload, download."""
    scratch = Path(tempfile.mkdtemp(prefix="hops-bench-", dir=scratch_parent))
    same_fs = None
    if data_dir is not None and data_dir.exists():
        same_fs = os.stat(scratch).st_dev == os.stat(data_dir).st_dev
    headers = {"Authorization": f"Bearer {token}"}
    try:
        source, copy = scratch / "source.bin", scratch / "copy.bin"
        console.print(f"writing {size / MiB:.0f} MiB test file in {scratch}")
        t0 = time.perf_counter()
        write_random_file(source, size)
        sync()
        result = FileResult(
            size_bytes=size,
            rounds=rounds,
            scratch_dir=str(scratch),
            same_fs_as_data_dir=same_fs,
            disk=disk_of(scratch_parent),
            generate_s=time.perf_counter() - t0,
        )
        with (
            httpx.Client(base_url=base_url, headers=headers, timeout=FILE_TIMEOUT) as client,
            new_progress() as progress,
        ):
            task = progress.add_task("file transfer", total=rounds)
            for _ in range(rounds):
                # Baseline: cp on the same filesystem; the clock stops after a sync.
                t0 = time.perf_counter()
                subprocess.run(["cp", str(source), str(copy)], check=True, timeout=600)
                result.cp_s.append(time.perf_counter() - t0)
                sync()
                result.cp_sync_s.append(time.perf_counter() - t0)
                copy.unlink()
                sync()

                url = (
                    f"/api/projects/{project}/datasets/Resources/files/"
                    f"bench-{uuid.uuid4().hex[:8]}.bin"
                )
                t0 = time.perf_counter()
                uploaded = upload_once(client, url, source, size, result.errors)
                upload_s = time.perf_counter() - t0
                sync()
                if not uploaded:
                    break
                result.upload_s.append(upload_s)
                result.upload_sync_s.append(time.perf_counter() - t0)

                t0 = time.perf_counter()
                if not download_once(client, url, size, result.errors):
                    break
                result.download_s.append(time.perf_counter() - t0)

                made = [url]
                if CURL is not None:
                    sync()
                    made.append(url.replace("/bench-", "/bench-curl-"))
                    t0 = time.perf_counter()
                    upload = ["-H", "Expect:", "-T", str(source)]
                    if not curl_transfer(
                        base_url + made[-1], headers, upload, result.errors, status=201
                    ):
                        break
                    result.upload_curl_s.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    if not curl_transfer(
                        base_url + url, headers, [], result.errors, status=200, size=size
                    ):
                        break
                    result.download_curl_s.append(time.perf_counter() - t0)

                if not all(delete_once(client, made_url, result.errors) for made_url in made):
                    break
                sync()
                progress.advance(task)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "httpx": httpx.__version__,
    }


def print_report(
    out: Console,
    info: dict[str, Any],
    phases: list[PhaseResult],
    files: FileResult | None,
) -> None:
    out.print(
        f"server {info['url']}  database [bold]{info['database']}[/]  "
        f"concurrency {info['concurrency']}  machine {info['machine']['cpus']} CPU "
        f"({info['machine']['cpu']}), client and server share them"
    )
    if phases:
        table = Table(title="control service API", show_lines=False)
        for column in ("phase", "ok/attempted", "wall s", "req/s", "p50 ms", "p99 ms", "max ms"):
            table.add_column(column, justify="left" if column == "phase" else "right")
        for p in phases:
            table.add_row(
                p.name,
                f"{p.ok}/{p.attempted}",
                f"{p.wall_s:.2f}",
                f"{p.per_s:.1f}",
                f"{p.pct_ms(50):.1f}",
                f"{p.pct_ms(99):.1f}",
                f"{max(p.latencies, default=0.0) * 1000:.1f}",
            )
        out.print(table)

    if files is not None:
        ft = Table(
            title=f"file transfer, {files.size_bytes / MiB:.0f} MiB, "
            f"median of {files.rounds} rounds (MB = 10^6 B)"
        )
        for column in ("operation", "seconds", "MB/s", "vs cp+sync", "MB/s per round"):
            ft.add_column(column, justify="left" if column == "operation" else "right")
        base = files.mb_s("cp_sync_s")
        rows = [
            ("cp + sync (baseline)", "cp_sync_s"),
            ("cp alone (page cache)", "cp_s"),
            ("upload, to 201", "upload_s"),
            ("upload + sync", "upload_sync_s"),
            ("download (discarded)", "download_s"),
            ("upload by curl, to 201", "upload_curl_s"),
            ("download by curl (discarded)", "download_curl_s"),
        ]
        for label, name in rows:
            if not getattr(files, name):
                continue
            rate = files.mb_s(name)
            each = " ".join(f"{files.size_bytes / MB / t:.0f}" for t in getattr(files, name))
            ft.add_row(
                label,
                f"{files.median(name):.2f}",
                f"{rate:.0f}",
                f"{rate / base:.2f}" if base else "-",
                each,
            )
        out.print(ft)
        same = {True: "yes", False: "NO", None: "unknown (no --data-dir)"}[
            files.same_fs_as_data_dir
        ]
        out.print(
            f"disk: {files.disk}; scratch on the data dir's filesystem: {same}. "
            "The server does not fsync uploads; cp is timed with a final sync."
        )

    for p in phases:
        if p.timed_out:
            out.print(f"[yellow]{p.name}: stopped at the time limit[/]")
        if p.errors or p.ok != p.attempted:
            out.print(f"[red]{p.name}: statuses {p.statuses}[/]")
            for e in p.errors:
                out.print(f"  {e.request} -> {e.status}: {e.response}")
    if files is not None:
        for e in files.errors:
            out.print(f"[red]file phase: {e.request} -> {e.status}: {e.response}[/]")


# ---------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark a running hops control service (loopback only).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "url", nargs="?", default="http://127.0.0.1:8181", help="service base URL (loopback only)"
    )
    parser.add_argument("-n", "--projects", type=int, default=200, help="projects to create")
    parser.add_argument(
        "-c", "--concurrency", type=int, default=8, help="concurrent clients (threads)"
    )
    parser.add_argument("-m", "--members", type=int, default=200, help="users to add as members")
    parser.add_argument("--listings", type=int, default=2000, help="dataset listing requests")
    parser.add_argument(
        "--upload-mib", type=int, default=512, help="size of the upload test file; 0 skips it"
    )
    parser.add_argument(
        "--file-rounds", type=int, default=3, help="cp/upload/download rounds (median shown)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the server's --data-dir; the test file is written next to it (same filesystem). "
        "Without it the system temp dir is used and the filesystem is not checked",
    )
    parser.add_argument(
        "--phase-timeout", type=float, default=600.0, help="wall-time limit per phase (s)"
    )
    parser.add_argument(
        "--files-only",
        action="store_true",
        help="run only the file phase (in one project made for it, untimed)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write figures here")
    args = parser.parse_args(argv)
    for name in ("projects", "concurrency", "members", "listings"):
        if getattr(args, name) < (1 if name == "concurrency" else 0):
            parser.error(f"--{name} is out of range")
    if args.upload_mib < 0:
        parser.error("--upload-mib must be >= 0")
    if args.files_only and not args.upload_mib:
        parser.error("--files-only needs --upload-mib > 0")
    if not 1 <= args.file_rounds <= 20:
        parser.error("--file-rounds must be between 1 and 20")
    return args


def api_phases(
    args: argparse.Namespace, base_url: str, token: str, run_id: str, phases: list[PhaseResult]
) -> list[str]:
    """Phases 2-4, appended to `phases`; returns the projects created."""
    # 2. project creations/s
    names = [f"b{run_id}_{i:05d}" for i in range(args.projects)]
    phases.append(
        run_concurrent(
            "project create",
            base_url,
            token,
            names,
            lambda c, name: (
                c.post("/api/projects", json={"name": name}),
                f"POST /api/projects {name}",
            ),
            201,
            args.concurrency,
            args.phase_timeout,
        )
    )
    created = [names[i] for i in phases[-1].ok_jobs]

    # 3. member adds/s: registration first (untimed for the member figure, reported apart)
    if args.members and created:
        emails = [f"bench-{run_id}-m{i:05d}@example.com" for i in range(args.members)]
        phases.append(
            run_concurrent(
                "user register",
                base_url,
                None,
                emails,
                lambda c, e: (register(c, e), f"POST /api/auth/register {e}"),
                201,
                args.concurrency,
                args.phase_timeout,
            )
        )
        registered = [emails[i] for i in phases[-1].ok_jobs]
        roles = ("data_scientist", "data_owner")
        jobs = [(created[i % len(created)], e, roles[i % 2]) for i, e in enumerate(registered)]

        def add_member(c: httpx.Client, job: tuple[str, str, str]) -> tuple[httpx.Response, str]:
            project, member, role = job
            body = {"email": member, "role": role}
            path = f"/api/projects/{project}/members"
            return c.post(path, json=body), f"POST {path} {json.dumps(body)}"

        phases.append(
            run_concurrent(
                "member add",
                base_url,
                token,
                jobs,
                add_member,
                201,
                args.concurrency,
                args.phase_timeout,
            )
        )

    # 4. dataset listings/s
    if args.listings and created:
        targets = [created[i % len(created)] for i in range(args.listings)]
        phases.append(
            run_concurrent(
                "dataset list",
                base_url,
                token,
                targets,
                lambda c, p: (
                    c.get(f"/api/projects/{p}/datasets"),
                    f"GET /api/projects/{p}/datasets",
                ),
                200,
                args.concurrency,
                args.phase_timeout,
            )
        )
    return created


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base_url = require_loopback(args.url)
    run_id = uuid.uuid4().hex[:8]
    phases: list[PhaseResult] = []

    with httpx.Client(base_url=base_url, timeout=API_TIMEOUT) as client:
        health = check(client.get("/api/health"), 200, "GET /api/health").json()
        email = f"bench-{uuid.uuid4().hex}@example.com"
        check(register(client, email), 201, f"register {email}")
        token = login(client, email)
    console.print(f"bench user {email}, database {health.get('database')}")

    if args.files_only:
        created = [f"b{run_id}_files"]
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=API_TIMEOUT
        ) as client:
            check(
                client.post("/api/projects", json={"name": created[0]}), 201, "POST /api/projects"
            )
    else:
        created = api_phases(args, base_url, token, run_id, phases)

    # 5. file transfer
    files: FileResult | None = None
    if args.upload_mib and created:
        data_dir = args.data_dir.resolve() if args.data_dir else None
        scratch_parent = data_dir.parent if data_dir else Path(tempfile.gettempdir())
        files = file_phase(
            base_url,
            token,
            created[0],
            args.upload_mib * MiB,
            args.file_rounds,
            scratch_parent,
            data_dir,
        )

    info = {
        "url": base_url,
        "database": health.get("database"),
        "concurrency": args.concurrency,
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print_report(Console(), info, phases, files)
    if args.json:
        payload = {
            **info,
            "phases": [p.summary() for p in phases],
            "files": None if files is None else files.summary(),
        }
        args.json.write_text(json.dumps(payload, indent=2))
    failed = any(p.ok != p.attempted or p.timed_out for p in phases) or bool(files and files.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
