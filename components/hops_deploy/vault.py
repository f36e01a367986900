"""Variables files as Ansible reads them: whole files encrypted with `ansible-vault
encrypt`, and single `!vault` values (`ansible-vault encrypt_string`), decrypted with the
same password file `ansible-playbook` uses, so one inventory serves both tools.

The password file is Ansible's: `ANSIBLE_VAULT_PASSWORD_FILE`, else `vault_password_file`
in the checkout's ansible.cfg. An executable file is run and its output is the password,
as Ansible does. Ansible's own `VaultLib` decrypts (ansible-core comes with `[deploy]`);
nothing decrypted is logged or written anywhere.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

VAULT_HEADER = "$ANSIBLE_VAULT;"


class VaultError(ValueError):
    pass


def password_file(checkout: Path | None) -> Path | None:
    named = os.environ.get("ANSIBLE_VAULT_PASSWORD_FILE")
    if named:
        return Path(named).expanduser()
    if checkout is None or not (checkout / "ansible.cfg").is_file():
        return None
    config = configparser.ConfigParser(interpolation=None)
    config.read(checkout / "ansible.cfg")
    value = config.get("defaults", "vault_password_file", fallback=None)
    return (checkout / Path(value).expanduser()) if value else None


def read_password(path: Path) -> bytes:
    if os.access(path, os.X_OK):
        result = subprocess.run([str(path)], capture_output=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise VaultError(f"the vault password script {path} failed")
        return result.stdout.strip()
    return path.read_bytes().strip()


class Decrypter:
    """Decrypts with the password file, read once, on first need (most inventories have
    no vault at all, and then no password is asked for)."""

    def __init__(self, find_password: Callable[[], Path | None]) -> None:
        self._find_password = find_password
        self._vault: Any = None

    def decrypt(self, data: str, where: str) -> str:
        if self._vault is None:
            from ansible.parsing.vault import VaultLib, VaultSecret

            path = self._find_password()
            if path is None:
                raise VaultError(
                    f"{where} is encrypted with ansible-vault: set ANSIBLE_VAULT_PASSWORD_FILE "
                    "(or vault_password_file in ansible.cfg), as for ansible-playbook"
                )
            self._vault = VaultLib([("default", VaultSecret(read_password(path)))])
        try:
            return self._vault.decrypt(data.encode()).decode()
        except Exception as error:  # AnsibleVaultError and friends: never echo the data
            raise VaultError(f"cannot decrypt {where}: {type(error).__name__}") from None


def load_vars_file(path: Path, decrypter: Decrypter) -> dict[str, Any]:
    text = path.read_text()
    if text.startswith(VAULT_HEADER):
        text = decrypter.decrypt(text, str(path))

    class Loader(yaml.SafeLoader):
        pass

    def vaulted(loader: yaml.SafeLoader, node: yaml.Node) -> str:
        scalar = loader.construct_scalar(node)  # type: ignore[arg-type]
        return decrypter.decrypt(str(scalar), f"a !vault value in {path}")

    Loader.add_constructor("!vault", vaulted)
    return yaml.load(text, Loader=Loader) or {}  # noqa: S506 - SafeLoader + one tag
