"""Members and dynamic roles."""

from __future__ import annotations

from tests.support.api import Api

M = "/api/projects/demo/members"


def test_members_list_with_project_user_identities(api: Api):
    members = api.call("scientist", "GET", M).json()["items"]
    assert {(m["email"], m["role"], m["identity"]) for m in members} == {
        ("owner@example.org", "data_owner", "demo__owner"),
        ("scientist@example.org", "data_scientist", "demo__scientist"),
    }


def test_add_change_remove(api: Api):
    api.register("newbie")
    api.add_member("owner", "demo", "newbie", "data_scientist")
    assert api.call("newbie", "GET", "/api/projects/demo").json()["role"] == "data_scientist"
    reply = api.call("owner", "PUT", f"{M}/newbie@example.org", json={"role": "data_owner"})
    assert reply.status_code == 200 and reply.json()["role"] == "data_owner"
    assert api.call("newbie", "GET", "/api/projects/demo").json()["role"] == "data_owner"
    assert api.call("owner", "DELETE", f"{M}/newbie@example.org").status_code == 204
    assert api.call("newbie", "GET", "/api/projects/demo").status_code == 404


def test_adding_twice_unknown_user_and_bad_role(api: Api):
    again = api.call(
        "owner", "POST", M, json={"email": "scientist@example.org", "role": "data_owner"}
    )
    assert again.status_code == 409
    unknown = api.call(
        "owner", "POST", M, json={"email": "ghost@example.org", "role": "data_owner"}
    )
    assert unknown.status_code == 404
    bad_role = api.call(
        "owner", "POST", M, json={"email": "outsider@example.org", "role": "superuser"}
    )
    assert bad_role.status_code == 422


def test_last_data_owner_cannot_leave_or_be_demoted(api: Api):
    demote = api.call("owner", "PUT", f"{M}/owner@example.org", json={"role": "data_scientist"})
    assert demote.status_code == 409
    leave = api.call("owner", "DELETE", f"{M}/owner@example.org")
    assert leave.status_code == 409
    api.call("owner", "PUT", f"{M}/scientist@example.org", json={"role": "data_owner"})
    assert api.call("owner", "DELETE", f"{M}/owner@example.org").status_code == 204


def test_removing_a_non_member_is_404(api: Api):
    assert api.call("owner", "DELETE", f"{M}/outsider@example.org").status_code == 404
