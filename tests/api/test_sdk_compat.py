"""The SDK compatibility API (`/hopsworks-api/api`) in process: the error envelope, the two
path forms and their edge cases, the flow.js upload with chunks out of order, listings.
The real SDK runs against a live server in tests/sdk/."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from hopsworks_api.errors import BadRequest, NotFound
from hopsworks_api.sdk_compat.datasets import SdkPath, parse
from tests.support.api import Api

SDK = "/hopsworks-api/api"
MiB = 1024 * 1024


def _pid(api: Api) -> int:
    return api.call("owner", "GET", "/api/projects/demo").json()["id"]


def _sdk(api: Api, who: str | None, method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
    return api.call(who, method, SDK + path, **kwargs)


def _flow(api: Api, pid: int, directory: str, name: str, data: bytes, chunk: int, number: int):  # type: ignore[no-untyped-def]
    total = max(1, len(data) // chunk + (1 if len(data) % chunk else 0))
    part = data[(number - 1) * chunk : number * chunk if number < total else len(data)]
    fields = {
        "templateId": "-1",
        "flowChunkSize": str(chunk),
        "flowTotalSize": str(len(data)),
        "flowIdentifier": f"{len(data)}_{name}",
        "flowFilename": name,
        "flowRelativePath": name,
        "flowTotalChunks": str(total),
        "flowCurrentChunkSize": str(len(part)),
        "flowChunkNumber": str(number),
    }
    return _sdk(
        api, "owner", "POST", f"/project/{pid}/dataset/upload/{directory}",
        data=fields, files={"file": (name, part)},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "dataset", "rest", "absolute"),
    [
        ("Resources/a/b.csv", "Resources", "a/b.csv", "/Projects/demo/Resources/a/b.csv"),
        ("/Resources//a/", "Resources", "a", "/Projects/demo/Resources/a"),
        ("/Projects/demo/Resources/a", "Resources", "a", "/Projects/demo/Resources/a"),
        ("hdfs:///Projects/demo/Logs/x", "Logs", "x", "/Projects/demo/Logs/x"),
        ("hdfs://nn:8020/Projects/demo/Logs", "Logs", "", "/Projects/demo/Logs"),
        ("/Projects/other/Shared/x", "other::Shared", "x", "/Projects/other/Shared/x"),
        ("/Projects/demo", "", "", "/Projects/demo"),
        ("", "", "", "/Projects/demo"),
        ("Projects/x", "Projects", "x", "/Projects/demo/Projects/x"),  # relative: a dataset
    ],
)
def test_both_path_forms_name_the_same_place(raw: str, dataset: str, rest: str, absolute: str):
    where = parse("demo", raw)
    assert (where.dataset, where.rest, where.absolute) == (dataset, rest, absolute)
    assert parse("demo", where.absolute) == where  # answers can be sent back as they are
    assert SdkPath("demo", dataset, rest) == where


@pytest.mark.parametrize(
    ("raw", "error"),
    [("/Projects", BadRequest), ("hdfs://nn/tmp/x", BadRequest), ("/Projects/other", NotFound)],
)
def test_paths_that_name_no_place_in_the_project(raw: str, error: type[Exception]):
    with pytest.raises(error):
        parse("demo", raw)


def test_errors_use_the_sdk_envelope_with_the_platform_status(api: Api):
    pid = _pid(api)
    anonymous = api.client.get(SDK + "/variables/versions")
    assert anonymous.status_code == 401 and "ApiKey" in anonymous.headers["WWW-Authenticate"]
    assert anonymous.json()["errorCode"] == 120000 and anonymous.json()["errorMsg"] == (
        "unauthorized"
    )
    missing = _sdk(api, "owner", "GET", "/variables/no_such_variable")
    assert missing.status_code == 404
    assert missing.json() == {
        "errorCode": 100050,
        "errorMsg": "not_found",
        "usrMsg": "variable 'no_such_variable' is not set on this platform",
    }
    # an outsider cannot tell the project from a missing one
    outsider = _sdk(api, "outsider", "GET", f"/project/{pid}/kafka/topics")
    unused = _sdk(api, "owner", "GET", f"/project/{pid + 1000}/kafka/topics")
    assert outsider.status_code == unused.status_code == 404
    assert outsider.json()["errorCode"] == unused.json()["errorCode"] == 150004
    assert "demo" not in outsider.text
    no_route = _sdk(api, "owner", "GET", "/no/such/route")
    assert no_route.status_code == 404 and set(no_route.json()) == {
        "errorCode",
        "errorMsg",
        "usrMsg",
    }
    assert (
        _sdk(api, "owner", "GET", "/project/99999999999999999999999/kafka/topics").json()[
            "errorCode"
        ]
        == 150004
    )
    invalid = _sdk(api, "owner", "POST", "/project", json={"projectName": "Not__Valid"})
    assert invalid.status_code == 422 and invalid.json()["errorMsg"] == "validation_error"
    taken = _sdk(api, "owner", "POST", "/project", json={"projectName": "demo"})
    assert taken.status_code == 409 and taken.json()["errorCode"] == 150001
    # the platform's own API keeps its envelope
    assert set(api.call("owner", "GET", "/api/projects/nope").json()) == {"error"}


def test_project_info_teams_and_credentials_with_one_password(api: Api):
    key = api.call("scientist", "POST", "/api/auth/api-keys", json={"name": "sdk"}).json()["key"]
    headers = {"Authorization": f"ApiKey {key}"}
    info = api.client.get(SDK + "/project/getProjectInfo/demo", headers=headers).json()
    assert info["projectName"] == "demo" and info["projectId"] == _pid(api)
    teams = api.client.get(SDK + "/project", headers=headers).json()
    assert [t["project"]["name"] for t in teams] == ["demo"]
    assert teams[0]["user"]["username"] == "scientist"
    # the SDK's "owned" projects: those where the caller is a data owner
    assert teams[0]["project"]["owner"]["uid"] != teams[0]["user"]["uid"]
    creds = api.client.get(f"{SDK}/project/{info['projectId']}/credentials", headers=headers)
    assert creds.status_code == 200
    body = creds.json()
    password = body["password"].encode()
    keystore = pkcs12.load_pkcs12(base64.b64decode(body["kStore"]), password)
    truststore = pkcs12.load_pkcs12(base64.b64decode(body["tStore"]), password)
    assert (
        keystore.cert is not None and "demo__" in keystore.cert.certificate.subject.rfc4514_string()
    )
    assert truststore.additional_certs
    assert body["clientCert"].startswith("-----BEGIN CERTIFICATE")
    assert "PRIVATE KEY" in body["clientKey"] and "BEGIN CERTIFICATE" in body["caChain"]
    # an admin who is no member has no credentials here
    assert _sdk(api, "admin", "GET", f"/project/{info['projectId']}/credentials").status_code == 403


@pytest.mark.parametrize("form", ["relative", "absolute"])
def test_paths_in_both_forms_and_their_edge_cases(api: Api, form: str):
    pid = _pid(api)
    prefix = "Resources" if form == "relative" else "%2FProjects%2Fdemo%2FResources"
    made = _sdk(api, "owner", "POST", f"/project/{pid}/dataset/{prefix}%2Fa%2Fb",
                params={"action": "create"})  # fmt: skip
    assert made.status_code == 201
    assert made.json()["attributes"]["path"] == "/Projects/demo/Resources/a/b"
    assert api.upload("owner", "demo", "Resources", "a/f.txt", b"hello").status_code == 201
    stat = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/{prefix}%2Fa%2Ff.txt").json()
    assert stat["attributes"]["size"] == 5 and stat["attributes"]["dir"] is False
    dataset = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/{prefix}").json()
    assert dataset["datasetType"] == "DATASET" and dataset["attributes"]["dir"] is True
    got = _sdk(
        api, "owner", "GET", f"/project/{pid}/dataset/download/with_auth/{prefix}%2Fa%2Ff.txt"
    )
    assert got.status_code == 200 and got.content == b"hello"
    bad = {
        f"{prefix}%2F..%2Fx": (400, "bad_path"),  # nothing escapes its dataset
        "%2FProjects": (400, "bad_path"),
        "%2FProjects%2Fother%2FResources": (404, "not_found"),  # no such share
        "Nope%2Fx": (404, "not_found"),
    }
    for path, (status, code) in bad.items():
        reply = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/{path}")
        assert (reply.status_code, reply.json()["errorMsg"]) == (status, code), path
    listing_a_file = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/{prefix}%2Fa%2Ff.txt",
                          params={"action": "listing"})  # fmt: skip
    assert listing_a_file.status_code == 400 and listing_a_file.json()["errorCode"] == 110019
    a_dir = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/download/with_auth/{prefix}%2Fa")
    assert a_dir.status_code == 400 and a_dir.json()["errorCode"] == 110020
    unsupported = _sdk(api, "owner", "POST", f"/project/{pid}/dataset/{prefix}%2Fa",
                       params={"action": "zip"})  # fmt: skip
    assert unsupported.status_code == 400
    assert _sdk(api, "owner", "DELETE", f"/project/{pid}/dataset/{prefix}%2Fa").status_code == 204
    gone = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/{prefix}%2Fa")
    assert gone.status_code == 404 and gone.json()["errorCode"] == 110008


def test_listing_pages_and_sorts_by_name(api: Api):
    pid = _pid(api)
    for name in ("c", "a", "d", "b"):
        assert api.upload("owner", "demo", "Resources", f"l/{name}", b"x").status_code == 201

    def names(**params):  # type: ignore[no-untyped-def]
        reply = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/Resources%2Fl",
                     params={"action": "listing", **params})  # fmt: skip
        assert reply.json()["count"] == 4
        return [i["attributes"]["name"] for i in reply.json()["items"]]

    assert names(offset=0, limit=1000, sort_by="ID:asc") == ["a", "b", "c", "d"]
    assert names(offset=1, limit=2) == ["b", "c"]
    assert names(offset=1, limit=2, sort_by="NAME:desc") == ["c", "b"]
    assert names(offset=3, limit=5, sort_by="NAME:desc") == ["a"]
    assert names(offset=9, limit=5) == []
    root = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/", params={"action": "listing"})
    assert [i["name"] for i in root.json()["items"]] == ["Jupyter", "Logs", "Models", "Resources"]
    for bad in ({"offset": -1}, {"limit": 10**9}):
        reply = _sdk(api, "owner", "GET", f"/project/{pid}/dataset/Resources",
                     params={"action": "listing", **bad})  # fmt: skip
        assert reply.status_code == 422


def test_flow_upload_with_chunks_out_of_order(api: Api):
    """Chunk 3, then 1, then 2: the file appears with the last one, whole and in order;
    nothing is there before."""
    pid = _pid(api)
    data = bytes(range(256)) * (10 * 1024 + 7)  # 2.5 MiB and a bit: three 1 MiB chunks
    for number, expected in ((3, {"received": 1}), (1, {"received": 2})):
        reply = _flow(api, pid, "Resources%2Fup", "big.bin", data, MiB, number)
        assert (reply.status_code, reply.json()) == (200, expected), reply.text
        assert api.download("owner", "demo", "Resources", "up/big.bin").status_code == 404
    last = _flow(api, pid, "Resources%2Fup", "big.bin", data, MiB, 2)
    assert last.json() == {"path": "/Projects/demo/Resources/up/big.bin"}
    stored = api.download("owner", "demo", "Resources", "up/big.bin").content
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    # the same file again: it exists, so the upload is refused (the SDK removes it first)
    again = _flow(api, pid, "Resources%2Fup", "big.bin", data, MiB, 1)
    assert again.status_code == 409 and again.json()["errorCode"] == 110012


def test_flow_upload_refuses_bad_chunks(api: Api):
    pid = _pid(api)
    url = f"/project/{pid}/dataset/upload/Resources"
    no_file = _sdk(api, "owner", "POST", url, data={"flowChunkNumber": "1"})
    assert no_file.status_code == 400 and no_file.json()["errorMsg"] == "bad_upload"
    for number in ("x", "\u00b2", "-1", "0", str(2**31)):  # "²" is a digit to str.isdigit
        fields = {"flowChunkNumber": number, "flowIdentifier": "1_a", "flowFilename": "a"}
        bad_number = _sdk(api, "owner", "POST", url, data=fields, files={"file": ("a", b"1")})
        assert bad_number.status_code == 400 and bad_number.json()["errorMsg"] == "bad_upload"
    escaping = _flow(api, pid, "Resources%2F..", "a.bin", b"1", MiB, 1)
    assert escaping.status_code == 400 and escaping.json()["errorMsg"] == "bad_path"
    scientist = api.call("scientist", "POST", f"{SDK}{url}", data={}, files={"file": ("a", b"")})
    assert scientist.status_code == 400  # a member, but the form is incomplete
    outsider = api.call("outsider", "POST", f"{SDK}{url}", data={}, files={"file": ("a", b"")})
    assert outsider.status_code == 404 and "demo" not in outsider.text


def test_sdk_calls_are_in_the_projects_activity_feed(api: Api):
    """The SDK names projects by id: its data reads and changes land in that project's feed,
    and a probe of an id no project holds lands in none."""
    pid = _pid(api)
    assert _sdk(api, "scientist", "GET", f"/project/{pid}/credentials").status_code == 200
    made = _sdk(api, "owner", "POST", f"/project/{pid}/dataset/Resources/fresh?action=create")
    assert made.status_code < 300, made.text
    assert _sdk(api, "outsider", "GET", f"/project/{pid + 1000}/credentials").status_code == 404
    feed = api.call("owner", "GET", "/api/projects/demo/activity?limit=500").json()["items"]
    seen = {(r["action"], r["status_code"]) for r in feed}
    assert ("credentials.read", 200) in seen
    assert any(a.startswith("sdk.dataset") and s < 300 for a, s in seen), seen
    assert not any(r["status_code"] == 404 and "credentials" in r["action"] for r in feed)
