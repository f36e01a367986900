"""The model registry: versions counting up from 1 over files in `Models`, their manifest,
who may register and delete, and the refusals."""

from __future__ import annotations

import hashlib
import json
import threading

from tests.support.api import Api

M = "/api/projects/demo/models"
JSON = {"content-type": "application/json"}


def upload_model(api: Api, who: str, directory: str, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        reply = api.upload(who, "demo", "Models", f"{directory}/{name}", content)
        assert reply.status_code == 201, reply.text


def test_versions_count_up_and_carry_their_manifest(api: Api):
    files = {"model.joblib": b"weights", "meta/schema.json": b"{}"}
    upload_model(api, "scientist", "iris", files)  # data scientists may write Models
    body = {
        "name": "iris",
        "framework": "sklearn",
        "path": "Models/iris",
        "metrics": {"accuracy": 0.97, "f1": 1},
        "description": "first try",
        "input_example": [[5.1, 3.5, 1.4, 0.2]],
    }
    first = api.call("scientist", "POST", M, json=body)
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    assert first.json()["registered_by"] == api.email("scientist")
    assert first.json()["files"] == [
        {"path": p, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()}
        for p, c in sorted(files.items())
    ]
    second = api.call("owner", "POST", M, json={**body, "metrics": {}, "path": "/Models/iris/"})
    assert second.status_code == 201 and second.json()["version"] == 2
    assert api.call("owner", "GET", M).json()["items"] == [
        {"name": "iris", "latest_version": 2, "versions": [1, 2]}
    ]
    versions = api.call("scientist", "GET", f"{M}/iris").json()["items"]
    assert [v["version"] for v in versions] == [1, 2]
    one = api.call("scientist", "GET", f"{M}/iris/versions/1").json()
    assert one["metrics"] == {"accuracy": 0.97, "f1": 1.0}
    assert one["input_example"] == [[5.1, 3.5, 1.4, 0.2]] and one["path"] == "Models/iris"

    # deleting: data owners only; the files stay, the numbers are not reused
    assert api.call("scientist", "DELETE", f"{M}/iris/versions/1").status_code == 403
    assert api.call("owner", "DELETE", f"{M}/iris/versions/1").status_code == 204
    assert api.call("owner", "GET", f"{M}/iris/versions/1").status_code == 404
    assert api.download("owner", "demo", "Models", "iris/model.joblib").content == b"weights"
    assert api.call("owner", "DELETE", f"{M}/iris/versions/2").status_code == 204
    assert api.call("owner", "GET", f"{M}/iris").status_code == 404
    third = api.call("owner", "POST", M, json=body)
    assert third.json()["version"] == 3  # even the latest deleted number is not reused
    feed = api.call("owner", "GET", "/api/projects/demo/activity?limit=500").json()["items"]
    assert {"model.register", "model.delete"} <= {i["action"] for i in feed}


def test_concurrent_registrations_get_distinct_versions(api: Api):
    upload_model(api, "owner", "race", {"m.bin": b"x"})
    body = {"name": "race", "framework": "python", "path": "Models/race"}
    replies: list[int] = []
    start = threading.Barrier(4)

    def register() -> None:
        start.wait()
        reply = api.call("owner", "POST", M, json=body)
        assert reply.status_code == 201, reply.text
        replies.append(reply.json()["version"])

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(replies) == [1, 2, 3, 4]


def test_bad_registrations_are_refused_with_a_reason(api: Api):
    upload_model(api, "owner", "ok", {"m.bin": b"x"})
    assert api.upload("owner", "demo", "Resources", "elsewhere/m.bin", b"x").status_code == 201
    base = {"name": "m", "framework": "sklearn", "path": "Models/ok"}
    cases = [
        ({"path": "Resources/elsewhere"}, 400, "bad_model_path"),
        ({"path": "Models"}, 400, "bad_model_path"),
        ({"path": "Models/missing"}, 400, "bad_model_path"),
        ({"path": "Models/ok/m.bin"}, 400, "bad_model_path"),  # a file, not a directory
        ({"path": "Models/../Logs"}, 400, "bad_path"),
        ({"framework": "cobol"}, 422, None),
        ({"metrics": {"accuracy": "high"}}, 422, None),
        ({"metrics": {"\ud800": 1}}, 422, None),  # a lone surrogate: no UTF-8 column stores it
        ({"input_example": {"x": ["\udfff"]}}, 422, None),
        ({"name": "../x"}, 422, None),
        ({"unknown": 1}, 422, None),
    ]
    for change, status, code in cases:
        body = json.dumps({**base, **change}).encode()  # escaped: lone surrogates survive
        reply = api.call("owner", "POST", M, content=body, headers=JSON)
        assert reply.status_code == status, (change, reply.text)
        assert reply.json()["error"]["message"]
        if code:
            assert reply.json()["error"]["code"] == code, (change, reply.text)
    assert api.call("owner", "GET", M).json()["items"] == []  # nothing half-made
    assert api.call("owner", "GET", f"{M}/nothing").status_code == 404
    assert api.call("owner", "GET", f"{M}/nothing/versions/0").status_code == 422
    assert api.call("outsider", "GET", M).status_code == 404
    assert api.call("outsider", "POST", M, json=base).status_code == 404
