"""The VPC: public subnets (NAT gateway, bastion, the API's load balancer) and private subnets
(every node), with routes to the internet through an internet gateway and one NAT gateway.

Nodes have no public address; they reach package mirrors and the SSM service through the NAT
gateway. One NAT gateway keeps a small cluster cheap; a zone outage then also cuts egress
for the other zones, which only matters while the playbook runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from hops_cloud.aws.firewall import Firewall, FirewallArgs


@dataclass
class NetworkArgs:
    vpc_cidr: str
    public_subnet_cidrs: Sequence[str]
    private_subnet_cidrs: Sequence[str]
    availability_zones: pulumi.Input[Sequence[str]]
    firewall: FirewallArgs
    tags: Mapping[str, str]
    """Tags for every resource (the firewall's come with its own args)."""


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    firewall: Firewall
    ready: list[pulumi.Resource]

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hops:cloud:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        zones = pulumi.Output.from_input(args.availability_zones)

        def zone(index: int) -> pulumi.Output[str]:
            return zones.apply(lambda names: names[index % len(names)])

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**tags, "Name": f"{tags['Name']}-vpc"},
            opts=child,
        )
        # Adopting the default security group with no rules closes the all-open group AWS
        # creates with every VPC; nothing here uses it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            tags={**tags, "Name": f"{tags['Name']}-default-closed"},
            opts=child,
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=tags, opts=child)

        self.public_subnets = [
            aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone(index),
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{tags['Name']}-public-{index}", "hops:tier": "public"},
                opts=child,
            )
            for index, cidr in enumerate(args.public_subnet_cidrs)
        ]
        self.private_subnets = [
            aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=zone(index),
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{tags['Name']}-private-{index}", "hops:tier": "private"},
                opts=child,
            )
            for index, cidr in enumerate(args.private_subnet_cidrs)
        ]

        public_routes = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=tags, opts=child
        )
        internet = aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        public_links = [
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}-rt",
                subnet_id=subnet.id,
                route_table_id=public_routes.id,
                opts=child,
            )
            for index, subnet in enumerate(self.public_subnets)
        ]

        nat_address = aws.ec2.Eip(f"{name}-nat-eip", domain="vpc", tags=tags, opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=nat_address.id,
            subnet_id=self.public_subnets[0].id,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        private_routes = aws.ec2.RouteTable(
            f"{name}-private-rt", vpc_id=self.vpc.id, tags=tags, opts=child
        )
        egress = aws.ec2.Route(
            f"{name}-private-default",
            route_table_id=private_routes.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=child,
        )
        private_links = [
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-rt",
                subnet_id=subnet.id,
                route_table_id=private_routes.id,
                opts=child,
            )
            for index, subnet in enumerate(self.private_subnets)
        ]

        self.firewall = Firewall(f"{name}-firewall", args.firewall, self.vpc, opts=child)
        self.ready = [internet, egress, nat, *public_links, *private_links]

        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "public_subnet_ids": [s.id for s in self.public_subnets],
                "private_subnet_ids": [s.id for s in self.private_subnets],
                "cluster_security_group_id": self.firewall.cluster.id,
            }
        )
