"""The lab's Ansible inventory (`inventories/lab/hosts.yml`), in the YAML format that
`ansible-inventory` and `hops_deploy.topology.load_inventory` read.

Layouts (architecture.md's two common ones, and the rule that extends them):

- 1 host: every group on it.
- N >= 2: the first host is the head: metadata_db, hive, hopsworks_api, namenodes,
  resourcemanagers, kubernetes_control; the others are workers: datanodes, nodemanagers,
  kafka; zookeeper on the first three (on the head alone with two hosts: a quorum needs an
  odd number); spark on all with the head first (the spark role makes the group's first
  host the master); kubernetes_workers on the last host.

A host added to a running lab (`hops-lab add`, `add_host` here) joins only the groups the
caller names, at the end of each: it never becomes a group's first host (the Spark master,
the CA host), and a host named in no group is only listed, ready to be placed by hand.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from hops_deploy.lab.sshkeys import COMMON_ARGS
from hops_platform.host_groups import GROUPS

HEAD_GROUPS = (
    "metadata_db",
    "hive",
    "hopsworks_api",
    "namenodes",
    "resourcemanagers",
    "kubernetes_control",
)
WORKER_GROUPS = ("datanodes", "nodemanagers", "kafka")


def layout(hosts: Sequence[str]) -> dict[str, list[str]]:
    """Group -> hosts (in order) for every platform group."""
    if not hosts:
        raise ValueError("a lab has at least one host")
    if len(hosts) == 1:
        return {group: [hosts[0]] for group in GROUPS}
    head, workers = hosts[0], list(hosts[1:])
    groups: dict[str, list[str]] = {group: [] for group in GROUPS}
    for group in HEAD_GROUPS:
        groups[group] = [head]
    for group in WORKER_GROUPS:
        groups[group] = list(workers)
    groups["zookeeper"] = list(hosts[:3]) if len(hosts) >= 3 else [head]
    groups["spark"] = [head, *workers]
    groups["kubernetes_workers"] = [hosts[-1]]
    return groups


def document(
    addresses: Mapping[str, str],
    ssh_key: Path,
    extra_vars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The inventory as data: connection settings for all hosts, each host's address, and
    every platform group (possibly empty)."""
    groups = layout(list(addresses))
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(ssh_key),
                "ansible_ssh_common_args": COMMON_ARGS,
                "ansible_python_interpreter": "/usr/bin/python3",
                **(extra_vars or {}),
            },
            "hosts": {name: {"ansible_host": address} for name, address in addresses.items()},
            "children": {
                group: {"hosts": {host: None for host in members}}
                for group, members in groups.items()
            },
        }
    }


def check_groups(groups: Sequence[str]) -> None:
    """ValueError naming any of `groups` that is not a platform group (a typo would
    otherwise make a group the playbooks never read)."""
    unknown = [group for group in groups if group not in GROUPS]
    if unknown:
        raise ValueError(f"not platform groups: {', '.join(unknown)} (groups: {', '.join(GROUPS)})")


def add_host(
    doc: Mapping[str, Any], name: str, address: str, groups: Sequence[str] = ()
) -> dict[str, Any]:
    """A copy of inventory `doc` with host `name` listed and appended to `groups`.

    Why a copy of the current document rather than `document()` again: the inventory may
    have been edited since `up` (a test or a person moved hosts between groups), and
    adding a host must not undo that."""
    check_groups(groups)
    new = copy.deepcopy(dict(doc))
    top = new.setdefault("all", {})
    listed = top.get("hosts") or {}
    if name in listed:
        raise ValueError(f"{name} is already in the inventory")
    top["hosts"] = {**listed, name: {"ansible_host": address}}
    children = top.get("children") or {}
    for group in groups:
        members = (children.get(group) or {}).get("hosts") or {}
        children[group] = {**(children.get(group) or {}), "hosts": {**members, name: None}}
    top["children"] = children
    return new


def file_digest(path: Path) -> str:
    """The SHA-256 `write` returns, of a file as it is now (to tell whether it was edited)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Writes `host:` rather than `host: null` for group members, as people write them."""


_Dumper.add_representer(
    type(None), lambda dumper, _value: dumper.represent_scalar("tag:yaml.org,2002:null", "")
)

HEADER = (
    "# Written by `hops-lab up` (and `hops-lab add`): the lab's systemd-nspawn hosts.\n"
    "# Groups are the platform's functional groups (architecture.md); a host may be in many.\n"
)


def render(doc: Mapping[str, Any]) -> str:
    body: str = yaml.dump(
        dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000
    )
    return HEADER + body


def write(directory: Path, doc: Mapping[str, Any]) -> tuple[Path, str]:
    """Write `hosts.yml` into `directory`; return its path and content digest (so `down`
    removes it only if nobody has edited it since)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts.yml"
    text = render(doc)
    partial = path.with_suffix(".yml.partial")
    partial.write_text(text)
    os.replace(partial, path)
    return path, hashlib.sha256(text.encode()).hexdigest()


def remove_if_unchanged(path: Path, digest: str | None) -> bool:
    """Delete an inventory `up` wrote unless it was edited; True if deleted."""
    if digest is None or not path.is_file():
        return False
    if file_digest(path) != digest:
        return False
    path.unlink()
    if not any(path.parent.iterdir()):
        path.parent.rmdir()  # the directory only held what `up` wrote
    return True
