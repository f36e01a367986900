"""The role matrix over HTTP: every row of api.md's table that has an endpoint, for a data
owner, a data scientist, a non-member and a platform admin who is not a member."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.support.api import Api

P = "/api/projects/demo"


def _offer_from_supplier(api: Api) -> None:
    """The admin owns project `supplier` and offers its dataset `feed` to `demo`."""
    assert api.call("admin", "POST", "/api/projects", json={"name": "supplier"}).status_code == 201
    assert (
        api.call(
            "admin", "POST", "/api/projects/supplier/datasets", json={"name": "feed"}
        ).status_code
        == 201
    )
    assert (
        api.call(
            "admin",
            "POST",
            "/api/projects/supplier/datasets/feed/shares",
            json={"project": "demo", "permission": "read_only"},
        ).status_code
        == 201
    )


def _partner_share(api: Api) -> None:
    assert api.call("admin", "POST", "/api/projects", json={"name": "partner"}).status_code == 201
    assert (
        api.call(
            "owner", "POST", f"{P}/datasets/Logs/shares", json={"project": "partner"}
        ).status_code
        == 201
    )


def _file_in_logs(api: Api) -> None:
    assert api.upload("owner", "demo", "Logs", "x.bin", b"data").status_code == 201


def _partner(api: Api) -> None:
    assert api.call("admin", "POST", "/api/projects", json={"name": "partner"}).status_code == 201


def _nothing(api: Api) -> None:
    return None


def _helper_member(api: Api) -> None:
    api.register("helper")
    api.add_member("owner", "demo", "helper", "data_scientist")


def _temp_dataset(api: Api) -> None:
    assert api.call("owner", "POST", f"{P}/datasets", json={"name": "Temp"}).status_code == 201


def _newbie(api: Api) -> None:
    api.register("newbie")


@dataclass
class Case:
    row: str
    request: Callable[[Api, str], object]
    ok: int
    allowed: tuple[bool, bool, bool]  # data scientist, data owner, admin (not a member)
    setup: Callable[[Api], None] = _nothing


def get(path: str) -> Callable[[Api, str], object]:
    return lambda api, who: api.call(who, "GET", path)


CASES = [
    Case("see project", get(P), 200, (True, True, True)),
    Case("see members", get(f"{P}/members"), 200, (True, True, True)),
    Case("see datasets", get(f"{P}/datasets"), 200, (True, True, True)),
    Case("see quotas", get(f"{P}/quotas"), 200, (True, True, True)),
    Case("see activity", get(f"{P}/activity"), 200, (True, True, True)),
    Case("directory listing", get(f"{P}/datasets/Logs/files/"), 200, (True, True, False)),
    Case(
        "upload into Resources",
        lambda api, who: api.upload(who, "demo", "Resources", "prog.py", b"print(1)"),
        201,
        (True, True, False),
    ),
    Case(
        "upload into Jupyter",
        lambda api, who: api.upload(who, "demo", "Jupyter", "nb.ipynb", b"{}"),
        201,
        (True, True, False),
    ),
    Case(
        "upload into another dataset",
        lambda api, who: api.upload(who, "demo", "Logs", "x.csv", b"1,2"),
        201,
        (False, True, False),
    ),
    Case(
        "download a file (export)",
        lambda api, who: api.download(who, "demo", "Logs", "x.bin"),
        200,
        (False, True, False),
        _file_in_logs,
    ),
    Case(
        "delete a file in another dataset",
        lambda api, who: api.call(who, "DELETE", f"{P}/datasets/Logs/files/x.bin"),
        204,
        (False, True, False),
        _file_in_logs,
    ),
    Case(
        "create dataset",
        lambda api, who: api.call(who, "POST", f"{P}/datasets", json={"name": "raw"}),
        201,
        (False, True, False),
    ),
    Case(
        "delete dataset",
        lambda api, who: api.call(who, "DELETE", f"{P}/datasets/Temp"),
        204,
        (False, True, False),
        _temp_dataset,
    ),
    Case(
        "edit metadata",
        lambda api, who: api.call(who, "PATCH", P, json={"description": "new"}),
        200,
        (False, True, False),
    ),
    Case(
        "share a dataset",
        lambda api, who: api.call(
            who, "POST", f"{P}/datasets/Logs/shares", json={"project": "partner"}
        ),
        201,
        (False, True, False),
        _partner,
    ),
    Case(
        "unshare a dataset",
        lambda api, who: api.call(who, "DELETE", f"{P}/datasets/Logs/shares/partner"),
        204,
        (False, True, False),
        _partner_share,
    ),
    Case(
        "accept a share (import)",
        lambda api, who: api.call(who, "POST", f"{P}/shared/supplier::feed/accept"),
        200,
        (False, True, False),
        _offer_from_supplier,
    ),
    Case(
        "reject a share",
        lambda api, who: api.call(who, "POST", f"{P}/shared/supplier::feed/reject"),
        204,
        (False, True, False),
        _offer_from_supplier,
    ),
    Case(
        "add a member",
        lambda api, who: api.call(
            who,
            "POST",
            f"{P}/members",
            json={"email": Api.email("newbie"), "role": "data_scientist"},
        ),
        201,
        (False, True, True),
        _newbie,
    ),
    Case(
        "change a role",
        lambda api, who: api.call(
            who, "PUT", f"{P}/members/{Api.email('helper')}", json={"role": "data_owner"}
        ),
        200,
        (False, True, True),
        _helper_member,
    ),
    Case(
        "remove another member",
        lambda api, who: api.call(who, "DELETE", f"{P}/members/{Api.email('helper')}"),
        204,
        (False, True, True),
        _helper_member,
    ),
    Case(
        "delete the project", lambda api, who: api.call(who, "DELETE", P), 204, (False, True, True)
    ),
    Case(
        "change quotas",
        lambda api, who: api.call(who, "PUT", f"{P}/quotas", json={"storage_bytes": 10**9}),
        200,
        (False, False, True),
    ),
]

ACTORS = ["scientist", "owner", "admin", "outsider"]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.row)
def test_role_matrix_over_http(api: Api, case: Case, actor: str):
    case.setup(api)
    reply = case.request(api, actor)
    if actor == "outsider":
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"]["message"] == "project 'demo' not found"
        return
    allowed = dict(zip(["scientist", "owner", "admin"], case.allowed, strict=True))[actor]
    expected = case.ok if allowed else 403
    assert reply.status_code == expected, reply.text
    if not allowed:
        assert reply.json()["error"]["code"] == "forbidden"


def test_a_scientist_may_leave_but_not_remove_others(api: Api):
    api.register("helper")
    api.add_member("owner", "demo", "helper", "data_scientist")
    other = api.call("scientist", "DELETE", f"{P}/members/{Api.email('helper')}")
    assert other.status_code == 403
    leave = api.call("scientist", "DELETE", f"{P}/members/{Api.email('scientist')}")
    assert leave.status_code == 204
    assert api.call("scientist", "GET", P).status_code == 404


def test_rights_follow_the_role_in_the_project_asked_about(api: Api):
    """The same person is a data scientist in demo and a data owner in their own project."""
    assert api.call("scientist", "POST", "/api/projects", json={"name": "mine"}).status_code == 201
    assert api.upload("scientist", "mine", "Logs", "a.txt", b"a").status_code == 201
    assert api.upload("scientist", "demo", "Logs", "a.txt", b"a").status_code == 403
    api.call("owner", "PUT", f"{P}/members/{Api.email('scientist')}", json={"role": "data_owner"})
    assert api.upload("scientist", "demo", "Logs", "a.txt", b"a").status_code == 201
