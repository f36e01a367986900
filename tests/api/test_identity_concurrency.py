"""Identity decisions that must hold under concurrency, against a real server: one use of
a refresh token wins, a burst of guesses cannot overshoot the back-off limit, and two
admins deleting each other leave one admin. Threads start together on a barrier."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from hopsworks_api.clock import ManualClock
from hopsworks_api.users import service as user_service
from hopsworks_api.users.models import User, UserCreate
from tests.support.api import PASSWORD, Api


def race(live_server: str, n: int, request: Callable[[httpx.Client], httpx.Response]) -> Counter:
    barrier = threading.Barrier(n)

    def one(_: int) -> int:
        with httpx.Client(base_url=live_server, timeout=120) as client:
            client.get("/api/health")  # connected before the start signal
            barrier.wait()
            return request(client).status_code

    with ThreadPoolExecutor(n) as pool:
        return Counter(pool.map(one, range(n)))


def test_one_refresh_token_used_concurrently_is_rotated_once(api: Api, live_server):
    token = api.refresh_tokens["owner"]
    codes = race(
        live_server,
        8,
        lambda c: c.post("/api/auth/refresh", json={"refresh_token": token}),
    )
    assert codes == {200: 1, 401: 7}


def test_a_burst_of_guesses_does_not_overshoot_the_limit(api: Api, app, live_server):
    app.state.runtime.clock = ManualClock()  # no back-off runs out during the burst
    settings = app.state.runtime.settings
    settings.login_client_max_failures = 1000
    guess = {"email": api.email("owner"), "password": "wrong password!"}
    codes = race(live_server, 12, lambda c: c.post("/api/auth/login", json=guess))
    limit = settings.login_account_max_failures
    assert codes == {401: limit, 429: 12 - limit}


def test_two_admins_deleting_each_other_leave_one(api: Api, app, live_server):
    user_service.create(
        app.state.runtime,
        data=UserCreate(email="ops@example.org", password=PASSWORD),
        is_admin=True,
    )
    api.login("ops")
    pairs = iter([("admin", "ops"), ("ops", "admin")])
    lock = threading.Lock()

    def delete(client: httpx.Client) -> httpx.Response:
        with lock:
            who, whom = next(pairs)
        return client.delete(f"/api/users/{whom}@example.org", headers=api.headers(who))

    codes = race(live_server, 2, delete)
    assert codes[204] == 1 and sum(codes.values()) == 2
    with app.state.runtime.read_sessions() as session:
        left = session.scalar(select(func.count()).select_from(User).where(User.is_admin))
    assert left == 1
