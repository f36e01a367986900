"""Signing in, profiles, and the one-line errors a person sees."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Person, sign_up, signed_in
from tests.support.processes import free_port


def test_login_saves_a_private_profile_and_profiles_switch(person: Person, platform: str) -> None:
    assert stat.S_IMODE(person.config.stat().st_mode) == 0o600
    assert person.key in person.config.read_text()
    other = person.ok("login", platform + "/api/", "--profile", "second", stdin=person.key)
    assert "profile 'second' saved" in other.stdout
    profiles = json.loads(person.ok("profiles", "ls", "--json").stdout)
    assert {(p["name"], p["current"], p["url"]) for p in profiles} == {
        ("default", False, platform),
        ("second", True, platform),
    }
    person.ok("profiles", "use", "default")
    assert [
        p["name"] for p in json.loads(person.ok("profiles", "ls", "--json").stdout) if p["current"]
    ] == ["default"]
    assert stat.S_IMODE(person.config.stat().st_mode) == 0o600
    # HOPS_CONFIG moves the file
    moved = person.home / "elsewhere.toml"
    person.ok("login", platform, stdin=person.key, HOPS_CONFIG=str(moved))
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600


def test_errors_are_one_line_that_says_what_to_do(platform: str, tmp_path: Path) -> None:
    person = signed_in(platform, tmp_path / "home")
    wrong = person.hops("login", platform, "--profile", "bad", stdin="hops_nope.nope\n")
    assert wrong.returncode == 1
    assert "bad" not in json.dumps(
        [p["name"] for p in json.loads(person.ok("profiles", "ls", "--json").stdout)]
    )
    # the key is revoked on the platform: the next command says to sign in again
    with person.http() as http:
        assert http.delete("/api/auth/api-keys/cli").status_code == 204
    revoked = person.hops("projects", "ls")
    assert revoked.returncode == 1
    assert revoked.stderr.count("\n") == 1 and "run hops login" in revoked.stderr, revoked.stderr
    assert revoked.stdout == ""

    nowhere = f"http://127.0.0.1:{free_port()}"
    refused = person.hops("login", nowhere, stdin="hops_x.y\n")
    assert refused.returncode == 3
    assert refused.stderr.count("\n") == 1 and nowhere in refused.stderr
    assert "connection refused" in refused.stderr

    fresh = sign_up(platform, tmp_path / "fresh", "fresh")
    unknown = fresh.hops("projects", "ls")
    assert unknown.returncode == 1 and "run hops login" in unknown.stderr


def test_api_refusals_carry_the_apis_message(person: Person) -> None:
    missing = person.hops("members", "ls", "nosuchproject")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "(404 " in missing.stderr, missing.stderr


def test_version_and_completion() -> None:
    hops = str(Path(sys.executable).parent / "hops")
    version = subprocess.run([hops, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("hops ") and version.stdout.split()[1][0].isdigit()
    # without a detectable parent shell (a CI runner, a background job) Typer ignores the
    # named shell unless its detection is off: then `bash` is the option's value
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run(
        [hops, "--show-completion", "bash"], capture_output=True, text=True, check=True, env=env
    )
    assert "complete -o default -F _hops_completion hops" in shown.stdout


def test_the_client_never_imports_the_server() -> None:
    code = (
        "import sys, hops_client.cli; "
        "print([m for m in sys.modules if m.split('.')[0] == 'hopsworks_api'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
