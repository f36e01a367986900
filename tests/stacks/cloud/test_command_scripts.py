"""The shell scripts the `local.Command`s run (hops_cloud.configure), executed for real with
bash, ssh-agent and ssh-add, and stand-ins for ansible, ansible-playbook and ssh that record
how they were called. Shows that secrets travel in private files, never on a command line,
that ProxyJump/SSM routes and the key reach ssh, and that nothing is left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hops_cloud.configure import PLAYBOOK, read_file_script
from hops_cloud.inventory import Connection, InventoryHost, ssh_config

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("ssh-agent", "ssh-add", "ssh-keygen")),
    reason="OpenSSH client tools are not installed",
)

RECORDER = """#!/bin/bash
# Stand-in for {tool}: record argv, the files it was pointed at, and the agent's keys.
log="$HOPS_TEST_LOG/{tool}.$$"
mkdir -p "$log"
printf '%s\\n' "$@" > "$log/argv"
printf '%s' "${{ANSIBLE_SSH_ARGS:-}}" > "$log/ansible_ssh_args"
ssh-add -l > "$log/agent" 2>&1 || true
printf '%s' "${{SSH_AGENT_PID:-}}" > "$log/agent_pid"
for arg in "$@"; do
  path="${{arg#@}}"
  case "$path" in
    */hosts.yml|*/secrets.json|*/ssh_config)
      cp "$path" "$log/$(basename "$path")"
      stat -c %a "$path" > "$log/$(basename "$path").mode" ;;
  esac
done
for word in $ANSIBLE_SSH_ARGS; do
  case "$word" in */ssh_config) cp "$word" "$log/ssh_config" ;; esac
done
{extra}
"""


@pytest.fixture
def sandbox(tmp_path: Path):
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    extras = {
        "ssh": 'echo "-----BEGIN CERTIFICATE-----"; echo fake; echo "-----END CERTIFICATE-----"'
    }
    for tool in ("ansible", "ansible-playbook", "ssh"):
        script = bin_dir / tool
        script.write_text(RECORDER.format(tool=tool, extra=extras.get(tool, "")))
        script.chmod(0o755)
    key = tmp_path / "id_test"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hops-test", "-f", str(key)],
        check=True,
    )
    return {"bin": bin_dir, "log": log, "key": key.read_text(), "tmp": tmp_path}


def run(script: str, sandbox, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": f"{sandbox['bin']}:{os.environ['PATH']}",
        "HOME": str(sandbox["tmp"]),
        "TMPDIR": str(sandbox["tmp"]),
        "HOPS_TEST_LOG": str(sandbox["log"]),
        "HOPS_SSH_PRIVATE_KEY": sandbox["key"],
        **env,
    }
    return subprocess.run(
        ["/bin/bash", "-c", script],
        cwd=sandbox["tmp"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def calls(sandbox, tool: str) -> list[Path]:
    return sorted(sandbox["log"].glob(f"{tool}.*"), key=lambda p: p.stat().st_mtime_ns)


def test_the_playbook_script_hands_secrets_over_in_private_files(sandbox):
    inventory = "all:\n  hosts:\n    head1:\n      ansible_host: 10.0.16.11\n"
    variables = json.dumps({"hops_db_service_password": "s3cret-service-pw"})
    result = run(PLAYBOOK, sandbox, HOPS_INVENTORY=inventory, HOPS_PLAYBOOK_VARIABLES=variables)
    assert result.returncode == 0, result.stderr

    wait, cloud_init = calls(sandbox, "ansible")
    assert "ansible.builtin.wait_for_connection" in (wait / "argv").read_text()
    assert "cloud-init status --wait" in (cloud_init / "argv").read_text()
    (playbook,) = calls(sandbox, "ansible-playbook")
    argv = (playbook / "argv").read_text().splitlines()
    work = Path(argv[1]).parent
    assert argv == ["-i", f"{work}/hosts.yml", "-e", f"@{work}/secrets.json", "site.yml"]
    assert (playbook / "hosts.yml").read_text() == inventory + "\n"
    assert json.loads((playbook / "secrets.json").read_text()) == json.loads(variables)
    assert (playbook / "hosts.yml.mode").read_text().strip() == "600"
    assert (playbook / "secrets.json.mode").read_text().strip() == "600"
    assert "hops-test (ED25519)" in (playbook / "agent").read_text()
    ssh_args = (playbook / "ansible_ssh_args").read_text()
    assert ssh_args.startswith(f"-F {work}/ssh_config ")
    assert "StrictHostKeyChecking accept-new" in (playbook / "ssh_config").read_text()

    for call in calls(sandbox, "ansible") + calls(sandbox, "ansible-playbook"):
        assert "s3cret-service-pw" not in (call / "argv").read_text()
        assert "PRIVATE KEY" not in (call / "argv").read_text()
    assert not work.exists()  # removed on exit
    status = Path(f"/proc/{(playbook / 'agent_pid').read_text()}/status")
    if status.exists():  # a stopped agent may linger as a zombie until init reaps it
        assert "State:\tZ" in status.read_text()


def test_the_playbook_script_stops_at_the_first_failure(sandbox):
    (sandbox["bin"] / "ansible").write_text("#!/bin/bash\nexit 4\n")
    result = run(PLAYBOOK, sandbox, HOPS_INVENTORY="all: {}", HOPS_PLAYBOOK_VARIABLES="{}")
    assert result.returncode == 4
    assert calls(sandbox, "ansible-playbook") == []


@pytest.mark.parametrize(
    ("connection", "route"),
    [
        (Connection("bastion", "admin", bastion_address="198.51.100.7"), "ProxyJump admin@"),
        (Connection("ssm", "admin", region="eu-north-1"), "ProxyCommand aws ssm start-session"),
    ],
)
def test_the_ca_chain_is_read_over_the_same_route(sandbox, connection, route):
    host = InventoryHost("head1", ("hopsworks_api",), "10.0.16.11", target_id="i-0abc")
    result = run(
        read_file_script("/etc/hops/pki/ca-chain.pem"),
        sandbox,
        HOPS_SSH_CONFIG=ssh_config("hops-api", host, connection),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-----BEGIN CERTIFICATE-----")
    (ssh,) = calls(sandbox, "ssh")
    argv = (ssh / "argv").read_text().splitlines()
    assert argv[0] == "-F" and argv[2:] == ["hops-api", "cat", "/etc/hops/pki/ca-chain.pem"]
    config = (ssh / "ssh_config").read_text()
    assert config.startswith("Host hops-api\n  HostName 10.0.16.11\n")
    assert route in config
    assert config.index("Host hops-api") < config.index("Host *")
    assert "hops-test (ED25519)" in (ssh / "agent").read_text()
