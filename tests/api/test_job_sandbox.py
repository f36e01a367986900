"""What an embedded run can reach and use beyond its own files: the platform's services and
nothing else on the network, its CPU and memory limits, the datasets shared with its
project (issue 13, item 3)."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hopsworks_api.backends.runner.base import Endpoint, Limits
from hopsworks_api.backends.runner.cgroups import Cgroups
from hopsworks_api.backends.runner.forward import plan
from tests.api.test_jobs import make_job, run, until_done
from tests.support.api import Api

GREETING = b"platform service\n"

NETWORK_PROBE = b"""
import json, socket, sys
host, allowed, other = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def greeting(address):
    try:
        with socket.create_connection(address, timeout=5) as s:
            return s.makefile("rb").readline().decode()
    except OSError as exc:
        return None

print(json.dumps({
    "allowed": greeting((host, allowed)),
    "other_port": greeting((host, other)),
    "other_port_loopback": greeting(("127.0.0.1", other)),
    "outside": greeting(("1.1.1.1", 80)),
}))
"""


class _Greeter(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(GREETING)


@pytest.fixture
def services() -> Iterator[tuple[int, int]]:
    """Two TCP services on this host's loopback: the run may reach only the first."""
    servers = [socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Greeter) for _ in range(2)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers[0].server_address[1], servers[1].server_address[1]
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_run_reaches_the_platform_services_only(api: Api, app, services, monkeypatch):
    allowed, other = services
    # this host's name resolves to loopback here; inside it maps to the sandbox's own
    # address for that service (/etc/hosts), which the forwarder relays
    host = socket.gethostname()
    settings = app.state.runtime.settings
    monkeypatch.setattr(settings, "sandbox_extra_endpoints", [f"{host}:{allowed}"])
    make_job(api, "scientist", "net", NETWORK_PROBE, args=[host, str(allowed), str(other)])
    url = run(api, "scientist", "net")
    done = until_done(api, "scientist", url)
    assert done["state"] == "FINISHED", api.call("scientist", "GET", f"{url}/log?stream=stderr")
    seen = json.loads(api.call("scientist", "GET", f"{url}/log").text)
    assert seen == {
        "allowed": GREETING.decode(),
        "other_port": None,
        "other_port_loopback": None,
        "outside": None,
    }


OOM = b"""
import time
start = time.process_time()
while time.process_time() - start < 0.2:  # some CPU time first: it is still charged
    pass
print("allocating", flush=True)
hog = b"x" * (512 * 1024 * 1024)
print("survived", flush=True)
"""


def test_a_run_over_its_memory_limit_is_oom_killed(api: Api, app):
    if not app.state.runtime.backends.runner.cgroups.enforced:
        pytest.skip("no writable cgroup hierarchy on this host")
    make_job(api, "owner", "hog", OOM, resources={"memory_mb": 128})
    url = run(api, "owner", "hog")
    done = until_done(api, "owner", url)
    log = api.call("owner", "GET", f"{url}/log").text
    assert done["state"] == "FAILED" and "survived" not in log, log
    assert "allocating" in log
    assert done["usage"]["core_seconds"] > 0


def test_limits_are_written_to_a_cgroup_v2_and_removed(tmp_path: Path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    cgroups = Cgroups(tmp_path)
    assert cgroups.version == 2
    group = cgroups.create("7", Limits(cores=2, memory_mb=100))
    assert group is not None
    (directory,) = group.dirs
    assert directory.parent == tmp_path / "hops-runs" and directory.name.startswith("7-")
    assert (directory / "memory.max").read_text() == str(100 * 1024 * 1024)
    assert (directory / "cpu.max").read_text() == "200000 100000"
    assert (directory / "cpu.weight").read_text() == "200"  # two tasks' worth, not one
    assert (directory.parent / "cpu.weight").read_text() == str(100 * (os.cpu_count() or 1))
    assert group.enter_command(["prog"])[-1] == "prog"
    for name in ("memory.max", "cpu.max", "memory.swap.max", "cpu.weight"):  # the kernel's
        (directory / name).unlink(missing_ok=True)
    group.remove()
    assert not directory.exists()
    assert cgroups.create("8", Limits()) is None  # nothing to limit


def test_without_a_writable_hierarchy_runs_start_unlimited(tmp_path: Path):
    cgroups = Cgroups(tmp_path / "missing")
    assert not cgroups.enforced and "not enforced" in cgroups.describe()
    assert cgroups.create("1", Limits(cores=1, memory_mb=64)) is None


SHARES_PROBE = b"""
import json, os
d = os.environ["HOPS_DATASETS_DIR"]
shared = f"{d}/other::sales"

def can_write():
    try:
        with open(f"{shared}/from-demo.txt", "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

print(json.dumps({
    "datasets": sorted(os.listdir(d)),
    "read": open(f"{shared}/q1.csv").read() if os.path.isdir(shared) else None,
    "write": can_write() if os.path.isdir(shared) else None,
}))
"""
S = "/api/projects/other/datasets/sales/shares"


def _share(api: Api, permission: str) -> None:
    body = {"project": "demo", "permission": permission}
    assert api.call("outsider", "POST", S, json=body).status_code == 201
    reply = api.call("owner", "POST", "/api/projects/demo/shared/other::sales/accept")
    assert reply.status_code == 200, reply.text


def _seen(api: Api, who: str) -> dict:
    url = run(api, who, "shares")
    assert until_done(api, who, url)["state"] == "FINISHED"
    return json.loads(api.call(who, "GET", f"{url}/log").text)


def test_shared_datasets_are_mounted_as_the_api_names_them(api: Api):
    assert api.call("outsider", "POST", "/api/projects", json={"name": "other"}).status_code == 201
    reply = api.call("outsider", "POST", "/api/projects/other/datasets", json={"name": "sales"})
    assert reply.status_code == 201, reply.text
    assert api.upload("outsider", "other", "sales", "q1.csv", b"a,1\n").status_code == 201
    make_job(api, "owner", "shares", SHARES_PROBE)

    _share(api, "read_only")
    seen = _seen(api, "owner")
    assert "other::sales" in seen["datasets"] and "Resources" in seen["datasets"]
    assert (seen["read"], seen["write"]) == ("a,1\n", False)

    assert api.call("outsider", "DELETE", f"{S}/demo").status_code == 204
    _share(api, "editable")
    # editable: a data owner may write into it, a data scientist (who may not upload into a
    # shared dataset) sees it read-only
    assert _seen(api, "owner")["write"] is True
    assert _seen(api, "scientist")["write"] is False
    assert api.download("outsider", "other", "sales", "from-demo.txt").text == "x"

    assert api.call("outsider", "DELETE", f"{S}/demo").status_code == 204
    seen = _seen(api, "owner")  # a share that ended is not shown to later runs
    assert "other::sales" not in seen["datasets"] and seen["read"] is None


def test_each_service_name_gets_a_loopback_address_of_its_own():
    routes, names = plan(
        (
            Endpoint("localhost", 8181),
            Endpoint("127.0.0.1", 8181),  # the same listener
            Endpoint("broker1", 9092),
            Endpoint("broker2", 9092),
            Endpoint("10.0.0.5", 9083),  # cannot be given that address inside: left out
            Endpoint("BROKER1", 9093),
        )
    )
    assert names == {"localhost": "127.0.0.1", "broker1": "127.0.0.2", "broker2": "127.0.0.3"}
    assert [(r.address, r.endpoint.port) for r in routes] == [
        ("127.0.0.1", 8181),
        ("127.0.0.2", 9092),
        ("127.0.0.3", 9092),
        ("127.0.0.2", 9093),
    ]
