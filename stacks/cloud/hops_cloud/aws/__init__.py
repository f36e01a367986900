"""The AWS implementation of hops_cloud.provider.CloudProvider."""

from hops_cloud.aws.provider import AwsProvider

__all__ = ["AwsProvider"]
