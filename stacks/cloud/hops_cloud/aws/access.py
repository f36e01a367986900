"""How the operator's machine reaches the nodes, which have no public address.

- `SsmAccess`: nodes get an instance profile with AmazonSSMManagedInstanceCore; SSH runs
  inside an SSM session (AWS-StartSSHSession), so no inbound port is open to anyone and
  access is granted and audited through IAM.
- `BastionAccess`: a small instance in a public subnet accepts SSH from the configured
  networks only, and nodes accept SSH only from it (hops_cloud.aws.firewall).

Both install the stack's SSH public key on every instance (an EC2 key pair): Ansible logs
in with it either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from hops_cloud.aws.instances import hardened_instance_args
from hops_cloud.inventory import Connection

SSM_POLICY_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
BASTION_ROOT_GIB = 20

_EC2_ASSUME_ROLE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass
class SsmAccessArgs:
    user: str
    ssh_public_key: str
    tags: Mapping[str, str]


class SsmAccess(pulumi.ComponentResource):
    key_name: pulumi.Output[str]
    instance_profile: aws.iam.InstanceProfile | None
    connection: pulumi.Output[Connection]
    resources: list[pulumi.Resource]

    def __init__(
        self, name: str, args: SsmAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hops:cloud:SsmAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        key = aws.ec2.KeyPair(f"{name}-key", public_key=args.ssh_public_key, tags=tags, opts=child)
        role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=_EC2_ASSUME_ROLE,
            description="Platform nodes: registered with SSM, nothing else",
            tags=tags,
            opts=child,
        )
        attachment = aws.iam.RolePolicyAttachment(
            f"{name}-node-ssm", role=role.name, policy_arn=SSM_POLICY_ARN, opts=child
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-node-profile",
            role=role.name,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[attachment]),
        )
        self.key_name = key.key_name
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        self.connection = region.apply(
            lambda name_: Connection(kind="ssm", user=args.user, region=name_)
        )
        self.resources = [key, attachment, self.instance_profile]
        self.register_outputs({"key_name": self.key_name, "profile": self.instance_profile.name})


@dataclass
class BastionAccessArgs:
    user: str
    ssh_public_key: str
    instance_type: str
    image_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    tags: Mapping[str, str]


class BastionAccess(pulumi.ComponentResource):
    key_name: pulumi.Output[str]
    instance_profile: aws.iam.InstanceProfile | None
    bastion: aws.ec2.Instance
    connection: pulumi.Output[Connection]
    resources: list[pulumi.Resource]

    def __init__(
        self, name: str, args: BastionAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hops:cloud:BastionAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        key = aws.ec2.KeyPair(f"{name}-key", public_key=args.ssh_public_key, tags=tags, opts=child)
        self.bastion = aws.ec2.Instance(
            f"{name}-bastion",
            **hardened_instance_args(
                image_id=args.image_id,
                instance_type=args.instance_type,
                subnet_id=args.subnet_id,
                security_group_ids=[args.security_group_id],
                key_name=key.key_name,
                root_volume_gib=BASTION_ROOT_GIB,
                tags=tags,
            ),
            associate_public_ip_address=True,
            opts=child,
        )
        self.key_name = key.key_name
        self.instance_profile = None
        self.connection = self.bastion.public_ip.apply(
            lambda address: Connection(kind="bastion", user=args.user, bastion_address=address)
        )
        self.resources = [key, self.bastion]
        self.register_outputs(
            {"key_name": self.key_name, "bastion_public_ip": self.bastion.public_ip}
        )
