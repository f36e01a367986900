"""Real concurrency against a real uvicorn server (threads, separate connections)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.api import Api

RACERS = 20


def test_twenty_concurrent_creations_of_one_name_give_one_201(api: Api, live_server, app):
    tokens = [api.register(f"racer{i}") for i in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    def create(token: str) -> int:
        with httpx.Client(base_url=live_server, timeout=120) as client:
            client.get("/api/health")  # connection is open before the start signal
            barrier.wait()
            reply = client.post(
                "/api/projects",
                json={"name": "race"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if reply.status_code == 409:
                assert reply.json()["error"]["code"] == "conflict"
            return reply.status_code

    with ThreadPoolExecutor(RACERS) as pool:
        codes = Counter(pool.map(create, tokens))
    assert codes == {201: 1, 409: RACERS - 1}

    owners = [api.call(f"racer{i}", "GET", "/api/projects/race").status_code for i in range(RACERS)]
    assert owners.count(200) == 1  # exactly one racer owns it; the others cannot see it
    storage = app.state.runtime.settings.storage_root / "Projects" / "race"
    assert sorted(p.name for p in storage.iterdir()) == ["Jupyter", "Logs", "Models", "Resources"]


def test_concurrent_member_adds_and_listings(api: Api, live_server):
    names = [f"m{i}" for i in range(12)]
    for name in names:
        api.register(name)
    headers = api.headers("owner")

    def add(name: str) -> int:
        with httpx.Client(base_url=live_server, timeout=120, headers=headers) as client:
            added = client.post(
                "/api/projects/demo/members",
                json={"email": Api.email(name), "role": "data_scientist"},
            ).status_code
            listed = client.get("/api/projects/demo/datasets").status_code
            return added * 1000 + listed

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(add, names)) == {201 * 1000 + 200}
    members = api.call("owner", "GET", "/api/projects/demo/members").json()["items"]
    assert len(members) == 2 + len(names)
