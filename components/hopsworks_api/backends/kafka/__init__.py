"""The Kafka backend: topics owned by projects and ACLs for their members' principals.

`EmbeddedKafka` (`embedded`) is the default (no broker; state in JSON files); `ClusterKafka`
(`cluster`) talks to a real cluster through confluent-kafka's AdminClient. Both follow
`KafkaBackend`; the package exports the contract only.
"""

from hopsworks_api.backends.kafka.base import (
    AclEntry,
    KafkaBackend,
    ProduceStats,
    TopicInfo,
    TopicShare,
    expected_acls,
    member_acls,
    physical_topic,
    principal,
    share_acls,
)

__all__ = [
    "AclEntry",
    "KafkaBackend",
    "ProduceStats",
    "TopicInfo",
    "TopicShare",
    "expected_acls",
    "member_acls",
    "physical_topic",
    "principal",
    "share_acls",
]
