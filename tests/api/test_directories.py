"""Real empty directories through the API: made, listed, removed with what is in them,
never counted against the quota (both storage backends: tests/backends/test_webhdfs.py)."""

from __future__ import annotations

from tests.support.api import Api

D = "/api/projects/demo/datasets"


def test_post_directories_makes_an_empty_directory_the_listing_shows(api: Api) -> None:
    reply = api.call("owner", "POST", f"{D}/Logs/directories/runs/2026/empty")
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"dataset": "Logs", "path": "runs/2026/empty"}
    listing = api.call("scientist", "GET", f"{D}/Logs/files/runs/2026").json()
    assert [(e["name"], e["type"], e["size"]) for e in listing["items"]] == [("empty", "dir", 0)]
    assert api.call("scientist", "GET", f"{D}/Logs/files/runs/2026/empty").json()["items"] == []

    again = api.call("owner", "POST", f"{D}/Logs/directories/runs/2026/empty")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_exists"
    assert api.upload("owner", "demo", "Logs", "runs/file.txt", b"x").status_code == 201
    on_file = api.call("owner", "POST", f"{D}/Logs/directories/runs/file.txt")
    assert on_file.status_code == 409 and on_file.json()["error"]["code"] == "already_exists"
    # an upload onto a directory is refused as before
    assert api.upload("owner", "demo", "Logs", "runs/2026/empty", b"x").status_code == 409

    # write permission as for an upload: data scientists into Resources, not into Logs
    assert api.call("scientist", "POST", f"{D}/Logs/directories/mine").status_code == 403
    assert api.call("scientist", "POST", f"{D}/Resources/directories/mine").status_code == 201
    assert api.call("outsider", "POST", f"{D}/Logs/directories/x").status_code == 404
    for bad in ("a%5Cb", ".hops-x"):
        assert api.call("owner", "POST", f"{D}/Logs/directories/{bad}").status_code == 400

    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (1, 1)
    assert api.call("owner", "DELETE", f"{D}/Logs/files/runs").status_code == 204
    assert api.call("owner", "GET", f"{D}/Logs/files").json()["items"] == []
    quota = api.call("owner", "GET", "/api/projects/demo/quotas").json()
    assert (quota["storage_bytes"]["usage"], quota["storage_files"]["usage"]) == (0, 0)

    feed = api.call("owner", "GET", "/api/projects/demo/activity", params={"limit": 500})
    made = [
        (e["target"], e["outcome"]) for e in feed.json()["items"] if e["action"] == "file.mkdir"
    ]
    assert ("Logs/runs/2026/empty", "ok") in made and ("Logs/mine", "denied") in made
