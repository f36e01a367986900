"""`hops put` / `hops get`: a large file both ways with progress bars, directories, and
interrupted transfers resumed."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from hops_client.uploads import client_key
from tests.cli.conftest import Person

MIB = 1024 * 1024


@pytest.fixture
def project(person: Person) -> str:
    return person.new_project()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_large_file_up_and_down_with_progress(person: Person, project: str, tmp_path: Path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(50 * MIB + 12345))
    sent = person.ok("put", str(big), f"{project}/Resources/data/", HOPS_PROGRESS="always")
    assert "big.bin" in sent.stderr and "100%" in sent.stderr, sent.stderr
    listed = json.loads(person.ok("ls", f"{project}/Resources/data", "--json").stdout)
    assert [(e["name"], e["type"], e["size"]) for e in listed] == [
        ("big.bin", "file", big.stat().st_size)
    ]
    again = person.hops("put", str(big), f"{project}/Resources/data/big.bin")
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "already exists: pass --overwrite" in again.stderr

    into = tmp_path / "down"
    into.mkdir()
    got = person.ok(
        "get", f"{project}/Resources/data/big.bin", str(into), "-j", "3", HOPS_PROGRESS="always"
    )
    assert "100%" in got.stderr, got.stderr
    assert digest(into / "big.bin") == digest(big)
    assert sorted(p.name for p in into.iterdir()) == ["big.bin"]  # no .part left


def test_directories_both_ways(person: Person, project: str, tmp_path: Path):
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "top.txt").write_text("top")
    (tree / "a" / "b" / "deep.txt").write_text("deep")
    (tree / "a" / "nothing.txt").write_text("")
    person.ok("put", str(tree), f"{project}/Resources", "--no-progress")
    entries = json.loads(person.ok("ls", f"{project}/Resources/tree", "--json").stdout)
    assert [(e["name"], e["type"]) for e in entries] == [
        ("a", "dir"),
        ("empty", "dir"),
        ("top.txt", "file"),
    ]
    person.ok("get", f"{project}/Resources/tree", str(tmp_path / "copy"), "--no-progress")
    copy = tmp_path / "copy"
    assert (copy / "top.txt").read_text() == "top"
    assert (copy / "a" / "b" / "deep.txt").read_text() == "deep"
    assert (copy / "a" / "nothing.txt").read_bytes() == b""
    assert (copy / "empty").is_dir()
    person.ok("rm", f"{project}/Resources/tree")
    assert json.loads(person.ok("ls", f"{project}/Resources", "--json").stdout) == []


def test_an_interrupted_upload_resumes(person: Person, project: str, tmp_path: Path):
    """A session the CLI began earlier (same file, so the same client key) already holds
    chunk 2, as bytes that differ from the file's: a resumed upload sends only the other
    chunks, so the garbage proves chunk 2 was not sent again."""
    local = tmp_path / "part.bin"
    data = os.urandom(3 * MIB + 7)
    local.write_bytes(data)
    uploads = f"/api/projects/{project}/datasets/Resources/uploads"
    with person.http() as http:
        session = http.post(
            uploads,
            json={
                "path": "part.bin",
                "size": len(data),
                "chunk_size": MIB,
                "client_key": client_key(local, len(data)),
            },
        ).json()
        garbage = b"\xff" * MIB
        put = http.put(f"{uploads}/{session['id']}/chunks/2", content=garbage)
        assert put.status_code == 200, put.text
    person.ok("put", str(local), f"{project}/Resources/part.bin", "--chunk-mib", "1")
    with person.http() as http:
        stored = http.get(f"/api/projects/{project}/datasets/Resources/files/part.bin").content
    assert stored == data[:MIB] + garbage + data[2 * MIB :]


def test_an_interrupted_download_resumes(person: Person, project: str, tmp_path: Path):
    """A `.part` file with its state saying chunk 1 is done (its bytes differ from the
    server's): a resumed download fetches only the rest. A state for another version of
    the file (another ETag) is thrown away and everything fetched afresh."""
    data = os.urandom(3 * MIB + 11)
    with person.http() as http:
        url = f"/api/projects/{project}/datasets/Resources/files/down.bin"
        assert http.put(url, content=data).status_code == 201
        etag = http.head(url).headers["etag"]
    target = tmp_path / "down.bin"
    part = tmp_path / "down.bin.part"
    state = tmp_path / "down.bin.part.json"
    garbage = b"\x00" * MIB
    part.write_bytes(garbage)
    state.write_text(json.dumps({"etag": etag, "size": len(data), "chunk_size": MIB, "done": [1]}))
    args = ("get", f"{project}/Resources/down.bin", str(target), "--chunk-mib", "1")
    person.ok(*args)
    assert target.read_bytes() == garbage + data[MIB:]
    assert not part.exists() and not state.exists()

    part.write_bytes(garbage)
    state.write_text(
        json.dumps({"etag": '"old"', "size": len(data), "chunk_size": MIB, "done": [1]})
    )
    person.ok(*args)
    assert target.read_bytes() == data
