"""roles/ca: the platform CA on the first control-service host, and every host's certificate
issued there and installed on the host.

Ansible delegates the issuing to the CA host and carries the bundle through the controller's
memory. pyinfra runs an operation on one host at a time, so the CA host issues every host's
certificate first; then each host reads its own bundle from the CA host inside a
`python.call` and writes it with nested operations. The key never touches the deploying
machine's disk and is never logged.
"""

from __future__ import annotations

import base64
import shlex
from io import StringIO

from pyinfra import host, state
from pyinfra.api import StringCommand, deploy
from pyinfra.facts.files import Directory, File, Sha1File
from pyinfra.operations import files, pip, python, server

from hops_deploy import ship
from hops_deploy.checkout import find_checkout
from hops_deploy.topology import address_of
from hops_deploy.variables import as_bool
from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of

BUNDLE = ("cert.pem", "key.pem", "chain.pem")
KEYSTORE = "keystore.pem"
"""The key followed by the certificate and the chain: roles/ca's hops_host_keystore."""


def pip_args(find_links: str) -> str | None:
    return f"--no-index --find-links {find_links}" if find_links else None


def install_package(role: RoleContext, name: str):  # type: ignore[no-untyped-def]
    """roles/hops/tasks/ship.yml, then the role's pip task: the wheel built here from the
    checkout, copied to the host and installed by its version.

    The shipped wheel is installed by a command guarded by `pip show`, not `pip.packages`:
    pyinfra's pip fact does not parse a local version label (`0.1.0+<hash>`), so it would
    report the package missing, and a change, on every run."""
    v = role.vars
    venv = v["hops_venv"]
    if v["hops_package"]:
        return pip.packages(
            name=name,
            packages=[v["hops_package"]],
            virtualenv=venv,
            virtualenv_kwargs={"venv": True, "python": "python3"},
            extra_install_args=" ".join(v["hops_service_pip_args"]) or None,
        )
    wheel, _ = ship.service_wheel(
        find_checkout(), allow_without_ui=as_bool(v["hops_ship_without_ui"])
    )
    version = ship.version_of(wheel)
    files.directory(
        name="The shipped wheels' directory exists", path=v["hops_wheels_dir"], mode="755"
    )
    files.put(
        name="The control service's wheel is on the host",
        src=str(wheel),
        dest=f"{v['hops_wheels_dir']}/{wheel.name}",
        mode="644",
    )
    pip.virtualenv(name="The service's virtualenv exists", path=venv, venv=True, python="python3")
    install = [f"{venv}/bin/pip", "install", *v["hops_service_pip_args"]]
    return server.shell(
        name=name,
        commands=[
            shlex.join(
                [
                    *install,
                    ship.with_extras("hopsworks-iac", v["hops_service_extras"]) + f"=={version}",
                ]
            )
        ],
        _if=lambda: f"Version: {version}" not in lines_of(f"{venv}/bin/pip show hopsworks-iac"),
    )


def _host_cert_command(role: RoleContext, name: str) -> StringCommand:
    v = role.vars
    address = address_of(name, role.host.inventory.variables(name))
    argv = [
        f"{v['hops_venv']}/bin/hops",
        "ca",
        "host-cert",
        name,
        "--out",
        f"{v['ca_issued_dir']}/{name}",
        "--data-dir",
        v["hops_data_dir"],
        "--db",
        v["ca_bootstrap_db"],
        "--ip",
        str(address),
        "--dns",
        f"{name}.{v['hops_domain']}",
        *(f"--dns={extra}" for extra in v["ca_extra_dns_names"]),
    ]
    return StringCommand(*argv)


def inventory_host(name: str):  # type: ignore[no-untyped-def]
    """The pyinfra host of an inventory name (a local host is `@local` to pyinfra)."""
    for candidate in state.inventory:
        if candidate.data.get("hops_inventory_name", candidate.name) == name:
            return candidate
    raise KeyError(f"{name} is not in the inventory")


def _read_bundle(ca_name: str, directory: str) -> dict[str, bytes]:
    ca_host = inventory_host(ca_name)
    bundle = {}
    for part in BUNDLE:
        ok, output = ca_host.run_shell_command(
            StringCommand("base64", "-w0", f"{directory}/{part}"), _sudo=True
        )
        if not ok:
            raise RuntimeError(f"cannot read {directory}/{part} on the CA host {ca_name}")
        bundle[part] = base64.b64decode("".join(output.stdout_lines))
    bundle[KEYSTORE] = bundle["key.pem"] + bundle["cert.pem"] + bundle["chain.pem"]
    return bundle


def install_bundle(ca_name: str, directory: str, targets: dict[str, tuple[str, str, str]]) -> None:
    """Runs on the host being deployed: its bundle from the CA host, written with modes."""
    bundle = _read_bundle(ca_name, directory)
    for part, (dest, owner_group, mode) in targets.items():
        owner, group = owner_group.split(":")
        files.put(
            name=f"{dest} is installed",
            src=StringIO(bundle[part].decode()),
            dest=dest,
            user=owner,
            group=group,
            mode=mode,
        )


def ca_host_name(role: RoleContext) -> str:
    return str(role["ca_host"])


@deploy("Platform CA and host certificates")
def ca(role: RoleContext) -> None:
    v = role.vars
    ca_name = ca_host_name(role)
    hops = {"_sudo": True, "_sudo_user": v["hops_user"]}
    if role.host.name == ca_name:
        install_package(role, "The control service package is installed on the CA host")
        files.directory(
            name="The state directory exists on the CA host",
            path=v["hops_data_dir"],
            user=v["hops_user"],
            group=v["hops_group"],
            mode="0700",
        )
        if not host.get_fact(Directory, path=f"{v['hops_data_dir']}/ca"):
            server.shell(
                name="The platform CA exists",
                commands=[f"{v['hops_venv']}/bin/hops ca init --data-dir {v['hops_data_dir']}"],
                **hops,
            )
        for name in role.host.inventory.hosts:
            if not host.get_fact(File, path=f"{v['ca_issued_dir']}/{name}/cert.pem"):
                server.shell(
                    name=f"The certificate of {name} is issued by the CA",
                    commands=[_host_cert_command(role, name)],
                    **hops,
                )

    directory = f"{v['ca_issued_dir']}/{role.host.name}"
    ca_host = inventory_host(ca_name)
    issued = ca_host.get_fact(Sha1File, path=f"{directory}/cert.pem", _sudo=True)
    installed = host.get_fact(Sha1File, path=v["hops_host_cert"])
    keystore = host.get_fact(File, path=v["hops_host_keystore"])
    if installed is None or installed != issued or not keystore:
        python.call(
            name="This host's certificate, key and the CA chain are installed",
            function=install_bundle,
            ca_name=ca_name,
            directory=directory,
            targets={
                "chain.pem": (v["hops_ca_chain"], "root:root", "0644"),
                "cert.pem": (v["hops_host_cert"], f"root:{v['hops_group']}", "0644"),
                "key.pem": (v["hops_host_key"], f"{v['hops_user']}:{v['hops_group']}", "0600"),
                KEYSTORE: (v["hops_host_keystore"], f"{v['hops_user']}:{v['hops_group']}", "0600"),
            },
        )
