"""The pyinfra side reads a vaulted inventory as Ansible does: an encrypted
`group_vars/all/vault.yml` and an inline `!vault` value give the same variables as
`ansible-inventory` shows with the same password file; without the password, or with a
wrong one, the error names the file and the setting, and never the secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hops_deploy.topology import load_inventory
from hops_deploy.vault import VaultError

BIN = Path(sys.executable).parent
SECRET = "s3cret-db-password-4711"


def vault(*args: str, password: Path) -> str:
    result = subprocess.run(
        [str(BIN / "ansible-vault"), *args, "--vault-password-file", str(password)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.fixture
def inventory(tmp_path: Path) -> tuple[Path, Path]:
    password = tmp_path / "vault-pass"
    password.write_text("correct horse\n")
    root = tmp_path / "inventory"
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        "all:\n  children:\n    metadata_db:\n      hosts:\n        db1:\n          ansible_host: 10.0.0.5\n"
    )
    (root / "group_vars" / "all" / "main.yml").write_text("hops_domain: example.org\n")
    secrets = root / "group_vars" / "all" / "vault.yml"
    secrets.write_text(f"hops_db_root_password: {SECRET}\n")
    vault("encrypt", str(secrets), password=password)
    inline = vault(
        "encrypt_string", "ca-pass-0815", "--name", "hops_ca_passphrase", password=password
    )
    (root / "host_vars").mkdir()
    (root / "host_vars" / "db1.yml").write_text(inline)
    assert SECRET not in secrets.read_text()
    return root, password


def test_vaulted_files_and_values_read_as_ansible_reads_them(inventory, monkeypatch):
    root, password = inventory
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    ours = load_inventory(root).variables("db1")
    listed = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", str(root / "hosts.yml"), "--host", "db1"],
        capture_output=True,
        text=True,
        check=True,
        env={"ANSIBLE_VAULT_PASSWORD_FILE": str(password), "PATH": f"{BIN}:/usr/bin:/bin"},
    )
    theirs = json.loads(listed.stdout)
    assert ours["hops_db_root_password"] == SECRET == theirs["hops_db_root_password"]
    assert ours["hops_ca_passphrase"] == "ca-pass-0815"
    assert ours["hops_domain"] == theirs["hops_domain"] == "example.org"


def test_without_or_with_a_wrong_password_the_error_says_what_to_set(inventory, monkeypatch):
    root, password = inventory
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("HOPS_CHECKOUT", str(Path(__file__).resolve().parents[2]))
    with pytest.raises(VaultError, match="ANSIBLE_VAULT_PASSWORD_FILE") as missing:
        load_inventory(root)
    assert "vault.yml" in str(missing.value)
    password.write_text("wrong\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    with pytest.raises(VaultError, match="cannot decrypt") as wrong:
        load_inventory(root)
    assert SECRET not in str(wrong.value)
