"""The stack's configuration: every key, its type and default, and the checks that run before
any resource is declared.

`parse_config` is a pure function over the raw strings Pulumi hands a program (lists are
JSON), so every rule is unit-tested without Pulumi; `read_config` is the thin reader from
`pulumi.Config`. A wrong value stops the program with a `StackConfigError` naming the key
(`hops-cloud:headCount: must be at least 1, got 0`) before AWS is asked for anything.

The keys, their types, defaults and secrecy are Pulumi.yaml's `config:` section, read by
hops_stack.pulumi_config (`KEYS`); they live in the project's namespace, `hops-cloud:`
(`pulumi config set headCount 3`).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pulumi

from hops_stack.pulumi_config import StackFile, load_project

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROJECT = load_project(PROJECT_DIR / "Pulumi.yaml")
NAMESPACE = PROJECT.project
"""The Pulumi project name, which namespaces its configuration keys."""
KEYS = PROJECT.keys
"""Every key the program reads, as Pulumi.yaml declares it."""

SUPPORTED_CLOUDS = ("aws",)
ACCESS_MODES = ("ssm", "bastion")

GPU_INSTANCE_FAMILIES = (
    "g4dn",
    "g5",
    "g6",
    "g6e",
    "gr6",
    "p3",
    "p3dn",
    "p4d",
    "p4de",
    "p5",
    "p5e",
    "p5en",
)
"""x86_64 EC2 families with NVIDIA GPUs, which the nvidia role can drive. Not here: g4ad (AMD
GPUs), g5g (Arm), and the retired p2/g3 whose GPUs the pinned driver no longer supports."""

SECRET_VARIABLES = {
    "dbServicePassword": "hops_db_service_password",
    "dbHivePassword": "hops_db_hive_password",
    "hdfsKeystorePassword": "hdfs_keystore_password",
    "yarnKeystorePassword": "yarn_keystore_password",
    "keystorePassword": "hops_keystore_password",
}
"""Secret keys handed to the playbook, and the Ansible variables they set (the ones
docs/deployment.md says belong in a vault)."""

MIN_SECRET_LENGTH = 8
MIN_ROOT_VOLUME_GIB = 30

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")
_ARM_FAMILY = re.compile(r"^[a-z]+\d+g")
_AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
_ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PUBLIC_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+")
_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class StackConfigError(ValueError):
    """The stack configuration is wrong; the message names every offending key."""


@dataclass(frozen=True)
class NodeGroupConfig:
    count: int
    instance_type: str


@dataclass(frozen=True)
class Secrets:
    """Values that must only ever reach Pulumi as secret Outputs; never printed."""

    ssh_private_key: str = field(repr=False)
    playbook_variables: Mapping[str, str] = field(repr=False)


@dataclass(frozen=True)
class StackConfig:
    cloud: str
    access: Literal["ssm", "bastion"]
    vpc_cidr: ipaddress.IPv4Network
    public_subnet_cidrs: tuple[ipaddress.IPv4Network, ...]
    private_subnet_cidrs: tuple[ipaddress.IPv4Network, ...]
    availability_zones: tuple[str, ...]
    api_allowed_cidrs: tuple[Network, ...]
    bastion_allowed_cidrs: tuple[Network, ...]
    bastion_instance_type: str
    heads: NodeGroupConfig
    workers: NodeGroupConfig
    gpu_workers: NodeGroupConfig
    zookeeper_count: int
    root_volume_gib: int
    data_volume_gib: int
    ami_id: str
    ssh_user: str
    ssh_public_key: str
    nvidia_driver_version: str
    tags: Mapping[str, str]
    run_playbook: bool
    secrets: Secrets


def full_key(key: str) -> str:
    return f"{NAMESPACE}:{key}"


class _Reader:
    """Turns raw strings into typed values, collecting one message per bad key so that a
    user fixes them all in one go."""

    def __init__(self, raw: Mapping[str, str | None]) -> None:
        self.raw = raw
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"{full_key(key)}: {message}")

    def _raw(self, key: str) -> Any:
        value = self.raw.get(key)
        if value is None:
            if KEYS[key].required:
                how = "--secret " if KEYS[key].secret else ""
                self.fail(key, f"required, not set (pulumi config set {how}{key} ...)")
            return KEYS[key].default
        return value

    def string(self, key: str) -> str:
        value = self._raw(key)
        return "" if value is None else str(value).strip()

    def integer(self, key: str, minimum: int) -> int:
        value = self._raw(key)
        if value is None:
            return minimum
        try:
            number = int(str(value).strip())
        except ValueError:
            self.fail(key, f"must be an integer, got {value!r}")
            return minimum
        if number < minimum:
            self.fail(key, f"must be at least {minimum}, got {number}")
            return minimum
        return number

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            self.fail(key, f"must be true or false, got {value!r}")
            return KEYS[key].default == "true"
        return text == "true"

    def strings(self, key: str) -> list[str]:
        value = self._raw(key)
        if value is None:
            return []
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                self.fail(key, f'must be a JSON list of strings (e.g. ["a", "b"]), got {value!r}')
                return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of strings, got {value!r}")
            return []
        return [v.strip() for v in value]

    def networks(
        self, key: str, texts: Sequence[str], *, ipv4_only: bool
    ) -> list[tuple[int, Network]]:
        """(index, network) for each valid entry of `texts`; each invalid one is reported."""
        parsed = []
        for index, text in enumerate(texts):
            try:
                network = ipaddress.ip_network(text, strict=True)
            except ValueError as error:
                self.fail(f"{key}[{index}]", f"{text!r} is not a network in CIDR form ({error})")
                continue
            if ipv4_only and network.version != 4:
                self.fail(f"{key}[{index}]", f"{text} must be an IPv4 network")
                continue
            parsed.append((index, network))
        return parsed


def _check_choice(r: _Reader, key: str, value: str, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        r.fail(key, f"{value!r} is not {what} (supported: {', '.join(choices)})")


def instance_family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def is_gpu_instance_type(instance_type: str) -> bool:
    return instance_family(instance_type) in GPU_INSTANCE_FAMILIES


def _check_instance_type(r: _Reader, key: str, value: str) -> None:
    if not _INSTANCE_TYPE.match(value):
        r.fail(key, f"{value!r} is not an EC2 instance type (family.size, e.g. m6i.2xlarge)")
    elif _ARM_FAMILY.match(instance_family(value)):
        r.fail(
            key,
            f"{value!r} is an Arm (Graviton) type; the roles install amd64 packages "
            "(use an x86_64 family such as m6i, m7i, r6i)",
        )


def _subnets(r: _Reader, vpc: ipaddress.IPv4Network | None) -> tuple[list, list]:
    """Both subnet lists, each inside the VPC, sized for AWS, and no two overlapping."""
    found: dict[str, list[tuple[int, ipaddress.IPv4Network]]] = {}
    for key in ("publicSubnetCidrs", "privateSubnetCidrs"):
        texts = r.strings(key)
        if not texts:
            r.fail(key, "must list at least one subnet")
        entries = r.networks(key, texts, ipv4_only=True)
        for index, network in entries:
            if not 16 <= network.prefixlen <= 28:
                r.fail(f"{key}[{index}]", f"{network} must be between /16 and /28 (AWS limits)")
            if vpc is not None and not network.subnet_of(vpc):
                r.fail(f"{key}[{index}]", f"{network} is not inside {full_key('vpcCidr')} {vpc}")
        found[key] = entries  # type: ignore[assignment]
    labelled = [(f"{key}[{i}]", net) for key, entries in found.items() for i, net in entries]
    for position, (label, network) in enumerate(labelled):
        for other_label, other in labelled[:position]:
            if network.overlaps(other):
                r.fail(label, f"{network} overlaps {full_key(other_label)} {other}")
    return (
        [n for _, n in found["publicSubnetCidrs"]],
        [n for _, n in found["privateSubnetCidrs"]],
    )


def _tags(r: _Reader) -> dict[str, str]:
    tags: dict[str, str] = {}
    for index, item in enumerate(r.strings("tags")):
        key, sep, value = item.partition("=")
        key = key.strip()
        label = f"tags[{index}]"
        if not sep or not key:
            r.fail(label, f"{item!r} must be key=value")
        elif key.lower().startswith(("aws:", "hops:")):
            r.fail(label, f"{key!r}: the aws: and hops: prefixes are reserved")
        elif not _TAG_KEY.match(key) or len(value) > 256:
            r.fail(label, f"{item!r} is not a valid AWS tag (key <= 128, value <= 256 chars)")
        else:
            tags[key] = value.strip()
    return tags


def _secrets(r: _Reader) -> Secrets:
    variables = {}
    for key, variable in SECRET_VARIABLES.items():
        value = r.string(key)
        if value and len(value) < MIN_SECRET_LENGTH:
            r.fail(key, f"must be at least {MIN_SECRET_LENGTH} characters")
        variables[variable] = value
    private_key = r.string("sshPrivateKey")
    if private_key and "PRIVATE KEY-----" not in private_key:
        r.fail("sshPrivateKey", "is not a PEM/OpenSSH private key (-----BEGIN ...PRIVATE KEY-----)")
    return Secrets(
        ssh_private_key=private_key + "\n" if private_key else "", playbook_variables=variables
    )


def _unknown_keys(r: _Reader) -> None:
    for key in sorted(set(r.raw) - set(KEYS)):
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        r.fail(key, f"not a key of this stack{hint}")


def parse_config(raw: Mapping[str, str | None]) -> StackConfig:
    """Build the typed configuration from raw key -> string values (short keys, without the
    namespace); raise StackConfigError listing every problem."""
    r = _Reader(raw)
    _unknown_keys(r)

    cloud = r.string("cloud")
    _check_choice(r, "cloud", cloud, SUPPORTED_CLOUDS, "a supported cloud")
    access = r.string("access")
    _check_choice(r, "access", access, ACCESS_MODES, "an access mode")

    vpc: ipaddress.IPv4Network | None = None
    vpc_text = r.string("vpcCidr")
    try:
        vpc = ipaddress.IPv4Network(vpc_text, strict=True)
        if not 16 <= vpc.prefixlen <= 28:
            r.fail("vpcCidr", f"{vpc} must be between /16 and /28 (AWS limits)")
    except ValueError as error:
        r.fail("vpcCidr", f"{vpc_text!r} is not an IPv4 network in CIDR form ({error})")
    public, private = _subnets(r, vpc)

    zones = r.strings("availabilityZones")
    for index, zone in enumerate(zones):
        if not _ZONE.match(zone):
            r.fail(f"availabilityZones[{index}]", f"{zone!r} is not a zone name (e.g. eu-north-1a)")

    api_texts = r.strings("apiAllowedCidrs")
    if not api_texts:
        r.fail("apiAllowedCidrs", "must list at least one network (the API is unreachable)")
    api_cidrs = [n for _, n in r.networks("apiAllowedCidrs", api_texts, ipv4_only=False)]
    bastion_texts = r.strings("bastionAllowedCidrs")
    bastion_cidrs = r.networks("bastionAllowedCidrs", bastion_texts, ipv4_only=False)
    for index, network in bastion_cidrs:
        if network.prefixlen == 0:
            r.fail(
                f"bastionAllowedCidrs[{index}]",
                f"{network} opens SSH to the whole internet; list your own networks",
            )
    if access == "bastion" and not bastion_texts:
        r.fail(
            "bastionAllowedCidrs",
            f"must list at least one network when {full_key('access')} is 'bastion'",
        )

    instance_types = {}
    for key in ("bastionInstanceType", "headInstanceType", "workerInstanceType"):
        instance_types[key] = r.string(key)
        _check_instance_type(r, key, instance_types[key])
    gpu_type = r.string("gpuWorkerInstanceType")
    _check_instance_type(r, "gpuWorkerInstanceType", gpu_type)
    if _INSTANCE_TYPE.match(gpu_type) and not is_gpu_instance_type(gpu_type):
        r.fail(
            "gpuWorkerInstanceType",
            f"{gpu_type!r} is not a GPU instance family ({', '.join(GPU_INSTANCE_FAMILIES)})",
        )

    heads = r.integer("headCount", minimum=1)
    workers = r.integer("workerCount", minimum=0)
    gpu_workers = r.integer("gpuWorkerCount", minimum=0)
    zookeeper = r.integer("zookeeperCount", minimum=1)
    if zookeeper % 2 == 0:
        r.fail("zookeeperCount", f"must be odd (a quorum), got {zookeeper}")
    elif zookeeper > heads + workers:
        r.fail(
            "zookeeperCount",
            f"{zookeeper} is more than the {heads + workers} head and worker hosts "
            f"({full_key('headCount')} + {full_key('workerCount')})",
        )

    root_gib = r.integer("rootVolumeSize", minimum=MIN_ROOT_VOLUME_GIB)
    data_gib = r.integer("dataVolumeSize", minimum=1)

    ami_id = r.string("amiId")
    if ami_id and not _AMI_ID.match(ami_id):
        r.fail("amiId", f"{ami_id!r} is not an AMI id (ami-0123456789abcdef0) nor empty")
    ssh_user = r.string("sshUser")
    if not _USER.match(ssh_user):
        r.fail("sshUser", f"{ssh_user!r} is not a Unix user name")
    public_key = r.string("sshPublicKey")
    if public_key and not _PUBLIC_KEY.match(public_key):
        r.fail("sshPublicKey", "is not an OpenSSH public key (ssh-ed25519 AAAA...)")
    driver = r.string("nvidiaDriverVersion")
    if not re.fullmatch(r"\d+(\.\d+)+", driver):
        r.fail("nvidiaDriverVersion", f"{driver!r} is not a driver version (e.g. 550.127.05)")

    tags = _tags(r)
    run_playbook = r.boolean("runPlaybook")
    secrets = _secrets(r)

    if r.problems:
        count = len(r.problems)
        heading = "1 configuration error" if count == 1 else f"{count} configuration errors"
        raise StackConfigError(f"{heading}:\n  " + "\n  ".join(r.problems))

    assert vpc is not None
    return StackConfig(
        cloud=cloud,
        access=access,  # type: ignore[arg-type]
        vpc_cidr=vpc,
        public_subnet_cidrs=tuple(public),
        private_subnet_cidrs=tuple(private),
        availability_zones=tuple(zones),
        api_allowed_cidrs=tuple(api_cidrs),
        bastion_allowed_cidrs=tuple(n for _, n in bastion_cidrs),
        bastion_instance_type=instance_types["bastionInstanceType"],
        heads=NodeGroupConfig(heads, instance_types["headInstanceType"]),
        workers=NodeGroupConfig(workers, instance_types["workerInstanceType"]),
        gpu_workers=NodeGroupConfig(gpu_workers, gpu_type),
        zookeeper_count=zookeeper,
        root_volume_gib=root_gib,
        data_volume_gib=data_gib,
        ami_id=ami_id,
        ssh_user=ssh_user,
        ssh_public_key=public_key,
        nvidia_driver_version=driver,
        tags=tags,
        run_playbook=run_playbook,
        secrets=secrets,
    )


def read_config(
    config: pulumi.Config | None = None, stack_file: StackFile | None = None
) -> StackConfig:
    """Read the stack's configuration through `pulumi.Config` and validate it (see
    parse_config). Keys the stack's settings file sets in this project's namespace but
    Pulumi.yaml does not declare are typos: reported, not ignored (Pulumi accepts them)."""
    raw: dict[str, str | None] = PROJECT.read(config)
    if stack_file is None:
        stack_file = StackFile.of_running_stack(PROJECT_DIR, NAMESPACE)
    for extra in stack_file.undeclared(KEYS):
        raw[extra] = None
    return parse_config(raw)
