"""roles/common: base packages, the service user, its limits, every host in /etc/hosts."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of


@deploy("Base of every host")
def common(role: RoleContext) -> None:
    v = role.vars
    apt.packages(
        name="Base packages are installed",
        packages=[*v["common_packages"], *v["common_extra_packages"]],
        update=True,
        cache_time=3600,
    )
    server.group(name="The service group exists", group=v["hops_group"], system=True)
    server.user(  # noqa: S604 - a login shell setting, not a subprocess
        name="The service user exists",
        user=v["hops_user"],
        group=v["hops_group"],
        home=v["common_user_home"],
        shell="/usr/sbin/nologin",
        system=True,
        create_home=True,
    )
    for path, owner, mode in (
        (v["hops_install_dir"], "root", "0755"),
        (v["common_state_dir"], v["hops_user"], "0755"),
        (v["hops_pki_dir"], "root", "0755"),
    ):
        files.directory(
            name=f"{path} exists", path=path, user=owner, group=v["hops_group"], mode=mode
        )
    role.template(
        "limits.conf.j2",
        "/etc/security/limits.d/90-hops.conf",
        "root",
        "root",
        "0644",
        name="The service user's limits are raised",
    )
    # Containers keep their host's clock: timesyncd is enabled, systemd skips it there.
    in_container = lines_of("systemd-detect-virt --container") not in ([], ["none"])
    systemd.service(
        name="Time synchronisation is enabled",
        service="systemd-timesyncd",
        running=None if in_container else True,
        enabled=True,
    )
    if v["common_manage_etc_hosts"]:
        files.block(
            name="Every platform host is named in /etc/hosts",
            path="/etc/hosts",
            content=role.render("hosts.j2").rstrip("\n"),
            marker="# {mark} hopsworks-iac hosts",
            begin="BEGIN",
            end="END",
        )
