"""Runs the Pulumi program of stacks/cloud against Pulumi's mocks: no CLI, no AWS.

`run_stack(**config)` configures the mocks (inside the call, never at import: the other
stacks' tests set their own), sets the stack configuration as Pulumi passes it (strings,
JSON for lists), runs `stacks/cloud/__main__.py`, waits for every resource and output, and
returns what was recorded: each resource's type, name, inputs (camelCase), parent, explicit
dependencies, secret input paths and additional secret outputs, and the resolved exports.
"""

from __future__ import annotations

import hashlib
import runpy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.runtime.mocks import MockMonitor

from hops_stack.pulumi_config import config_string

REPO = Path(__file__).resolve().parents[3]
CLOUD_DIR = REPO / "stacks" / "cloud"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
FAKE_CA_CHAIN = "-----BEGIN CERTIFICATE-----\nMIIB...fake\n-----END CERTIFICATE-----"
BASTION_IP = "198.51.100.7"
REGION = "eu-north-1"

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAfake\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
BASE_CONFIG: dict[str, Any] = {
    "sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests operator@example.org",
    "sshPrivateKey": PRIVATE_KEY,
    "dbServicePassword": "service-password-1",
    "dbHivePassword": "hive-password-1",
    "hdfsKeystorePassword": "hdfs-keystore-1",
    "yarnKeystorePassword": "yarn-keystore-1",
    "keystorePassword": "jvm-keystore-1",
}
SECRET_KEYS = (
    "sshPrivateKey",
    "dbServicePassword",
    "dbHivePassword",
    "hdfsKeystorePassword",
    "yarnKeystorePassword",
    "keystorePassword",
)


raw_value = config_string
"""A config value as the Pulumi engine hands it to a program."""


@dataclass
class Resource:
    type: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    secret_inputs: set[str] = field(default_factory=set)
    additional_secret_outputs: list[str] = field(default_factory=list)

    @property
    def tags(self) -> dict[str, str]:
        return self.inputs.get("tags") or {}


def _secret_paths(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            yield path
            return
        for key, item in value.items():
            yield from _secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{index}]")


