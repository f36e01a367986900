"""Registration policies (open, approval, closed) and the back-off on failed sign-ins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from hopsworks_api.cli import app as cli
from hopsworks_api.clock import ManualClock
from hopsworks_api.main import create_app
from hopsworks_api.users import throttle
from hopsworks_api.users.models import LoginFailures
from tests.support.api import PASSWORD, Api

WRONG = "wrong password!"


@pytest.fixture
def service(settings) -> Iterator[Callable[..., TestClient]]:  # type: ignore[no-untyped-def]
    """Start the service with some settings changed; a TestClient per client address."""
    apps = []

    @contextmanager
    def start(**overrides):  # type: ignore[no-untyped-def]
        app = create_app(settings.model_copy(update=overrides))
        apps.append(app)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    yield start
    for app in apps:
        app.state.runtime.engine.dispose()


def register(client: TestClient, name: str):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/register", json={"email": Api.email(name), "password": PASSWORD})


def login(client: TestClient, name: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", json={"email": Api.email(name), "password": password})


# -- registration policy -----------------------------------------------------------------------
def test_open_is_the_embedded_default(api: Api, settings):
    assert settings.registration == "open"
    assert api.call("owner", "GET", "/api/users/me").json()["status"] == "active"


def test_approval_new_accounts_wait_for_an_admin(service, settings):
    with service(registration="approval") as client:
        first = register(client, "admin")
        assert first.status_code == 201
        assert first.json()["status"] == "active" and first.json()["is_admin"] is True
        admin = Api(client)
        admin.login("admin")

        reply = register(client, "newcomer")
        assert reply.status_code == 201 and reply.json()["status"] == "pending"
        wrong = login(client, "newcomer", WRONG)
        assert wrong.status_code == 401  # pending status is only told to the right password
        pending = login(client, "newcomer")
        assert pending.status_code == 403 and pending.json()["error"]["code"] == "account_pending"

        listed = admin.call("admin", "GET", "/api/users", params={"status": "pending"}).json()[
            "items"
        ]
        assert [u["email"] for u in listed] == ["newcomer@example.org"]
        everyone = admin.call("admin", "GET", "/api/users").json()["items"]
        assert {u["email"] for u in everyone} == {"admin@example.org", "newcomer@example.org"}

        register(client, "other")
        result = CliRunner().invoke(
            cli,
            [
                "admin",
                "approve",
                "other@example.org",
                "--db",
                settings.database_url,
                "--data-dir",
                str(settings.data_dir),
            ],
        )
        assert result.exit_code == 0, result.output
        assert login(client, "other").status_code == 200

        approved = admin.call("admin", "POST", "/api/users/newcomer@example.org/approve")
        assert approved.status_code == 200 and approved.json()["status"] == "active"
        assert login(client, "newcomer").status_code == 200
        assert (
            admin.call("admin", "GET", "/api/users", params={"status": "pending"}).json()["items"]
            == []
        )
        missing = admin.call("admin", "POST", "/api/users/nobody@example.org/approve")
        assert missing.status_code == 404


def test_only_admins_list_and_approve_accounts(service):
    with service(registration="approval") as client:
        register(client, "admin")
        register(client, "pending")
        api = Api(client)
        api.login("admin")
        api.call("admin", "POST", "/api/users/pending@example.org/approve")
        api.login("pending")
        assert api.call("pending", "GET", "/api/users").status_code == 403
        assert api.call("pending", "POST", "/api/users/x@example.org/approve").status_code == 403
        assert client.get("/api/users").status_code == 401


def test_closed_registration_refuses_everyone_and_admins_create_accounts(service, settings):
    with service(registration="closed") as client:
        reply = register(client, "first")
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "registration_closed"
        result = CliRunner().invoke(
            cli,
            [
                "admin",
                "create-user",
                "first@example.org",
                "--db",
                settings.database_url,
                "--data-dir",
                str(settings.data_dir),
            ],
            env={"HOPS_NEW_USER_PASSWORD": PASSWORD},
        )
        assert result.exit_code == 0 and "platform admin" in result.output
        assert login(client, "first").status_code == 200
        assert register(client, "second").status_code == 403


# -- throttling --------------------------------------------------------------------------------
def retry_after(reply) -> int:  # type: ignore[no-untyped-def]
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == "too_many_attempts"
    return int(reply.headers["Retry-After"])


def test_failed_logins_back_off_per_account_up_to_a_cap(api: Api, app):
    clock = ManualClock()
    app.state.runtime.clock = clock
    settings = app.state.runtime.settings
    settings.login_client_max_failures = 1000  # this test is about the account's count
    limit, cap = settings.login_account_max_failures, settings.login_backoff_max_seconds
    for _ in range(limit):
        assert login(api.client, "owner", WRONG).status_code == 401
    # blocked now, even with the right password; attempts while blocked change nothing
    waits = [retry_after(login(api.client, "owner")) for _ in range(3)]
    assert waits == [1, 1, 1]
    seen = []
    for _ in range(14):
        clock.advance(seen[-1] if seen else 1)
        assert login(api.client, "owner", WRONG).status_code == 401
        seen.append(retry_after(login(api.client, "owner", WRONG)))
    assert seen[:4] == [2, 4, 8, 16]  # grows with every failure...
    assert max(seen) == cap == seen[-1]  # ...but never beyond the cap
    clock.advance(cap)
    assert login(api.client, "owner").status_code == 200  # never locked out for good
    # the success reset the account: the full allowance again
    for _ in range(limit - 1):
        assert login(api.client, "owner", WRONG).status_code == 401
    assert login(api.client, "owner").status_code == 200


def test_unknown_emails_back_off_like_real_accounts(api: Api, app):
    """No difference that would tell which emails have accounts."""
    app.state.runtime.clock = ManualClock()
    limit = app.state.runtime.settings.login_account_max_failures
    for _ in range(limit):
        assert login(api.client, "nobody", WRONG).status_code == 401
    assert retry_after(login(api.client, "nobody", WRONG)) == 1


def test_failed_logins_back_off_per_client_address(api: Api, app):
    app.state.runtime.clock = ManualClock()
    settings = app.state.runtime.settings
    settings.login_client_max_failures = 4
    for name in ("a1", "a2", "a3", "a4"):  # one failure each: no account reaches its limit
        assert login(api.client, name, WRONG).status_code == 401
    assert retry_after(login(api.client, "owner")) == 1  # this address is backing off
    elsewhere = TestClient(app, raise_server_exceptions=False, client=("192.0.2.7", 4000))
    assert login(elsewhere, "owner").status_code == 200  # others are not


def test_forgotten_failures_are_pruned_when_a_new_key_arrives(api: Api, app):
    """Guessing at random addresses cannot grow the table without bound."""
    clock = ManualClock()
    app.state.runtime.clock = clock
    window = app.state.runtime.settings.login_failure_window_seconds
    assert login(api.client, "r1", WRONG).status_code == 401
    clock.advance(window - 1)
    assert login(api.client, "r2", WRONG).status_code == 401
    assert counted_accounts(app) == {"r1", "r2"}  # r1 is not forgotten yet
    clock.advance(2)
    assert login(api.client, "r3", WRONG).status_code == 401
    assert counted_accounts(app) == {"r2", "r3"}


def counted_accounts(app) -> set[str]:  # type: ignore[no-untyped-def]
    names = {
        throttle.keys_for(email=Api.email(n), client="").account: n for n in ("r1", "r2", "r3")
    }
    with app.state.runtime.read_sessions() as session:
        keys = session.scalars(select(LoginFailures.key).where(LoginFailures.key.like("account:%")))
        return {names[key] for key in keys}


def test_password_change_guesses_count_as_failed_logins(api: Api, app):
    app.state.runtime.clock = ManualClock()
    limit = app.state.runtime.settings.login_account_max_failures
    body = {"current_password": WRONG, "new_password": "another horse battery"}
    for _ in range(limit):
        assert api.call("owner", "POST", "/api/auth/password", json=body).status_code == 403
    retry_after(api.call("owner", "POST", "/api/auth/password", json=body))


def test_an_admin_can_lift_a_back_off(api: Api, app, settings):
    app.state.runtime.clock = ManualClock()
    for _ in range(app.state.runtime.settings.login_account_max_failures):
        login(api.client, "owner", WRONG)
    retry_after(login(api.client, "owner"))
    result = CliRunner().invoke(
        cli,
        [
            "admin",
            "unblock",
            "owner@example.org",
            "--db",
            settings.database_url,
            "--data-dir",
            str(settings.data_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert login(api.client, "owner").status_code == 200


def test_deployments_ask_for_approval(monkeypatch: pytest.MonkeyPatch):
    """The role's env file (one template for Ansible and pyinfra) sets `approval`, and the
    service reads it as such."""
    from hopsworks_api.config import Settings
    from tests.deploy.test_render_roles import rendered

    env = rendered("hopsworks_api", "head1")["hopsworks_api.env"]
    assert "\nHOPS_REGISTRATION='approval'\n" in env
    monkeypatch.setenv("HOPS_REGISTRATION", "approval")
    assert Settings().registration == "approval"
