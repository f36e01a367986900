"""Projects, members, topics and shares round trips, tables and `--json`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Person, project_name, sign_up


def listing(person: Person, *args: str) -> list[dict]:
    return json.loads(person.ok(*args, "--json").stdout)


def test_projects_and_members(person: Person, platform: str, tmp_path: Path) -> None:
    name = project_name()
    created = json.loads(person.ok("projects", "create", name, "-d", "demo", "--json").stdout)
    assert created["name"] == name
    assert name in person.ok("projects", "ls").stdout  # the table
    assert [d["name"] for d in listing(person, "ls", name)] == [
        "Jupyter",
        "Logs",
        "Models",
        "Resources",
    ]

    colleague = sign_up(platform, tmp_path / "colleague", "colleague")
    person.ok("members", "add", name, colleague.email)
    roles = {m["email"]: m["role"] for m in listing(person, "members", "ls", name)}
    assert roles == {person.email: "data_owner", colleague.email: "data_scientist"}
    person.ok("members", "role", name, colleague.email, "data_owner")
    with person.http() as http:
        members = http.get(f"/api/projects/{name}/members").json()["items"]
        assert {m["email"]: m["role"] for m in members}[colleague.email] == "data_owner"
        person.ok("members", "rm", name, colleague.email)
        members = http.get(f"/api/projects/{name}/members").json()["items"]
        assert [m["email"] for m in members] == [person.email]

    refused = person.hops("projects", "rm", name)  # no terminal to ask on
    assert refused.returncode == 2 and "--yes" in refused.stderr
    person.ok("projects", "rm", name, "--yes")
    assert name not in [p["name"] for p in listing(person, "projects", "ls")]


def test_topics_and_shares(person: Person) -> None:
    owner, reader = person.new_project(), person.new_project()
    person.ok("topics", "create", owner, "events", "--partitions", "2")
    assert [(t["name"], t["partitions"]) for t in listing(person, "topics", "ls", owner)] == [
        ("events", 2)
    ]

    person.ok("shares", "offer", f"{owner}/Resources", reader)
    person.ok("shares", "offer", f"{owner}/events", reader, "--kind", "topic")
    offers = listing(person, "shares", "ls", reader)
    assert {(s["kind"], s["owner_project"], s["status"]) for s in offers} == {
        ("dataset", owner, "pending"),
        ("topic", owner, "pending"),
    }
    person.ok("shares", "accept", reader, f"{owner}::Resources")
    person.ok("shares", "reject", reader, f"{owner}::events", "--kind", "topic")
    given = listing(person, "shares", "ls", f"{owner}/Resources")
    assert [(s["project"], s["status"]) for s in given] == [(reader, "accepted")]
    person.ok("shares", "end", f"{owner}/Resources", reader)
    assert listing(person, "shares", "ls", reader) == []

    person.ok("topics", "rm", owner, "events")