def unwrap_secrets(value: Any) -> Any:
    """Plain values: the mock monitor hands inputs over with secrets still wrapped (a map
    holding a secret is wrapped whole); which paths were secret is recorded separately."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_VALUE:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would, deterministically, and records every resource."""

    def __init__(self) -> None:
        self.resources: list[Resource] = []
        self.by_key: dict[tuple[str, str], Resource] = {}
        self.calls: list[str] = []
        self._instances = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        resource = Resource(type=args.typ, name=args.name, inputs=unwrap_secrets(args.inputs))
        self.resources.append(resource)
        self.by_key[(args.typ, args.name)] = resource
        digest = hashlib.sha1(args.name.encode()).hexdigest()
        state = dict(resource.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "aws:ec2/instance:Instance":
            self._instances += 1
            resource_id = f"i-{digest[:17]}"
            state["privateIp"] = f"10.0.16.{10 + self._instances}"
            state["availabilityZone"] = f"{REGION}a"
            if state.get("associatePublicIpAddress"):
                state["publicIp"] = BASTION_IP
        elif args.typ == "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{digest[:17]}"
        elif args.typ == "aws:ec2/keyPair:KeyPair":
            state["keyName"] = f"{args.name}-key"
        elif args.typ == "aws:iam/role:Role":
            state["name"] = f"{args.name}-role"
        elif args.typ == "aws:iam/instanceProfile:InstanceProfile":
            state["name"] = f"{args.name}-profile"
        elif args.typ == "aws:lb/loadBalancer:LoadBalancer":
            state["dnsName"] = f"{args.name}.elb.{REGION}.amazonaws.com"
            state["arn"] = f"arn:aws:elasticloadbalancing:{REGION}:1:loadbalancer/net/{args.name}"
        elif args.typ == "aws:lb/targetGroup:TargetGroup":
            state["arn"] = f"arn:aws:elasticloadbalancing:{REGION}:1:targetgroup/{args.name}"
        elif args.typ == "command:local:Command":
            state["stdout"] = FAKE_CA_CHAIN if args.name.endswith("ca-chain") else "ok"
            state["stderr"] = ""
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        self.calls.append(args.token)
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
            return {"names": names, "zoneIds": ["eun1-az1", "eun1-az2", "eun1-az3"], "id": REGION}
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0123456789abcdef0", "architecture": "x86_64", "name": "debian-12"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}
        raise AssertionError(f"unexpected invoke {args.token}")


class RecordingMonitor(MockMonitor):
    """Adds what the mocks do not see: parent, dependencies, secrets in the inputs."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            resource = self.recording.by_key[(request.type, request.name)]
            resource.urn = response.urn
            resource.parent = request.parent
            resource.dependencies = list(request.dependencies)
            resource.secret_inputs = set(_secret_paths(json_format.MessageToDict(request.object)))
            resource.additional_secret_outputs = list(request.additionalSecretOutputs)
        return response


@dataclass
class StackRun:
    resources: list[Resource]
    exports: dict[str, Any]
    calls: list[str]

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Resource:
        (found,) = [r for r in self.resources if r.name == name]
        return found


def run_stack(**overrides: Any) -> StackRun:
    """Run the program with BASE_CONFIG + overrides (short keys; None removes a key)."""
    config = {**BASE_CONFIG, **overrides}
    mocks = RecordingMocks()
    pulumi.runtime.reset_options(project="hops-cloud", stack="dev", preview=False)
    pulumi.runtime.set_mocks(
        mocks, project="hops-cloud", stack="dev", preview=False, monitor=RecordingMonitor(mocks)
    )
    pulumi.runtime.set_all_config(
        {f"hops-cloud:{k}": raw_value(v) for k, v in config.items() if v is not None}
        | {"aws:region": REGION},
        secret_keys=[f"hops-cloud:{k}" for k in SECRET_KEYS],
    )
    exports: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(CLOUD_DIR / "__main__.py"), run_name="__main__")
        outputs = pulumi.runtime.get_root_resource().outputs
        return pulumi.Output.all(**outputs).apply(exports.update)

    try:
        program()
    finally:
        pulumi.runtime.set_all_config({})
    return StackRun(resources=mocks.resources, exports=exports, calls=mocks.calls)


def run_stack_expecting_error(**overrides: Any) -> tuple[BaseException, RecordingMocks]:
    """Run the program with a bad configuration; return the error and the mocks (which
    must have recorded nothing)."""
    config = {**BASE_CONFIG, **overrides}
    mocks = RecordingMocks()
    pulumi.runtime.reset_options(project="hops-cloud", stack="dev", preview=False)
    pulumi.runtime.set_mocks(mocks, project="hops-cloud", stack="dev", preview=False)
    pulumi.runtime.set_all_config(
        {f"hops-cloud:{k}": raw_value(v) for k, v in config.items() if v is not None}
    )

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(CLOUD_DIR / "__main__.py"), run_name="__main__")

    try:
        with pytest.raises(Exception) as caught:
            program()
    finally:
        pulumi.runtime.set_all_config({})
    return caught.value, mocks


@pytest.fixture(scope="module")
def default_run() -> StackRun:
    """The default configuration: 1 head, 2 workers, SSM access."""
    return run_stack()


@pytest.fixture(scope="module")
def gpu_bastion_run() -> StackRun:
    """Bastion access, 3 heads, 2 workers, 2 GPU workers, user tags."""
    return run_stack(
        access="bastion",
        bastionAllowedCidrs=["203.0.113.0/24"],
        apiAllowedCidrs=["198.51.100.0/24", "2001:db8::/32"],
        headCount=3,
        workerCount=2,
        gpuWorkerCount=2,
        gpuWorkerInstanceType="p4d.24xlarge",
        dataVolumeSize=250,
        tags=["team=data-platform", "cost-center=4711"],
    )
