"""`CloudProvider` for AWS: a VPC with a firewall, SSM or bastion access, EC2 node groups,
and a Network Load Balancer for the API (see the modules beside this one)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from hops_cloud.aws.access import BastionAccess, BastionAccessArgs, SsmAccess, SsmAccessArgs
from hops_cloud.aws.api_endpoint import ApiLoadBalancer, ApiLoadBalancerArgs
from hops_cloud.aws.firewall import FirewallArgs
from hops_cloud.aws.network import Network, NetworkArgs
from hops_cloud.aws.nodes import NodeGroup, NodeGroupArgs
from hops_cloud.provider import AccessSpec, ApiEndpointSpec, NetworkSpec, NodeGroupSpec
from hops_cloud.tags import resource_tags

DEBIAN_OWNER = "136693071363"
"""The Debian cloud team's AWS account, which publishes the official Debian AMIs."""
DEBIAN_IMAGE_NAME = "debian-12-amd64-*"
"""Debian 12 (bookworm), the release the roles target, for x86_64."""

Access = SsmAccess | BastionAccess


class AwsProvider:
    """Builds the platform on AWS in the region of the `aws:region` configuration."""

    name = "aws"

    def __init__(self, stack: str, user_tags: Mapping[str, str]) -> None:
        self.stack = stack
        self.user_tags = dict(user_tags)
        self._debian: pulumi.Output[str] | None = None

    def _tags(self, role: str, name: str) -> dict[str, str]:
        return resource_tags(self.stack, role, name, self.user_tags)

    def image(self, image_id: str = "") -> pulumi.Input[str]:
        """`image_id` if given, else the newest official Debian 12 AMI (looked up once)."""
        if image_id:
            return image_id
        if self._debian is None:
            self._debian = aws.ec2.get_ami_output(
                most_recent=True,
                owners=[DEBIAN_OWNER],
                filters=[
                    aws.ec2.GetAmiFilterArgs(name="name", values=[DEBIAN_IMAGE_NAME]),
                    aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
                    aws.ec2.GetAmiFilterArgs(name="virtualization-type", values=["hvm"]),
                ],
            ).id
        return self._debian

    def create_network(self, name: str, spec: NetworkSpec) -> Network:
        zones: pulumi.Input[list[str]]
        if spec.availability_zones:
            zones = list(spec.availability_zones)
        else:
            zones = aws.get_availability_zones_output(state="available").names
        return Network(
            name,
            NetworkArgs(
                vpc_cidr=spec.vpc_cidr,
                public_subnet_cidrs=spec.public_subnet_cidrs,
                private_subnet_cidrs=spec.private_subnet_cidrs,
                availability_zones=zones,
                firewall=FirewallArgs(
                    cluster_ports=spec.cluster_ports,
                    api_port=spec.api_port,
                    api_allowed_cidrs=spec.api_allowed_cidrs,
                    bastion=spec.access == "bastion",
                    bastion_allowed_cidrs=spec.bastion_allowed_cidrs,
                    tags=self._tags("firewall", "sg"),
                ),
                tags=self._tags("network", "net"),
            ),
        )

    def create_access(self, name: str, spec: AccessSpec, network: Network) -> Access:
        if spec.kind == "ssm":
            return SsmAccess(
                name,
                SsmAccessArgs(
                    user=spec.user,
                    ssh_public_key=spec.ssh_public_key,
                    tags=self._tags("access", "ssm"),
                ),
            )
        assert network.firewall.bastion is not None
        return BastionAccess(
            name,
            BastionAccessArgs(
                user=spec.user,
                ssh_public_key=spec.ssh_public_key,
                instance_type=spec.bastion_instance_type,
                image_id=self.image(spec.image_id),
                subnet_id=network.public_subnets[0].id,
                security_group_id=network.firewall.bastion.id,
                tags=self._tags("bastion", "bastion"),
            ),
        )

    def create_node_group(
        self, name: str, spec: NodeGroupSpec, network: Network, access: Access
    ) -> NodeGroup:
        profile = access.instance_profile.name if access.instance_profile else None
        return NodeGroup(
            name,
            NodeGroupArgs(
                spec=spec,
                image_id=self.image(spec.image_id),
                subnet_ids=[s.id for s in network.private_subnets],
                security_group_id=network.firewall.cluster.id,
                key_name=access.key_name,
                instance_profile=profile,
                stack=self.stack,
                user_tags=self.user_tags,
            ),
        )

    def create_api_endpoint(
        self, name: str, spec: ApiEndpointSpec, network: Network
    ) -> ApiLoadBalancer:
        return ApiLoadBalancer(
            name,
            ApiLoadBalancerArgs(
                port=spec.port,
                nodes=spec.nodes,
                vpc_id=network.vpc.id,
                subnet_ids=[s.id for s in network.public_subnets],
                security_group_id=network.firewall.api.id,
                tags=self._tags("api", "api"),
            ),
        )
