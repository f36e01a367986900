"""The Kafka backend: topics owned by projects and ACLs for their members' principals.

`NoKafka` is the embedded default (no broker; state in a JSON file); `ClusterKafka` talks
to a real cluster through confluent-kafka's AdminClient. Both follow `KafkaBackend`.
"""

from hopsworks_api.backends.kafka.base import (
    AclEntry,
    KafkaBackend,
    TopicInfo,
    TopicShare,
    expected_acls,
    member_acls,
    physical_topic,
    principal,
    share_acls,
)
from hopsworks_api.backends.kafka.local import NoKafka

__all__ = [
    "AclEntry",
    "KafkaBackend",
    "NoKafka",
    "TopicInfo",
    "TopicShare",
    "expected_acls",
    "member_acls",
    "physical_topic",
    "principal",
    "share_acls",
]
