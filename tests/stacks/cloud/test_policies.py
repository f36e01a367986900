"""The policy pack (hops_cloud.policies): every policy passes every resource the program
declares, and catches a bad one. Policies are evaluated as the analyzer would call them,
with pulumi_policy's own ResourceValidationArgs over the inputs the mocks recorded (the
PolicyPack itself is not built: it would start a gRPC server)."""

from __future__ import annotations

import copy
import runpy
from collections.abc import Mapping
from typing import Any

import pulumi_policy
import pytest
import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy

from hops_cloud.platform import load_platform
from hops_cloud.policies import build_policies, ebs_encrypted, gpu_instances_tainted
from hops_cloud.policies import no_world_ingress as world_ingress_policy
from tests.stacks.cloud.conftest import CLOUD_DIR, Resource

FACTS = load_platform()
POLICIES = {p.name: p for p in build_policies(FACTS)}


def violations(policy: ResourceValidationPolicy, type_: str, props: Mapping[str, Any]) -> list:
    found: list[str] = []
    args = ResourceValidationArgs(
        resource_type=type_,
        props=props,
        urn=f"urn:pulumi:dev::hops-cloud::{type_}::test",
        name="test",
        opts=None,  # type: ignore[arg-type]
        provider=None,
    )
    result = policy.validate(args, lambda message, urn=None: found.append(message))
    assert result is None  # synchronous validators
    return found


def check_all(resources: list[Resource]) -> dict[str, list[str]]:
    return {
        f"{policy}:{r.name}": v
        for r in resources
        for policy in POLICIES
        if (v := violations(POLICIES[policy], r.type, r.inputs))
    }


def test_the_pack_has_the_three_mandatory_policies():
    assert set(POLICIES) == {
        "hops-no-world-ingress",
        "hops-ebs-encrypted",
        "hops-gpu-instances-tainted",
    }
    for policy in POLICIES.values():
        assert policy.enforcement_level == EnforcementLevel.MANDATORY


def test_the_stack_passes_every_policy(default_run, gpu_bastion_run):
    for run in (default_run, gpu_bastion_run):
        assert check_all(run.resources) == {}
    # ... and the policies did look at what they guard.
    types = {r.type for r in gpu_bastion_run.resources}
    assert "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" in types
    assert "aws:ec2/instance:Instance" in types
    world = [
        r
        for r in gpu_bastion_run.resources
        if r.inputs.get("cidrIpv4") == "0.0.0.0/0" and r.type.endswith("IngressRule")
    ]
    assert world == []  # apiAllowedCidrs narrowed in this run
    (open_api,) = [
        r
        for r in default_run.resources
        if r.inputs.get("cidrIpv4") == "0.0.0.0/0" and r.type.endswith("IngressRule")
    ]
    assert open_api.inputs["fromPort"] == FACTS.api_port  # the default: API open, allowed


def recorded(run, type_: str, predicate=lambda r: True) -> Resource:
    return copy.deepcopy(next(r for r in run.resources if r.type == type_ and predicate(r)))


def test_opening_a_recorded_rule_to_ssh_is_caught(default_run):
    rule = recorded(
        default_run,
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        lambda r: r.inputs.get("cidrIpv4") == "0.0.0.0/0",
    )
    policy = POLICIES["hops-no-world-ingress"]
    assert violations(policy, rule.type, rule.inputs) == []
    rule.inputs.update(fromPort=22, toPort=22)
    (message,) = violations(policy, rule.type, rule.inputs)
    assert "ingress from 0.0.0.0/0 on tcp 22-22" in message


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (
            "aws:ec2/securityGroup:SecurityGroup",
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            },
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 22,
                "toPort": 22,
                "ipv6CidrBlocks": ["::/0"],
            },
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrIpv4": "0.0.0.0/0"},
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "-1", "cidrIpv6": "::/0"},
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "udp", "fromPort": 8181, "toPort": 8181, "cidrIpv4": "0.0.0.0/0"},
        ),
    ],
)
def test_world_ingress_off_the_api_port_is_caught(type_, props):
    assert len(violations(world_ingress_policy(FACTS.api_port), type_, props)) == 1


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "tcp", "fromPort": 8181, "toPort": 8181, "cidrIpv4": "0.0.0.0/0"},
        ),
        (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "203.0.113.0/24"},
        ),
        (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            {"type": "egress", "protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]},
        ),
    ],
)
def test_the_api_port_and_narrow_sources_are_allowed(type_, props):
    assert violations(world_ingress_policy(FACTS.api_port), type_, props) == []


