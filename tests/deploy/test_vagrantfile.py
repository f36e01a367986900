"""The Vagrantfile is valid Ruby and configures 1 or 3 VMs with the lab's groups,
provisioned by site.yml; VMs cannot boot on the test machine (no KVM, no VirtualBox)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STUB = Path(__file__).parent / "support" / "vagrant_stub.rb"
RUBY = shutil.which("ruby")
pytestmark = pytest.mark.skipif(RUBY is None, reason="ruby is not installed (apt install ruby)")


def evaluate(**env: str) -> dict:
    result = subprocess.run(
        [RUBY, str(STUB), str(REPO / "Vagrantfile")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def machines(config: dict) -> dict[str, dict]:
    return {d["args"][0]: d["body"] for d in config["vm"]["define"]}


def test_ruby_accepts_the_file():
    result = subprocess.run([RUBY, "-c", str(REPO / "Vagrantfile")], capture_output=True, text=True)
    assert result.returncode == 0 and "Syntax OK" in result.stdout


@pytest.mark.parametrize("count", ["1", "3"])
def test_vms_groups_and_provisioner(count: str):
    config = evaluate(HOPS_VMS=count)
    vms = machines(config)
    names = [f"hops{i}" for i in range(1, int(count) + 1)]
    assert list(vms) == names
    assert config["vm"]["box"] == "debian/bookworm64"
    providers = [p["args"][0] for p in config["vm"]["provider"]]
    assert providers == ["virtualbox", "libvirt"]
    last = vms[names[-1]]["vm"]
    provisioner = last["provision"][0]
    assert provisioner["args"] == ["ansible"]
    ansible = provisioner["body"]
    assert ansible["playbook"] == "site.yml" and ansible["limit"] == "all"
    groups = ansible["groups"]
    assert groups["hopsworks_api"] == ["hops1"] and groups["metadata_db"] == ["hops1"]
    assert groups["zookeeper"] == names  # odd: 1 or 3
    assert groups["nodemanagers"] == (["hops1"] if count == "1" else ["hops2", "hops3"])
    assert ansible["skip_tags"] == ["needs_downloads"]
    venv_playbook = REPO / ".venv" / "bin" / "ansible-playbook"
    if os.access(venv_playbook, os.X_OK):  # it builds the service's wheel (hops_deploy.ship)
        assert ansible["playbook_command"] == str(venv_playbook)
    for index, name in enumerate(names):
        network = vms[name]["vm"]["network"][0]
        assert network["kwargs"]["ip"] == f"192.168.56.{11 + index}"


def test_a_wrong_vm_count_is_refused_with_a_message():
    result = subprocess.run(
        [RUBY, str(STUB), str(REPO / "Vagrantfile")],
        env={**os.environ, "HOPS_VMS": "2"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "HOPS_VMS must be 1 or 3, not 2" in result.stderr


def test_the_secrets_are_made_once_0600_and_given_to_the_playbook():
    secrets = REPO / ".vagrant" / "hops-secrets.yml"
    config = evaluate(HOPS_VMS="1")
    ansible = machines(config)["hops1"]["vm"]["provision"][0]["body"]
    assert ansible["raw_arguments"] == ["--extra-vars", f"@{secrets}"]
    assert secrets.stat().st_mode & 0o777 == 0o600
    values = dict(line.split(": ") for line in secrets.read_text().splitlines())
    assert set(values) == {
        "hops_db_service_password",
        "hops_db_hive_password",
        "hdfs_keystore_password",
        "yarn_keystore_password",
        "hops_keystore_password",
    }
    assert all(len(v) == 40 for v in values.values())
    before = secrets.read_text()
    evaluate(HOPS_VMS="3")
    assert secrets.read_text() == before  # made once: a re-provision keeps the passwords
    # a checkout that needs a new secret adds it and keeps the others
    secrets.write_text("".join(line + "\n" for line in before.splitlines()[:-1]))
    evaluate(HOPS_VMS="3")
    after = secrets.read_text()
    assert after.startswith("".join(line + "\n" for line in before.splitlines()[:-1]))
    assert set(dict(line.split(": ") for line in after.splitlines())) == set(values)
