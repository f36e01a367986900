"""A node group: identical EC2 instances for one role (head, worker, GPU worker), spread
over the private subnets, with encrypted disks and tags that say what each one runs.

Datanodes get a second encrypted gp3 volume for HDFS blocks, declared with the instance
(`ebs_block_devices`) so that it is attached at first boot, when the user data mounts it
(hops_cloud.aws.user_data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from hops_cloud.aws.instances import VOLUME_TYPE, hardened_instance_args
from hops_cloud.aws.user_data import DATA_DEVICE, data_volume_user_data
from hops_cloud.provider import Node, NodeGroupSpec
from hops_cloud.tags import resource_tags


@dataclass
class NodeGroupArgs:
    spec: NodeGroupSpec
    image_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    key_name: pulumi.Input[str]
    instance_profile: pulumi.Input[str] | None
    stack: str
    user_tags: Mapping[str, str]


class NodeGroup(pulumi.ComponentResource):
    instances: list[aws.ec2.Instance]
    nodes: list[Node]

    def __init__(
        self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hops:cloud:NodeGroup", name, None, opts)
        spec = args.spec
        self.instances = []
        self.nodes = []
        for host in spec.hosts:
            tags = resource_tags(
                args.stack,
                spec.role,
                host.name,
                args.user_tags,
                groups=host.groups,
                taints=spec.taints,
            )
            extra: dict = {}
            if host.datanode:
                extra["ebs_block_devices"] = [
                    aws.ec2.InstanceEbsBlockDeviceArgs(
                        device_name=DATA_DEVICE,
                        volume_size=spec.data_volume_gib,
                        volume_type=VOLUME_TYPE,
                        encrypted=True,
                        delete_on_termination=True,
                        tags={**tags, "hops:volume": "hdfs-data"},
                    )
                ]
                extra["user_data"] = data_volume_user_data(spec.data_mount_point)
            instance = aws.ec2.Instance(
                f"{name}-{host.name}",
                **hardened_instance_args(
                    image_id=args.image_id,
                    instance_type=spec.instance_type,
                    subnet_id=args.subnet_ids[host.index % len(args.subnet_ids)],
                    security_group_ids=[args.security_group_id],
                    key_name=args.key_name,
                    root_volume_gib=spec.root_volume_gib,
                    tags=tags,
                    iam_instance_profile=args.instance_profile,
                ),
                **extra,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.instances.append(instance)
            self.nodes.append(
                Node(
                    host=host,
                    private_ip=instance.private_ip,
                    target_id=instance.id,
                    resource=instance,
                )
            )
        self.register_outputs({"private_ips": {n.host.name: n.private_ip for n in self.nodes}})
