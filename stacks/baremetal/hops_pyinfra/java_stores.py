"""roles/hops/tasks/java_stores.yml: a JVM service's PKCS12 keystore and truststore built on
the host from its certificate by the same script (roles/hops/files/java-stores.sh).

Ansible hands the keystore password to the script in its environment; pyinfra's `_env`
would put it on the command line it logs, so the password is staged in a root-only file
beside the keystore and read from there. The script runs only when its check reports a
stale store, so a run with nothing to do changes nothing."""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server

from hops_deploy.checkout import roles_dir
from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of

SCRIPT = "java-stores.sh"


def java_stores(role: RoleContext, prefix: str) -> OperationMeta:
    """The stores of `<prefix>_keystore_path` / `<prefix>_truststore_path`, owned by the
    role's user; the returned operation changed when a store was rebuilt."""
    v = role.vars
    keystore, password = v[f"{prefix}_keystore_path"], v[f"{prefix}_keystore_password"]
    if len(password) < 6:
        raise ValueError(f"{prefix}_keystore_password needs 6 or more characters (a vault)")
    libexec = f"{v['hops_install_dir']}/libexec"
    script = f"{libexec}/{SCRIPT}"
    files.directory(name=f"{libexec} exists", path=libexec, mode="0755")
    files.put(
        name="The Java stores' script is on the host",
        src=str(roles_dir() / "hops" / "files" / SCRIPT),
        dest=script,
        mode="0755",
    )
    password_file = f"{keystore}.password"
    files.put(
        name=f"The password of {keystore} is staged (root only)",
        src=StringIO(password),
        dest=password_file,
        user="root",
        group="root",
        mode="0600",
    )
    argv = shlex.join(
        [
            script,
            v["hops_host_cert"],
            v["hops_host_key"],
            v["hops_ca_chain"],
            keystore,
            v[f"{prefix}_keystore_alias"],
            v[f"{prefix}_truststore_path"],
            v[f"{prefix}_user"],
            v[f"{prefix}_group"],
            f"{v[f'{prefix}_java_home']}/bin/keytool",
        ]
    )
    run = f'HOPS_KEYSTORE_PASSWORD="$(cat {shlex.quote(password_file)})" {argv}'
    return server.shell(
        name=f"The keystore and truststore of {prefix} are built from the host certificate",
        commands=[run],
        _if=lambda: any(
            line.startswith("stale ") for line in lines_of(f"HOPS_STORES_CHECK=1 {run}")
        ),
    )
