"""How an upload's batches reach storage: the local backend writes many received pieces per
system call without joining them (and never more than WRITE_CALL_BYTES per call, resuming
after short writes); a backend that takes one chunk at a time gets them joined into pieces
of at most JOIN_LIMIT bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hopsworks_api.backends.storage import embedded
from hopsworks_api.backends.storage.embedded import WRITE_CALL_BYTES, EmbeddedStorage
from hopsworks_api.datasets import files

MiB = 1024 * 1024


def pieces() -> list[bytes]:
    sizes = [0, 3, 256_000, 256_000, 0, 5 * MiB // 2, 1, *[256_000] * 9, MiB, 17]
    return [bytes([n % 251]) * size for n, size in enumerate(sizes)]


def test_local_writes_go_in_bounded_vectored_calls_and_survive_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = EmbeddedStorage(tmp_path / "storage")
    storage.create_project("demo")
    storage.create_dataset("demo", "raw")
    writer = storage.begin_write("demo", "raw", ("big.bin",))
    real_writev = os.writev
    calls: list[int] = []

    def writev(fd: int, buffers: list[memoryview]) -> int:
        size = sum(b.nbytes for b in buffers)
        calls.append(size)
        if len(calls) % 3 == 0:  # every third call is cut short in the middle of a buffer
            cut = bytes(b"".join(buffers))[: max(1, size // 2 - 7)]
            return real_writev(fd, [cut])
        return real_writev(fd, buffers)

    monkeypatch.setattr(embedded.os, "writev", writev)
    data = pieces()
    writer.write_many(data)
    writer.write(b"tail")
    monkeypatch.undo()
    assert writer.commit() is None

    expected = b"".join(data) + b"tail"
    assert writer.written == len(expected)
    assert (tmp_path / "storage/Projects/demo/raw/big.bin").read_bytes() == expected
    assert max(calls) <= WRITE_CALL_BYTES
    assert len(calls) < len(expected) // 256_000  # several pieces per call


def test_a_writer_of_single_chunks_gets_them_joined_up_to_the_limit() -> None:
    class OneAtATime:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, chunk: bytes) -> None:
            self.chunks.append(chunk)

    writer = OneAtATime()
    data = pieces()
    files.store(writer, data)  # type: ignore[arg-type]
    assert b"".join(writer.chunks) == b"".join(data)
    big = [c for c in data if len(c) > files.JOIN_LIMIT]
    assert all(len(c) <= files.JOIN_LIMIT or c in big for c in writer.chunks)
    assert len(writer.chunks) < len([c for c in data if c])  # small pieces were joined
