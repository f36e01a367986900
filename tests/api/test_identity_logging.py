"""What the service tells about itself: WWW-Authenticate on 401, a request id per request,
one access-log line per request without secrets, and logs without terminal escape codes."""

from __future__ import annotations

import json
import logging
import re

import pytest

from hopsworks_api.errors import WWW_AUTHENTICATE
from hopsworks_api.logging_setup import JsonFormatter, PlainFormatter
from tests.support.api import PASSWORD, Api

ESC = "\x1b"
ACCESS = "hopsworks_api.access"


@pytest.mark.parametrize(
    ("method", "url", "headers", "body"),
    [
        ("GET", "/api/users/me", {}, None),
        ("GET", "/api/users/me", {"Authorization": "Bearer nope"}, None),
        ("GET", "/api/projects/demo", {"X-API-Key": "hops_a_b"}, None),
        ("POST", "/api/auth/login", {}, {"email": "owner@example.org", "password": "x" * 9}),
        ("POST", "/api/auth/refresh", {}, {"refresh_token": "unknown"}),
        ("POST", "/api/auth/logout", {}, None),
    ],
)
def test_every_401_says_how_to_authenticate(api: Api, method, url, headers, body):
    reply = api.client.request(method, url, headers=headers, json=body)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert "Bearer" in WWW_AUTHENTICATE and "ApiKey" in WWW_AUTHENTICATE


def test_other_errors_carry_no_challenge(api: Api):
    reply = api.call("outsider", "GET", "/api/projects/demo")
    assert reply.status_code == 404 and "WWW-Authenticate" not in reply.headers


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS]


def test_each_request_gets_an_id_and_one_access_log_line(
    api: Api, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger=ACCESS)
    reply = api.call("owner", "GET", "/api/projects/demo", params={"api_key": "hops_x_secret"})
    rid = reply.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    (line,) = access_lines(caplog)
    assert (line.method, line.path, line.status, line.request_id) == (
        "GET",
        "/api/projects/demo",
        200,
        rid,
    )
    assert line.client == "testclient" and line.duration_ms >= 0
    formatted = JsonFormatter().format(line) + PlainFormatter().format(line)
    assert "hops_x_secret" not in formatted and "api_key" not in formatted
    assert api.tokens["owner"] not in formatted

    caplog.clear()
    other = api.call("owner", "GET", "/api/projects/demo")
    assert other.headers["X-Request-ID"] != rid
    assert len(access_lines(caplog)) == 1


def test_refusals_are_logged_too_and_nothing_secret_is(api: Api, caplog):
    caplog.set_level(logging.DEBUG)
    reply = api.client.post(
        "/api/auth/login", json={"email": "owner@example.org", "password": PASSWORD + "!"}
    )
    assert reply.status_code == 401
    (line,) = access_lines(caplog)
    assert line.status == 401 and line.request_id == reply.headers["X-Request-ID"]
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert PASSWORD not in everything


def test_a_well_formed_incoming_request_id_is_kept(api: Api, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    reply = api.client.get("/api/health", headers={"X-Request-ID": "lb-7f3a.1:2"})
    assert reply.headers["X-Request-ID"] == "lb-7f3a.1:2"
    assert access_lines(caplog)[-1].request_id == "lb-7f3a.1:2"


@pytest.mark.parametrize(
    "incoming", ["x" * 65, f"abc{ESC}[31m", "a b", "-leading-dash", "", "id\u00e9"]
)
def test_other_incoming_request_ids_are_replaced(api: Api, incoming):
    reply = api.client.get("/api/health", headers={"X-Request-ID": incoming.encode("utf-8")})
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Request-ID"])


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("hopsworks_api.x", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


@pytest.mark.parametrize("formatter", [JsonFormatter(), PlainFormatter()])
def test_formatters_escape_control_characters(formatter: logging.Formatter):
    hostile = f"{ESC}[2J{ESC}]0;owned\x07 fake\nline\r\x9b31m"
    rec = record("user %s", hostile, path=f"/api/{ESC}[31m", email=f"a{ESC}@b.org")
    try:
        raise ValueError(f"boom {ESC}[5m")
    except ValueError:
        import sys

        rec.exc_info = sys.exc_info()
    out = formatter.format(rec)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)
    assert "\\x1b[2J" in out or "\\\\x1b[2J" in out  # visible, not interpreted
    head = out.split("\n", 1)[0]
    assert "fake" in head  # the injected line break did not start a new log line
    if isinstance(formatter, JsonFormatter):
        assert json.loads(out)["path"] == "/api/\\x1b[31m"


def test_hostile_paths_reach_the_log_escaped(api: Api, caplog):
    caplog.set_level(logging.INFO, logger=ACCESS)
    reply = api.call("owner", "GET", "/api/projects/demo/datasets/Resources/files/%1b%5b31mx")
    assert 400 <= reply.status_code < 500
    (line,) = access_lines(caplog)
    assert ESC in line.path  # the raw value is kept on the record...
    for formatter in (JsonFormatter(), PlainFormatter()):
        assert ESC not in formatter.format(line)  # ...and escaped on the way out


def test_app_log_lines_carry_the_request_id(api: Api, app, caplog):
    """A security event logged while serving a request names that request (the filter
    `configure_logging` installs), so it can be matched with the access log."""
    from hopsworks_api.clock import ManualClock
    from hopsworks_api.logging_setup import RequestIdFilter

    app.state.runtime.clock = ManualClock()
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    limit = app.state.runtime.settings.login_account_max_failures
    for _ in range(limit):
        reply = api.client.post(
            "/api/auth/login", json={"email": "mallory@example.org", "password": "x" * 9}
        )
    (warning,) = [r for r in caplog.records if r.name == "hopsworks_api.users.throttle"]
    assert warning.request_id == reply.headers["X-Request-ID"]
    assert warning.throttled == "account"
    assert ESC not in JsonFormatter().format(warning) + PlainFormatter().format(warning)
