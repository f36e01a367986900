"""roles/hopsworks_api: the control service in its virtualenv, configured for the deployed
services, its schema migrated, run by systemd and checked over TLS."""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.operations import apt, files, pip, server
from pyinfra.operations.util import any_changed

from hops_pyinfra.context import RoleContext
from hops_pyinfra.facts import lines_of
from hops_pyinfra.roles.ca import install_package, pip_args
from hops_pyinfra.services import converge


@deploy("Control service")
def hopsworks_api(role: RoleContext) -> None:
    v = role.vars
    package = install_package(role, "The control service package is installed")
    drivers = []
    if v["hopsworks_api_job_runner"] == "spark":
        apt.packages(
            name="What job drivers need is installed",
            packages=v["hopsworks_api_job_packages"],
            update=True,
            cache_time=3600,
        )
        drivers.append(
            pip.packages(
                name="Pyspark of the cluster's version is in the service's virtualenv",
                packages=[f"pyspark=={v['hops_pyspark_version']}"],
                virtualenv=v["hops_venv"],
                extra_install_args=pip_args(v["hops_pip_find_links"]),
                _env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            )
        )
    if v["hopsworks_api_storage_dir"]:
        files.directory(
            name="The datasets' directory exists",
            path=v["hopsworks_api_storage_dir"],
            user=v["hops_user"],
            group=v["hops_group"],
            mode="0750",
        )
    files.directory(
        name="The service's state directory exists",
        path=v["hops_data_dir"],
        user=v["hops_user"],
        group=v["hops_group"],
        mode="0700",
    )
    config = role.template(
        "hopsworks_api.env.j2",
        v["hops_service_env_file"],
        "root",
        v["hops_group"],
        "0640",
        name="The service is configured",
    )
    unit = role.template(
        "hopsworks-api.service.j2",
        "/etc/systemd/system/hopsworks-api.service",
        "root",
        "root",
        "0644",
        name="The systemd unit is in place",
    )
    # As the service user (the SQLite DB and the CA are its files); runuser, not sudo, so the
    # `_if` fact and the operation run the same command whoever pyinfra connects as. The CLI
    # reports on stderr.
    migrate = f"runuser -u {v['hops_user']} -- bash -c '{v['hops_service_cli']} {{}}'"
    server.shell(
        name="The metadata DB schema is migrated",
        commands=[migrate.format("db upgrade")],
        _if=lambda: "(current)" not in " ".join(lines_of(migrate.format("db check") + " 2>&1")),
    )
    # roles/hopsworks_api: the model servers' environment, built as the service's user in
    # its home's cache, with pip's environment from `hopsworks_api_pip_environment`
    user = v["hops_user"]
    pip_env = " ".join(
        f"{name}={shlex.quote(str(value))}"
        for name, value in sorted(v["hopsworks_api_pip_environment"].items())
    )
    as_user = (
        f"runuser -u {user} -- env HOME=$(getent passwd {user} | cut -d: -f6) {pip_env}"
        f" bash -c '{v['hops_service_cli']} {{}}'"
    )
    server.shell(
        name="The model servers' environment is built",
        commands=[as_user.format("servings build-runtime")],
        _if=lambda: "ready" not in " ".join(lines_of(as_user.format("servings check-runtime"))),
    )
    started = converge("hopsworks-api", [package, *drivers, config, unit], "The control service")
    url = f"https://{v['hopsworks_api_bind_address']}:{v['hopsworks_api_port']}/api/health"
    server.shell(
        name="The control service answers over TLS",
        commands=[
            f"for i in $(seq 30); do curl --fail --silent --cacert {v['hops_ca_chain']} {url}"
            " >/dev/null && exit 0; sleep 2; done; exit 1"
        ],
        _if=any_changed(*started),
    )
