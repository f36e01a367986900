"""Who may talk to whom, in one place: the security groups and every rule.

- `cluster` (every node): each platform port, only from members of `cluster` itself; the
  API port from the load balancer's group; SSH only from the bastion's group (no SSH rule at
  all with SSM, whose sessions arrive over the agent's outbound connection).
- `api` (the load balancer): the API port from `api_allowed_cidrs`, the only rule that
  admits the internet; it forwards to `cluster` on that port and nowhere else.
- `bastion`: SSH from `bastion_allowed_cidrs` (never 0.0.0.0/0), onward only SSH to nodes.

Rules are separate `aws.vpc.SecurityGroup{Ingress,Egress}Rule` resources (one per port and
source), which AWS and the policy pack can both reason about one by one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from hops_cloud.platform import PlatformPort

SSH_PORT = 22


@dataclass
class FirewallArgs:
    cluster_ports: Sequence[PlatformPort]
    api_port: int
    api_allowed_cidrs: Sequence[str]
    bastion: bool
    bastion_allowed_cidrs: Sequence[str]
    tags: Mapping[str, str]


def _cidr_args(cidr: str) -> dict[str, str]:
    version = ipaddress.ip_network(cidr).version
    return {"cidr_ipv4": cidr} if version == 4 else {"cidr_ipv6": cidr}


class Firewall(pulumi.ComponentResource):
    cluster: aws.ec2.SecurityGroup
    api: aws.ec2.SecurityGroup
    bastion: aws.ec2.SecurityGroup | None

    def __init__(
        self,
        name: str,
        args: FirewallArgs,
        vpc: aws.ec2.Vpc,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("hops:cloud:Firewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        def group(suffix: str, description: str) -> aws.ec2.SecurityGroup:
            return aws.ec2.SecurityGroup(
                f"{name}-{suffix}",
                vpc_id=vpc.id,
                description=description,
                tags={**tags, "Name": f"{tags['Name']}-{suffix}"},
                opts=child,
            )

        def ingress(rule: str, target: aws.ec2.SecurityGroup, **kwargs) -> None:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{rule}", security_group_id=target.id, tags=tags, opts=child, **kwargs
            )

        def egress(rule: str, source: aws.ec2.SecurityGroup, **kwargs) -> None:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-{rule}", security_group_id=source.id, tags=tags, opts=child, **kwargs
            )

        self.cluster = group("cluster", "Platform hosts: platform ports between members only")
        for port in args.cluster_ports:
            ingress(
                f"cluster-{port.protocol}-{port.port}",
                self.cluster,
                ip_protocol=port.protocol,
                from_port=port.port,
                to_port=port.to_port,
                referenced_security_group_id=self.cluster.id,
                description=port.description[:255],
            )
        # Package mirrors, Apache/NVIDIA/Kubernetes downloads and the SSM endpoints, via NAT.
        egress(
            "cluster-egress",
            self.cluster,
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            description="Nodes reach package mirrors and AWS APIs through the NAT gateway",
        )

        self.api = group("api", "The control service load balancer: the API port only")
        for index, cidr in enumerate(args.api_allowed_cidrs):
            ingress(
                f"api-from-{index}",
                self.api,
                ip_protocol="tcp",
                from_port=args.api_port,
                to_port=args.api_port,
                description=f"hopsworks_api_port from {cidr}",
                **_cidr_args(cidr),
            )
        egress(
            "api-to-cluster",
            self.api,
            ip_protocol="tcp",
            from_port=args.api_port,
            to_port=args.api_port,
            referenced_security_group_id=self.cluster.id,
            description="Forward to the control service",
        )
        ingress(
            "cluster-api-from-lb",
            self.cluster,
            ip_protocol="tcp",
            from_port=args.api_port,
            to_port=args.api_port,
            referenced_security_group_id=self.api.id,
            description="hopsworks_api_port from the load balancer",
        )

        self.bastion = None
        if args.bastion:
            self.bastion = group("bastion", "SSH bastion: SSH from the operator networks")
            for index, cidr in enumerate(args.bastion_allowed_cidrs):
                ingress(
                    f"bastion-ssh-from-{index}",
                    self.bastion,
                    ip_protocol="tcp",
                    from_port=SSH_PORT,
                    to_port=SSH_PORT,
                    description=f"SSH from {cidr}",
                    **_cidr_args(cidr),
                )
            egress(
                "bastion-ssh-to-cluster",
                self.bastion,
                ip_protocol="tcp",
                from_port=SSH_PORT,
                to_port=SSH_PORT,
                referenced_security_group_id=self.cluster.id,
                description="Jump to the nodes",
            )
            ingress(
                "cluster-ssh-from-bastion",
                self.cluster,
                ip_protocol="tcp",
                from_port=SSH_PORT,
                to_port=SSH_PORT,
                referenced_security_group_id=self.bastion.id,
                description="SSH from the bastion only",
            )

        outputs = {"cluster_id": self.cluster.id, "api_id": self.api.id}
        if self.bastion is not None:
            outputs["bastion_id"] = self.bastion.id
        self.register_outputs(outputs)
