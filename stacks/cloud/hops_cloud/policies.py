"""Policy-as-code for the stack (pulumi-policy), run by `pulumi preview --policy-pack
stacks/cloud/policy`. They check the resources as declared, whoever declared them, so a
later edit that opens SSH to the world or forgets encryption is refused before AWS sees it:

- no security-group ingress from the whole internet (0.0.0.0/0, ::/0) except TCP on the
  API's port;
- every EBS volume encrypted: standalone volumes, instance root and extra block devices,
  launch template mappings;
- every instance of a GPU family carries the Kubernetes taint tag GPU nodes get.

This module only builds the policy objects; constructing a PolicyPack starts the analyzer's
gRPC server, so that happens in policy/__main__.py. Validators read the resource inputs as
Pulumi passes them (camelCase).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy

from hops_cloud.config import GPU_INSTANCE_FAMILIES, instance_family
from hops_cloud.platform import PlatformFacts
from hops_cloud.tags import TAINT_TAG

ReportViolation = Callable[..., None]

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def _is_world(cidr: Any) -> bool:
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _ingress_entries(resource_type: str, props: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every ingress permission of a resource as {protocol, from, to, cidrs}."""
    if resource_type in (SECURITY_GROUP, DEFAULT_SECURITY_GROUP):
        for rule in props.get("ingress") or []:
            yield {
                "protocol": rule.get("protocol"),
                "from": rule.get("fromPort"),
                "to": rule.get("toPort"),
                "cidrs": [*(rule.get("cidrBlocks") or []), *(rule.get("ipv6CidrBlocks") or [])],
            }
    elif resource_type == SECURITY_GROUP_RULE and props.get("type") == "ingress":
        yield {
            "protocol": props.get("protocol"),
            "from": props.get("fromPort"),
            "to": props.get("toPort"),
            "cidrs": [*(props.get("cidrBlocks") or []), *(props.get("ipv6CidrBlocks") or [])],
        }
    elif resource_type == INGRESS_RULE:
        yield {
            "protocol": props.get("ipProtocol"),
            "from": props.get("fromPort"),
            "to": props.get("toPort"),
            "cidrs": [c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c],
        }


def _only_port(entry: Mapping[str, Any], port: int) -> bool:
    protocol = str(entry["protocol"]).lower()
    return protocol in ("tcp", "6") and entry["from"] == port and entry["to"] == port


def no_world_ingress(api_port: int) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for entry in _ingress_entries(args.resource_type, args.props):
            world = [c for c in entry["cidrs"] if _is_world(c)]
            if world and not _only_port(entry, api_port):
                report(
                    f"{args.name}: ingress from {', '.join(world)} on "
                    f"{entry['protocol']} {entry['from']}-{entry['to']}; only TCP {api_port} "
                    "(the API) may be open to the internet"
                )

    return ResourceValidationPolicy(
        name="hops-no-world-ingress",
        description="Security groups admit the internet only on the API's port.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def ebs_encrypted() -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        props = args.props
        if args.resource_type == VOLUME and not _truthy(props.get("encrypted")):
            report(f"{args.name}: EBS volume is not encrypted")
        elif args.resource_type == INSTANCE:
            root = props.get("rootBlockDevice")
            if not root or not _truthy(root.get("encrypted")):
                report(f"{args.name}: root volume does not request encryption")
            for device in props.get("ebsBlockDevices") or []:
                if not _truthy(device.get("encrypted")):
                    report(f"{args.name}: volume {device.get('deviceName')} is not encrypted")
        elif args.resource_type == LAUNCH_TEMPLATE:
            for mapping in props.get("blockDeviceMappings") or []:
                ebs = mapping.get("ebs")
                if ebs is not None and not _truthy(ebs.get("encrypted")):
                    report(f"{args.name}: {mapping.get('deviceName')} is not encrypted")

    return ResourceValidationPolicy(
        name="hops-ebs-encrypted",
        description="Every EBS volume, root or data, is encrypted.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def gpu_instances_tainted(gpu_taint: str) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != INSTANCE:
            return
        instance_type = str(args.props.get("instanceType") or "")
        if instance_family(instance_type) not in GPU_INSTANCE_FAMILIES:
            return
        taints = str((args.props.get("tags") or {}).get(TAINT_TAG, "")).split(",")
        if gpu_taint not in taints:
            report(
                f"{args.name}: GPU instance ({instance_type}) without the tag "
                f"{TAINT_TAG}={gpu_taint}; GPU nodes must only take pods that ask for GPUs"
            )

    return ResourceValidationPolicy(
        name="hops-gpu-instances-tainted",
        description="GPU instances are tagged with the Kubernetes taint GPU nodes carry.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
    )


def build_policies(facts: PlatformFacts) -> list[ResourceValidationPolicy]:
    """The stack's policies, with the API port and GPU taint read from the roles."""
    return [
        no_world_ingress(facts.api_port),
        ebs_encrypted(),
        gpu_instances_tainted(facts.gpu_taint),
    ]