def test_unencrypting_a_recorded_data_volume_is_caught(default_run):
    worker = recorded(
        default_run, "aws:ec2/instance:Instance", lambda r: bool(r.inputs.get("ebsBlockDevices"))
    )
    policy = POLICIES["hops-ebs-encrypted"]
    assert violations(policy, worker.type, worker.inputs) == []
    worker.inputs["ebsBlockDevices"][0]["encrypted"] = False
    assert violations(policy, worker.type, worker.inputs) == [
        "test: volume /dev/sdf is not encrypted"
    ]
    del worker.inputs["rootBlockDevice"]
    assert "test: root volume does not request encryption" in violations(
        policy, worker.type, worker.inputs
    )


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        ("aws:ebs/volume:Volume", {"size": 100, "availabilityZone": "eu-north-1a"}),
        ("aws:ebs/volume:Volume", {"size": 100, "encrypted": False}),
        ("aws:ec2/instance:Instance", {"instanceType": "m6i.large"}),
        ("aws:ec2/instance:Instance", {"rootBlockDevice": {"encrypted": False}}),
        (
            "aws:ec2/launchTemplate:LaunchTemplate",
            {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50}}]},
        ),
    ],
)
def test_unencrypted_volumes_are_caught(type_, props):
    assert len(violations(ebs_encrypted(), type_, props)) == 1


def test_encrypted_volumes_pass():
    policy = ebs_encrypted()
    assert violations(policy, "aws:ebs/volume:Volume", {"size": 1, "encrypted": True}) == []
    template = {"blockDeviceMappings": [{"ebs": {"encrypted": "true"}}]}
    assert violations(policy, "aws:ec2/launchTemplate:LaunchTemplate", template) == []


def test_removing_the_taint_tag_from_a_recorded_gpu_worker_is_caught(gpu_bastion_run):
    gpu = recorded(
        gpu_bastion_run,
        "aws:ec2/instance:Instance",
        lambda r: r.inputs["tags"]["hops:role"] == "gpu-worker",
    )
    policy = POLICIES["hops-gpu-instances-tainted"]
    assert violations(policy, gpu.type, gpu.inputs) == []
    del gpu.inputs["tags"]["hops:kubernetes-taint"]
    (message,) = violations(policy, gpu.type, gpu.inputs)
    assert "GPU instance (p4d.24xlarge) without the tag hops:kubernetes-taint=" in message


@pytest.mark.parametrize(
    ("instance_type", "tags", "expected"),
    [
        ("g5.xlarge", {}, 1),
        ("p5.48xlarge", {"hops:kubernetes-taint": "dedicated=ml:NoSchedule"}, 1),
        (
            "g4dn.xlarge",
            {"hops:kubernetes-taint": "x=y:NoExecute,nvidia.com/gpu=present:NoSchedule"},
            0,
        ),
        ("m6i.xlarge", {}, 0),
    ],
)
def test_gpu_instances_need_the_taint(instance_type, tags, expected):
    props = {"instanceType": instance_type, "tags": tags}
    policy = gpu_instances_tainted(FACTS.gpu_taint)
    assert len(violations(policy, "aws:ec2/instance:Instance", props)) == expected


def test_the_policy_pack_program_builds_the_pack_from_these_policies(monkeypatch):
    """policy/__main__.py runs with a stand-in PolicyPack (the real one serves gRPC)."""
    built = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: built.update(kwargs))
    runpy.run_path(str(CLOUD_DIR / "policy" / "__main__.py"), run_name="__main__")
    assert built["name"] == "hops-cloud"
    assert [p.name for p in built["policies"]] == list(POLICIES)
    pack = yaml.safe_load((CLOUD_DIR / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    requirements = (CLOUD_DIR / "policy" / "requirements.txt").read_text()
    assert "pulumi-policy" in requirements
