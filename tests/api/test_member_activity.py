"""The activity feed names the account a member addition was about (the web UI's
Activity page shows it), whether the addition succeeded or was refused."""

from __future__ import annotations

from tests.support.api import Api


def _feed(api: Api) -> list[dict]:
    reply = api.call("owner", "GET", "/api/projects/demo/activity?limit=500")
    assert reply.status_code == 200, reply.text
    return [i for i in reply.json()["items"] if i["action"] == "member.add"]


def test_a_member_addition_is_recorded_with_the_added_email(api: Api):
    api.register("colleague")
    api.add_member("owner", "demo", "colleague", "data_scientist")
    unknown = api.call(
        "owner",
        "POST",
        "/api/projects/demo/members",
        json={"email": "Nobody@Example.org", "role": "data_scientist"},
    )
    assert unknown.status_code == 404
    refused, added = _feed(api)[:2]
    assert (refused["target"], refused["outcome"]) == ("nobody@example.org", "denied")
    assert (added["target"], added["outcome"]) == ("colleague@example.org", "ok")
