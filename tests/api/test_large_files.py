"""A file larger than 1 GiB goes up and comes back down through a separate `hops serve`
process whose resident memory stays flat: nothing is buffered whole."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import psutil
import pytest

from tests.support.api import PASSWORD

CHUNK = 4 * 1024 * 1024
SIZE = 1024**3 + 64 * 1024 * 1024  # 1.06 GiB
FLAT_LIMIT = 96 * 1024 * 1024  # growth allowed over the warmed-up baseline


class PeakRss:
    """Samples a process's RSS every 20 ms while a transfer runs."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def payload(size: int, digest: hashlib._Hash):
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece


@pytest.mark.slow
def test_upload_and_download_over_one_gib_with_flat_memory(served_process):
    base, proc = served_process
    with httpx.Client(base_url=base, timeout=600) as client:
        client.post("/api/auth/register", json={"email": "big@example.org", "password": PASSWORD})
        token = client.post(
            "/api/auth/login", json={"email": "big@example.org", "password": PASSWORD}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.post("/api/projects", json={"name": "bigdata"}).status_code == 201
        url = "/api/projects/bigdata/datasets/Logs/files/huge.bin"

        # warm up every code path once, then take the baseline
        warm = b"w" * (32 * 1024 * 1024)
        assert client.put(url, content=warm).status_code == 201
        assert len(client.get(url).content) == len(warm)
        baseline = psutil.Process(proc.pid).memory_info().rss

        sent = hashlib.sha256()
        with PeakRss(proc.pid) as upload_rss:
            reply = client.put(
                url, content=payload(SIZE, sent), headers={"Content-Length": str(SIZE)}
            )
        assert reply.status_code == 201, reply.text
        assert reply.json()["size"] == SIZE

        received = hashlib.sha256()
        count = 0
        with PeakRss(proc.pid) as download_rss, client.stream("GET", url) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-length"] == str(SIZE)
            for piece in stream.iter_bytes(CHUNK):
                received.update(piece)
                count += len(piece)
        assert count == SIZE and received.hexdigest() == sent.hexdigest()

    grown_up = upload_rss.peak - baseline
    grown_down = download_rss.peak - baseline
    print(
        f"\nserver RSS baseline {baseline / 2**20:.0f} MiB; peak growth during "
        f"{SIZE / 2**30:.2f} GiB upload {grown_up / 2**20:.1f} MiB, "
        f"download {grown_down / 2**20:.1f} MiB"
    )
    assert grown_up < FLAT_LIMIT
    assert grown_down < FLAT_LIMIT
