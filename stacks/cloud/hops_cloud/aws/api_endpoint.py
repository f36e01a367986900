"""Publishes the control service: an internet-facing Network Load Balancer in the public
subnets passes TCP on the API port through to the hopsworks_api hosts in the private
subnets. TLS stays end to end: the service presents its platform-CA certificate, which the
playbook issues for the load balancer's DNS name too (hops_cloud.program), so clients verify
it with the exported CA chain.

The load balancer has its own security group (hops_cloud.aws.firewall): it is the only
thing that accepts traffic from `apiAllowedCidrs`, and nodes accept the API port only from
it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from hops_cloud.provider import Node


@dataclass
class ApiLoadBalancerArgs:
    port: int
    nodes: Sequence[Node]
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    tags: Mapping[str, str]


class ApiLoadBalancer(pulumi.ComponentResource):
    load_balancer: aws.lb.LoadBalancer
    address: pulumi.Output[str]

    def __init__(
        self, name: str, args: ApiLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hops:cloud:ApiEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-nlb",
            load_balancer_type="network",
            internal=False,
            subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id],
            enable_cross_zone_load_balancing=True,
            tags=tags,
            opts=child,
        )
        targets = aws.lb.TargetGroup(
            f"{name}-tg",
            port=args.port,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                protocol="TCP", port=str(args.port), interval=10
            ),
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=self.load_balancer.arn,
            port=args.port,
            protocol="TCP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=targets.arn)
            ],
            tags=tags,
            opts=child,
        )
        for node in args.nodes:
            aws.lb.TargetGroupAttachment(
                f"{name}-{node.host.name}",
                target_group_arn=targets.arn,
                target_id=node.target_id,
                port=args.port,
                opts=child,
            )
        self.address = self.load_balancer.dns_name
        self.register_outputs({"address": self.address})
