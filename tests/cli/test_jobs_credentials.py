"""`hops jobs run --follow` streams the output and exits with the outcome; `hops
credentials write` leaves files a Kafka or Spark client loads as they are."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12

from tests.cli.conftest import Person

SCRIPT = (
    "import sys\n"
    "print('hello from the job', sys.argv[1:], flush=True)\n"
    "print('a warning', file=sys.stderr, flush=True)\n"
    "sys.exit(3)\n"
)


def test_jobs_run_follow_streams_the_log_and_exits_with_its_code(
    person: Person, tmp_path: Path
) -> None:
    project = person.new_project()
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    person.ok("put", str(script), f"{project}/Resources/", "--no-progress")
    with person.http() as http:
        created = http.post(
            f"/api/projects/{project}/jobs",
            json={"name": "greet", "type": "python", "app_path": "Resources/job.py"},
        )
        assert created.status_code == 201, created.text
    assert [j["name"] for j in json.loads(person.ok("jobs", "ls", project, "--json").stdout)] == [
        "greet"
    ]
    run = person.hops("jobs", "run", project, "greet", "--arg", "x", "--follow")
    assert run.returncode == 3, run.stderr
    assert "hello from the job ['x']" in run.stdout
    assert "a warning" in run.stderr
    assert "FAILED, exit code 3" in run.stderr

    started = json.loads(person.ok("jobs", "run", project, "greet", "--json").stdout)
    assert started["job"] == "greet" and started["state"] in ("INITIALIZING", "RUNNING")


def test_credentials_write(person: Person, tmp_path: Path) -> None:
    project = person.new_project()
    out = tmp_path / "creds"
    person.ok("credentials", "write", project, str(out))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "certificate.pem",
            "private_key.pem",
            "ca_chain.pem",
            "keystore.p12",
            "keystore.password",
            "truststore.p12",
            "truststore.password",
            "kafka.properties",
            "spark-defaults.conf",
            "hive.properties",
            "storage.properties",
        ]
    )
    for secret in ("private_key.pem", "keystore.p12", "keystore.password", "kafka.properties"):
        assert stat.S_IMODE((out / secret).stat().st_mode) == 0o600, secret
    password = (out / "keystore.password").read_bytes()
    key, cert, _ = pkcs12.load_key_and_certificates((out / "keystore.p12").read_bytes(), password)
    assert key is not None and cert is not None
    assert project in cert.subject.rfc4514_string()
    assert f"project {project}" in (out / "spark-defaults.conf").read_text()
    assert "spark.sql.catalogImplementation" in (out / "spark-defaults.conf").read_text()
    with person.http() as http:
        feed = http.get(f"/api/projects/{project}/activity").json()["items"]
    assert [(i["action"], i["outcome"]) for i in feed if "credentials" in i["action"]] == [
        ("credentials.client", "ok")
    ]
