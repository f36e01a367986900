"""Settings every EC2 instance of the stack shares, so that none can be created without
them: encrypted gp3 root volume, IMDSv2 only (no token-less metadata reads from a
compromised process), and the stack's tags on the instance and its volumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

VOLUME_TYPE = "gp3"


def hardened_instance_args(
    *,
    image_id: pulumi.Input[str],
    instance_type: str,
    subnet_id: pulumi.Input[str],
    security_group_ids: Sequence[pulumi.Input[str]],
    key_name: pulumi.Input[str],
    root_volume_gib: int,
    tags: Mapping[str, str],
    iam_instance_profile: pulumi.Input[str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for `aws.ec2.Instance`."""
    args: dict[str, Any] = {
        "ami": image_id,
        "instance_type": instance_type,
        "subnet_id": subnet_id,
        "vpc_security_group_ids": list(security_group_ids),
        "key_name": key_name,
        "root_block_device": aws.ec2.InstanceRootBlockDeviceArgs(
            volume_size=root_volume_gib,
            volume_type=VOLUME_TYPE,
            encrypted=True,
            delete_on_termination=True,
            tags=dict(tags),
        ),
        "metadata_options": aws.ec2.InstanceMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        "tags": dict(tags),
    }
    if iam_instance_profile is not None:
        args["iam_instance_profile"] = iam_instance_profile
    return args
