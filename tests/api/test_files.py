"""Datasets and files: upload, download, listing, deletion, and refusing bad paths."""

from __future__ import annotations

import shutil

import pytest

from tests.support.api import Api

D = "/api/projects/demo/datasets"


def test_dataset_create_list_delete(api: Api, settings):
    created = api.call("owner", "POST", D, json={"name": "sales.v2", "description": "EU"})
    assert created.status_code == 201
    assert api.call("owner", "POST", D, json={"name": "sales.v2"}).status_code == 409
    api.upload("owner", "demo", "sales.v2", "a/b/c.csv", b"x" * 100)
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert quota["storage_bytes"]["usage"] == 100
    assert api.call("owner", "DELETE", f"{D}/sales.v2").status_code == 204
    assert not (settings.storage_root / "Projects" / "demo" / "sales.v2").exists()
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert quota["storage_bytes"]["usage"] == 0 and quota["storage_files"]["usage"] == 0
    assert api.call("owner", "DELETE", f"{D}/sales.v2").status_code == 404


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "x" * 129, "a::b", "-dash", "sp ace"])
def test_bad_dataset_names(api: Api, name):
    assert api.call("owner", "POST", D, json={"name": name}).status_code == 422


def test_default_datasets_cannot_be_deleted(api: Api):
    assert api.call("owner", "DELETE", f"{D}/Logs").status_code == 409


def test_upload_download_list_delete(api: Api):
    data = bytes(range(256)) * 1000
    reply = api.upload("owner", "demo", "Logs", "runs/2026/run 1.bin", data)
    assert reply.status_code == 201
    assert reply.json() == {"dataset": "Logs", "path": "runs/2026/run 1.bin", "size": len(data)}
    got = api.download("owner", "demo", "Logs", "runs/2026/run%201.bin")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(len(data))
    listing = api.call("scientist", "GET", f"{D}/Logs/files/runs/2026").json()
    assert [(e["name"], e["type"], e["size"]) for e in listing["items"]] == [
        ("run 1.bin", "file", len(data))
    ]
    root = api.call("scientist", "GET", f"{D}/Logs/files").json()
    assert [(e["name"], e["type"]) for e in root["items"]] == [("runs", "dir")]
    # replace: usage follows the new size, file count unchanged
    assert api.upload("owner", "demo", "Logs", "runs/2026/run 1.bin", b"short").status_code == 201
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (5, 1)
    assert api.call("owner", "DELETE", f"{D}/Logs/files/runs").status_code == 204
    assert api.download("owner", "demo", "Logs", "runs/2026/run%201.bin").status_code == 404
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (0, 0)


def test_empty_file(api: Api):
    assert api.upload("owner", "demo", "Logs", "empty", b"").status_code == 201
    assert api.download("owner", "demo", "Logs", "empty").content == b""


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "a/..%2F..%2F..%2Fx",
        "%2E%2E/x",
        "a/%2E/b",
        "a//b",
        "a%5Cb",
        "a%00b",
        ".hops-upload-x",
        "x" * 300,
    ],
)
def test_bad_paths_are_refused(api: Api, path, settings):
    reply = api.call("owner", "PUT", f"{D}/Logs/files/{path}", content=b"evil")
    assert reply.status_code in (400, 404), reply.text
    if reply.status_code == 400:
        assert reply.json()["error"]["code"] == "bad_path"
    assert not (settings.storage_root / "etc").exists()
    assert not (settings.storage_root / "Projects" / "x").exists()


def test_symlink_out_of_a_dataset_is_not_followed(api: Api, settings, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    (settings.storage_root / "Projects" / "demo" / "Logs" / "link").symlink_to(tmp_path)
    reply = api.download("owner", "demo", "Logs", "link/secret.txt")
    assert reply.status_code == 400
    assert api.upload("owner", "demo", "Logs", "link/new.txt", b"x").status_code == 400
    assert not (tmp_path / "new.txt").exists()


def test_a_dataset_directory_turned_into_a_symlink_leads_nowhere(api: Api, settings, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    logs = settings.storage_root / "Projects" / "demo" / "Logs"
    shutil.rmtree(logs)
    logs.symlink_to(outside)
    listing = api.call("owner", "GET", "/api/projects/demo/datasets/Logs/files")
    assert listing.status_code == 400, listing.text
    assert api.download("owner", "demo", "Logs", "secret.txt").status_code == 400


def test_a_symlink_within_its_dataset_is_followed(api: Api, settings):
    api.upload("owner", "demo", "Logs", "real/a.txt", b"inside")
    (settings.storage_root / "Projects" / "demo" / "Logs" / "alias").symlink_to("real")
    assert api.download("owner", "demo", "Logs", "alias/a.txt").content == b"inside"
    names = api.call("owner", "GET", "/api/projects/demo/datasets/Logs/files/alias").json()
    assert [item["name"] for item in names["items"]] == ["a.txt"]


def test_file_and_directory_conflicts(api: Api):
    api.upload("owner", "demo", "Logs", "a/file", b"x")
    assert api.upload("owner", "demo", "Logs", "a", b"y").status_code == 409
    assert api.upload("owner", "demo", "Logs", "a/file/below", b"y").status_code == 409
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (1, 1)


def test_dataset_root_cannot_be_deleted_through_files(api: Api):
    assert api.call("owner", "DELETE", f"{D}/Logs/files/").status_code in (400, 405)


def test_unknown_dataset_and_file(api: Api):
    assert api.download("owner", "demo", "Nope", "x").status_code == 404
    assert api.download("owner", "demo", "Logs", "missing").status_code == 404
    assert api.call("owner", "DELETE", f"{D}/Logs/files/missing").status_code == 404
