"""The lab: its pure parts (addresses, inventory, state, host files, supervisor) and, marked
`lab`, real systemd-nspawn hosts brought up, added to and taken down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml

from hops_deploy.lab import (
    LabError,
    add,
    aptproxy,
    cgroups,
    hosts,
    inventory,
    lifecycle,
    network,
    sshkeys,
)
from hops_deploy.lab import state as lab_state
from hops_deploy.lab.prereqs import container_support
from hops_deploy.lab.processes import ProcessRef, spawn, stop
from hops_deploy.lab.rootfs import AptSource, RootfsSpec, debian_mirror, parse_sources, prune
from hops_deploy.lab.supervisor import supervise
from hops_deploy.topology import load_inventory
from hops_platform.host_groups import GROUPS

# --- addresses ---------------------------------------------------------------------------


def test_subnet_is_stable_private_and_avoids_networks_in_use() -> None:
    first = network.choose_subnet("lab", [])
    assert first == network.choose_subnet("lab", [])
    assert first.prefixlen == 24 and first.subnet_of(network.POOL) and first.is_private
    second = network.choose_subnet("lab", [first])
    assert second != first and not second.overlaps(first)
    # a wider network in use (a /16 route) rules out every /24 inside it
    assert network.choose_subnet("lab", [IPv4Network("10.213.0.0/17")]).network_address >= (
        IPv4Network("10.213.128.0/24").network_address
    )


def test_no_subnet_left_is_an_error() -> None:
    with pytest.raises(LabError, match="no free /24"):
        network.choose_subnet("lab", [network.POOL])


def test_host_and_bridge_addresses() -> None:
    subnet = IPv4Network("10.213.7.0/24")
    assert str(network.bridge_address(subnet)) == "10.213.7.1"
    assert [str(network.host_address(subnet, i)) for i in (1, 2, 3)] == [
        "10.213.7.11",
        "10.213.7.12",
        "10.213.7.13",
    ]
    with pytest.raises(LabError):
        network.host_address(subnet, 0)
    assert network.bridge_name("a-very-long-lab-name") == "hl-a-very-long-"
    assert len(network.bridge_name("a-very-long-lab-name")) == 15


def test_lab_names() -> None:
    lifecycle.LabConfig(name="lab").validate()
    lifecycle.LabConfig(name="ci-lab").validate()
    for bad in ("lab1", "Lab", "1lab", "a" * 11, "lab_x"):
        with pytest.raises(LabError, match="bad lab name"):
            lifecycle.LabConfig(name=bad).validate()
    with pytest.raises(LabError, match="--hosts"):
        lifecycle.LabConfig(hosts=0).validate()
    assert lifecycle.host_names("lab", 3) == ["lab1", "lab2", "lab3"]


# --- inventory ---------------------------------------------------------------------------


def _write_inventory(directory: Path, count: int) -> Path:
    addresses = {f"lab{i}": f"10.213.7.{10 + i}" for i in range(1, count + 1)}
    doc = inventory.document(
        addresses, Path("/var/cache/hops-lab/labs/lab/ssh/id_ed25519"), {"hops_lab_name": "lab"}
    )
    path, digest = inventory.write(directory, doc)
    assert len(digest) == 64
    return path


def test_inventory_one_host_has_every_group_on_it(tmp_path: Path) -> None:
    path = _write_inventory(tmp_path / "lab", 1)
    inv = load_inventory(path)
    for group in GROUPS:
        assert inv.groups[group] == ["lab1"], group
    variables = inv.variables("lab1")
    assert variables["ansible_host"] == "10.213.7.11"
    assert variables["ansible_user"] == "root"
    assert variables["ansible_python_interpreter"] == "/usr/bin/python3"
    assert variables["ansible_ssh_private_key_file"].endswith("id_ed25519")
    assert "StrictHostKeyChecking=no" in variables["ansible_ssh_common_args"]
    assert "lab1:\n" in path.read_text() and ": null" not in path.read_text()


def test_inventory_three_hosts_layout(tmp_path: Path) -> None:
    inv = load_inventory(_write_inventory(tmp_path / "lab", 3))
    head = ("metadata_db", "hive", "hopsworks_api", "namenodes", "resourcemanagers")
    for group in (*head, "kubernetes_control"):
        assert inv.groups[group] == ["lab1"], group
    assert inv.groups["zookeeper"] == ["lab1", "lab2", "lab3"]
    assert inv.groups["spark"] == ["lab1", "lab2", "lab3"]  # first = master
    for group in ("datanodes", "nodemanagers", "kafka"):
        assert inv.groups[group] == ["lab2", "lab3"], group
    assert inv.groups["kubernetes_workers"] == ["lab3"]
    assert set(GROUPS) <= set(inv.groups)
    topo = inv.topology()
    assert [h["address"] for h in topo["zookeeper"]] == [
        "10.213.7.11",
        "10.213.7.12",
        "10.213.7.13",
    ]


def test_inventory_two_hosts_keeps_an_odd_zookeeper_quorum() -> None:
    groups = inventory.layout(["lab1", "lab2"])
    assert groups["zookeeper"] == ["lab1"]
    assert groups["datanodes"] == ["lab2"] and groups["kubernetes_workers"] == ["lab2"]


def test_inventory_parses_with_ansible(tmp_path: Path) -> None:
    tool = Path(sys.executable).with_name("ansible-inventory")
    if not tool.exists():
        pytest.skip("ansible-core not installed")
    path = _write_inventory(tmp_path / "lab", 3)
    out = subprocess.run(
        [str(tool), "-i", str(path), "--list"], capture_output=True, text=True, check=True
    ).stdout
    listed = yaml.safe_load(out)
    assert listed["kafka"]["hosts"] == ["lab2", "lab3"]
    assert listed["_meta"]["hostvars"]["lab3"]["ansible_host"] == "10.213.7.13"


def test_down_removes_only_an_unedited_inventory(tmp_path: Path) -> None:
    doc = inventory.document({"lab1": "10.213.7.11"}, Path("/k"))
    path, digest = inventory.write(tmp_path / "inv", doc)
    path.write_text(path.read_text() + "# edited\n")
    assert not inventory.remove_if_unchanged(path, digest)
    path, digest = inventory.write(tmp_path / "inv", doc)
    assert inventory.remove_if_unchanged(path, digest)
    assert not (tmp_path / "inv").exists()


def test_an_added_host_joins_only_the_groups_named_at_their_end() -> None:
    doc = inventory.document({"lab1": "10.213.7.11", "lab2": "10.213.7.12"}, Path("/k"))
    listed = inventory.add_host(doc, "lab3", "10.213.7.13")
    assert listed["all"]["hosts"]["lab3"] == {"ansible_host": "10.213.7.13"}
    assert all("lab3" not in g["hosts"] for g in listed["all"]["children"].values())
    placed = inventory.add_host(doc, "lab3", "10.213.7.13", ["spark", "datanodes"])
    children = placed["all"]["children"]
    assert list(children["spark"]["hosts"]) == ["lab1", "lab2", "lab3"]  # lab1 stays master
    assert list(children["datanodes"]["hosts"]) == ["lab2", "lab3"]
    assert "lab3" not in children["zookeeper"]["hosts"]
    assert "lab3" not in doc["all"]["hosts"]  # the input is not modified
    with pytest.raises(ValueError, match="already"):
        inventory.add_host(doc, "lab2", "10.213.7.12")
    with pytest.raises(ValueError, match="not platform groups: sprak"):
        inventory.add_host(doc, "lab3", "10.213.7.13", ["sprak"])


def test_an_added_host_keeps_edits_and_down_still_knows_whether_to_remove(tmp_path: Path) -> None:
    lab = lab_state.LabState(name="lab", cache_dir=str(tmp_path), subnet="10.213.7.0/24")
    lab.hosts = [lab_state.HostState(f"lab{i}", i, f"10.213.7.1{i}", "") for i in (1, 2)]
    doc = inventory.document({h.name: h.address for h in lab.hosts}, Path("/k"))
    path, lab.inventory_sha256 = inventory.write(tmp_path / "inv", doc)
    lab.inventory = str(path)
    host = add.next_host(lab)
    assert (host.name, host.index, host.address) == ("lab3", 3, "10.213.7.13")
    assert host.base == str(lab.dir / "hosts" / "lab3")
    add.list_in_inventory(lab, host, ["spark"])
    inv = load_inventory(path)
    assert inv.groups["spark"] == ["lab1", "lab2", "lab3"]
    assert inv.variables("lab3")["ansible_host"] == "10.213.7.13"
    assert lab_state.load(tmp_path, "lab") == lab  # the new digest is recorded
    assert inventory.file_digest(path) == lab.inventory_sha256  # unedited: down removes it

    edited = yaml.safe_load(path.read_text())
    edited["all"]["children"]["metadata_db"]["hosts"] = {"lab1": None, "lab2": None}
    path.write_text(yaml.safe_dump(edited))
    recorded = lab.inventory_sha256
    fourth = lab_state.HostState("lab4", 4, "10.213.7.14", "")
    add.list_in_inventory(lab, fourth, [])
    inv = load_inventory(path)
    assert inv.groups["metadata_db"] == ["lab1", "lab2"] and "lab4" in inv.hosts
    assert lab.inventory_sha256 == recorded  # edited: down keeps it
    assert not inventory.remove_if_unchanged(path, lab.inventory_sha256)


def test_a_lab_grows_to_its_limit_only() -> None:
    lab = lab_state.LabState(name="lab", cache_dir="/c", subnet="10.213.7.0/24")
    lab.hosts = [
        lab_state.HostState(f"lab{i}", i, "", "") for i in range(1, lifecycle.MAX_HOSTS + 1)
    ]
    with pytest.raises(LabError, match="the most it can have"):
        add.next_host(lab)
    with pytest.raises(LabError, match="bring it up"):
        add.next_host(lab_state.LabState(name="lab", cache_dir="/c"))


def test_add_refuses_a_lab_that_is_not_up_and_unknown_groups(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(LabError, match="is not up: hops-lab up --name lab"):
        add.add("lab", cache_dir=tmp_path)
    lab = lab_state.LabState(name="lab", cache_dir=str(tmp_path), ready=True)
    lab.hosts = [lab_state.HostState("lab1", 1, "10.213.7.11", "")]
    lab.inventory, lab.rootfs, lab.ssh_key = str(tmp_path / "hosts.yml"), str(tmp_path), "/k"
    lab.services = {
        name: lab_state.ServiceState(ProcessRef(1, 1), "http://10.213.7.1:1/")
        for name in (lifecycle.APT_PROXY, lifecycle.WHEELHOUSE)
    }
    lab.save()
    with pytest.raises(LabError, match=r"inventory .* is gone"):
        add.add("lab", cache_dir=tmp_path)
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    with pytest.raises(LabError, match="not platform groups: workers"):
        add.add("lab", ["workers"], cache_dir=tmp_path)
    assert [h.name for h in lab_state.load(tmp_path, "lab").hosts] == ["lab1"]  # nothing added


# --- state -------------------------------------------------------------------------------


def test_state_round_trip(tmp_path: Path) -> None:
    lab = lab_state.LabState(name="lab", cache_dir=str(tmp_path), subnet="10.213.7.0/24")
    lab.hosts = [
        lab_state.HostState(
            "lab1", 1, "10.213.7.11", str(tmp_path / "h1"), True, ProcessRef(12, 34)
        )
    ]
    lab.services["apt-proxy"] = lab_state.ServiceState(
        ProcessRef(56, 78), "http://10.213.7.1:3142/"
    )
    lab.save()
    assert lab_state.load(tmp_path, "lab") == lab
    assert lab_state.lab_names(tmp_path) == ["lab"]
    assert lab_state.load(tmp_path, "other") is None
    lab_state.remove(lab)
    assert lab_state.load(tmp_path, "lab") is None


# --- root filesystem, apt proxy, host files ---------------------------------------------


def test_apt_sources_are_read_from_both_formats(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main contrib\n"
        "deb-src http://mirror.example/debian bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.debian.org/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n"
    )
    sources = parse_sources(tmp_path)
    assert sources == [
        AptSource("http://mirror.example/debian", ("bookworm",), ("main", "contrib")),
        AptSource("http://deb.debian.org/debian-security", ("bookworm-security",), ("main",)),
    ]
    assert debian_mirror(sources) == "http://mirror.example/debian"
    spec = RootfsSpec.from_machine(tmp_path)
    assert spec.mirror == "http://mirror.example/debian"
    assert spec.name == RootfsSpec.from_machine(tmp_path).name
    assert spec.name != RootfsSpec(mirror=spec.mirror, sources=spec.sources, include=("x",)).name


def test_outdated_root_filesystems_are_pruned(tmp_path: Path) -> None:
    base = tmp_path / "rootfs"
    (base / "debian-bookworm-new").mkdir(parents=True)
    (base / "debian-bookworm-old").mkdir()
    for suffix in (".tar.zst", ".ready", ".lock"):
        (base / f"debian-bookworm-old{suffix}").touch()
    removed = prune(tmp_path, keep="debian-bookworm-new")
    assert sorted(p.name for p in removed) == [
        "debian-bookworm-old",
        "debian-bookworm-old.ready",
        "debian-bookworm-old.tar.zst",
    ]
    assert sorted(p.name for p in base.iterdir()) == [
        "debian-bookworm-new",
        "debian-bookworm-old.lock",
    ]


def test_up_refuses_without_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        lifecycle.up(lifecycle.LabConfig(cache_dir=tmp_path))
    assert container_support() == "not root"
    assert list(tmp_path.iterdir()) == []


def test_apt_proxy_forwards_to_the_machines_mirrors(tmp_path: Path) -> None:
    sources = [
        AptSource("http://mirror.example/debian", ("bookworm", "bookworm-updates")),
        AptSource("http://mirror.example/debian-security", ("bookworm-security",)),
    ]
    files = aptproxy.config_files(sources, tmp_path / "c", tmp_path / "l", tmp_path / "s")
    assert files["backends_debian"] == "http://mirror.example/debian/\n"
    assert files["backends_debian_security"] == "http://mirror.example/debian-security/\n"
    assert "mirror.example/debian ; file:backends_debian" in files["acng.conf"]
    assert f"CacheDir: {tmp_path / 'c'}" in files["acng.conf"]


def test_identity_files() -> None:
    peers = [hosts.HostSpec("lab1", 1, "10.213.7.11"), hosts.HostSpec("lab2", 2, "10.213.7.12")]
    files = hosts.identity_files(
        peers[1],
        24,
        peers,
        "ssh-ed25519 AAAA lab",
        "0" * 32,
        "http://10.213.7.1:3142/",
        "[global]\n",
    )
    assert files["etc/hostname"][0] == "lab2\n"
    assert "10.213.7.11\tlab1" in files["etc/hosts"][0]
    network_file = files["etc/systemd/network/10-host0.network"][0]
    assert "Name=host0" in network_file and "Address=10.213.7.12/24" in network_file
    assert "Gateway" not in network_file
    assert files["root/.ssh/authorized_keys"][1] == 0o600
    assert "10.213.7.1:3142" in files["etc/apt/apt.conf.d/01hops-lab-proxy"][0]


def test_ssh_command_quotes_the_remote_command() -> None:
    argv = sshkeys.ssh_argv(Path("/k"), "10.0.0.1", ["echo", "a b"])
    assert argv[-3:] == ["root@10.0.0.1", "--", "echo 'a b'"]
    assert "StrictHostKeyChecking=no" in argv


# --- processes and the reboot loop --------------------------------------------------------


def test_supervisor_restarts_on_exit_133_only(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    script = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
        "n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); "
        "sys.exit(133 if n < 3 else 7)"
    )
    code = supervise([sys.executable, "-c", script, str(counter)], tmp_path / "pid")
    assert code == 7
    assert counter.read_text() == "3"
    assert int((tmp_path / "pid").read_text()) > 0


def test_spawned_daemon_is_stopped_and_pid_reuse_is_detected(tmp_path: Path) -> None:
    ref = spawn([shutil.which("sleep") or "/bin/sleep", "60"], tmp_path / "log")
    assert ref.alive()
    assert not ProcessRef(ref.pid, ref.start + 1).alive()  # same pid, other start time
    assert stop(ref, 5.0)
    assert not ref.alive()


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    ref = spawn([sys.executable, "-c", script], tmp_path / "log")
    time.sleep(0.3)  # let it install the handler
    assert not stop(ref, 0.5)
    assert not ref.alive()


# --- a cgroup per host --------------------------------------------------------------------

HYBRID_MOUNTINFO = """\
30 24 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
"""


def test_hosts_get_cgroups_in_the_hierarchies_systemd_tracks_units_with(tmp_path: Path) -> None:
    assert cgroups.tracking_hierarchies(HYBRID_MOUNTINFO) == [
        Path("/sys/fs/cgroup/unified"),
        Path("/sys/fs/cgroup/systemd"),
    ]
    hierarchies = [tmp_path / "unified", tmp_path / "systemd"]
    for h in hierarchies:
        h.mkdir()
    assert cgroups.enter("lab1", hierarchies) == [h / "hops-lab" / "lab1" for h in hierarchies]
    procs = hierarchies[0] / "hops-lab" / "lab1" / "cgroup.procs"
    assert procs.read_text() == f"{os.getpid()}\n"
    procs.unlink()  # on cgroupfs the control files go with the directory
    (hierarchies[0] / "hops-lab" / "lab1" / "payload" / "system.slice").mkdir(parents=True)
    (hierarchies[1] / "hops-lab" / "lab1" / "cgroup.procs").unlink()
    cgroups.remove("lab1", hierarchies)
    assert [list((h / "hops-lab").iterdir()) for h in hierarchies] == [[], []]
    blocked = tmp_path / "read-only"
    blocked.write_text("")  # a hierarchy it cannot create groups in is skipped
    assert cgroups.enter("lab2", [blocked, hierarchies[0]]) == [
        hierarchies[0] / "hops-lab" / "lab2"
    ]


# --- real hosts ---------------------------------------------------------------------------


def _nspawn_processes_under(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            zombie = stat[stat.rindex(")") + 2] == "Z"
            if not zombie and any(str(directory).encode() in a for a in argv):
                found.append(int(entry.name))
    return found


def _mounts_under(directory: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p.startswith(str(directory) + "/")]


@pytest.mark.lab
def test_two_hosts_up_reachable_and_down_leaves_nothing(lab_machine: Path, tmp_path: Path) -> None:
    name = "labtest"
    lifecycle.down(name, lab_machine)  # a previous run that died
    config = lifecycle.LabConfig(
        name=name, hosts=2, cache_dir=lab_machine, inventory_dir=tmp_path / "inventory"
    )
    started = time.monotonic()
    lab = lifecycle.up(config)
    print(f"up (2 hosts) in {time.monotonic() - started:.1f} s")
    try:
        key = Path(lab.ssh_key or "")
        assert oct(key.stat().st_mode & 0o777) == "0o600"
        addresses = {h.name: h.address for h in lab.hosts}
        inv = load_inventory(Path(lab.inventory or ""))
        assert inv.groups["metadata_db"] == ["labtest1"]
        assert inv.variables("labtest2")["ansible_host"] == addresses["labtest2"]

        machine_ids = set()
        for host, address in addresses.items():
            result = sshkeys.run(
                key, address, ["timeout", "90", "systemctl", "is-system-running", "--wait"]
            )
            assert result.stdout.strip() in ("running", "degraded"), (host, result)
            result = sshkeys.run(key, address, ["cat", "/etc/machine-id"])
            assert result.returncode == 0 and len(result.stdout.strip()) == 32
            machine_ids.add(result.stdout.strip())
            assert sshkeys.run(key, address, ["hostname"]).stdout.strip() == host
        assert len(machine_ids) == 2

        ping = sshkeys.run(key, addresses["labtest1"], ["ping", "-c", "1", "-W", "5", "labtest2"])
        assert ping.returncode == 0, ping.stdout + ping.stderr

        routes = sshkeys.run(key, addresses["labtest1"], ["ip", "route", "show", "default"])
        assert routes.stdout.strip() == ""  # no way off the machine: apt must use the proxy
        update = sshkeys.run(key, addresses["labtest1"], ["apt-get", "update"], timeout=300)
        assert update.returncode == 0, update.stdout[-2000:] + update.stderr[-2000:]
        assert "Err:" not in update.stdout

        # each host's units have a cgroup tree of their own (cgroups.py): stopping a unit on
        # one host leaves the same unit on the other running, and its group empties cleanly
        for address in addresses.values():
            probe = ["systemd-run", "--unit=hops-probe", "sleep", "300"]
            assert sshkeys.run(key, address, probe).returncode == 0
        assert (
            sshkeys.run(key, addresses["labtest1"], ["systemctl", "stop", "hops-probe"]).returncode
            == 0
        )
        other = sshkeys.run(key, addresses["labtest2"], ["systemctl", "is-active", "hops-probe"])
        assert other.stdout.strip() == "active"
        journal = sshkeys.run(key, addresses["labtest1"], ["journalctl", "--unit", "hops-probe"])
        assert "Failed to kill control group" not in journal.stdout, journal.stdout

        found = lifecycle.status(name, lab_machine)
        assert found is not None and all(h.running and h.ssh for h in found.hosts)
        assert all(alive for _, alive in found.services.values())
    finally:
        started = time.monotonic()
        lifecycle.down(name, lab_machine)
        print(f"down in {time.monotonic() - started:.1f} s")
    assert _nspawn_processes_under(lab.dir) == []
    assert not any(ref.alive() for ref in (h.supervisor for h in lab.hosts) if ref)
    assert not any(s.ref.alive() for s in lab.services.values())
    assert _mounts_under(lab.dir) == []
    assert not any(d.exists() for h in addresses for d in cgroups.host_cgroups(h))
    assert not network.link_exists(lab.bridge or "")
    assert not Path(lab.inventory or "").exists()
    assert lifecycle.status(name, lab_machine) is None


@pytest.mark.lab
def test_failed_up_removes_what_it_started(lab_machine: Path, tmp_path: Path) -> None:
    name = "labfail"
    lifecycle.down(name, lab_machine)
    config = lifecycle.LabConfig(
        name=name, hosts=1, cache_dir=lab_machine, inventory_dir=tmp_path, boot_timeout=0.0
    )
    with pytest.raises(LabError):
        lifecycle.up(config)
    directory = lab_state.lab_dir(lab_machine, name)
    assert lab_state.load(lab_machine, name) is None
    assert _nspawn_processes_under(directory) == []
    assert _mounts_under(directory) == []
    assert not network.link_exists(network.bridge_name(name))
    assert not (tmp_path / "hosts.yml").exists()


@pytest.mark.lab
def test_an_added_host_boots_is_listed_and_down_removes_it(
    lab_machine: Path, tmp_path: Path
) -> None:
    name = "labadd"
    lifecycle.down(name, lab_machine)
    config = lifecycle.LabConfig(
        name=name, hosts=1, cache_dir=lab_machine, inventory_dir=tmp_path / "inventory"
    )
    lab = lifecycle.up(config)
    try:
        started = time.monotonic()
        added = add.add(name, ["spark"], lab_machine)
        print(f"add in {time.monotonic() - started:.1f} s")
        assert (added.name, added.index) == ("labadd2", 2)
        key = Path(lab.ssh_key or "")
        assert sshkeys.run(key, added.address, ["hostname"]).stdout.strip() == "labadd2"
        # the new host knows the old one by name (the old one learns it from the playbooks)
        ping = sshkeys.run(key, added.address, ["ping", "-c", "1", "-W", "5", "labadd1"])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        inv = load_inventory(Path(lab.inventory or ""))
        assert inv.groups["spark"] == ["labadd1", "labadd2"]
        assert inv.groups["metadata_db"] == ["labadd1"]

        # a host that does not come up in time is removed again; the lab is as it was
        with pytest.raises(LabError):
            add.add(name, [], lab_machine, boot_timeout=0.0)
        grown = lab_state.load(lab_machine, name)
        assert grown is not None and [h.name for h in grown.hosts] == ["labadd1", "labadd2"]
        assert not (lab.dir / "hosts" / "labadd3").exists()
        assert "labadd3" not in load_inventory(Path(lab.inventory or "")).hosts
    finally:
        lifecycle.down(name, lab_machine)
    assert _nspawn_processes_under(lab.dir) == []
    assert _mounts_under(lab.dir) == []
    assert not network.link_exists(lab.bridge or "")
    assert not Path(lab.inventory or "").exists()  # rewritten by add, still removed
