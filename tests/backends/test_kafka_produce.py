"""Records the control service writes itself (the inference log): `produce` on both Kafka
backends. The cluster one writes to a real Kafka-protocol broker (Tansu) and the record is
consumed back with confluent-kafka; a record that cannot be delivered is counted, never
raised, and never creates its topic."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from hopsworks_api.backends.kafka import embedded
from hopsworks_api.backends.kafka.cluster import ClusterKafka
from hopsworks_api.backends.kafka.embedded import EmbeddedKafka
from hopsworks_api.servings import inference_log
from tests.support.kafka_acl_fake import FakeAclAdmin
from tests.support.tansu import TansuBroker


@pytest.fixture(scope="module")
def tansu() -> Iterator[TansuBroker]:
    broker = TansuBroker().start()
    yield broker
    broker.stop()


def new_project() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def prediction(project: str, request: bytes) -> inference_log.Prediction:
    return inference_log.Prediction(
        project=project,
        serving="iris",
        model="iris",
        version=3,
        member="scientist@example.org",
        identity=f"{project}__scientist",
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        latency_s=0.0123,
        request=request,
        status=200,
        response=b'{"predictions":[1]}',
    )


def consume_one(bootstrap: str, project: str, physical: str) -> tuple[bytes, bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{project}.monitor",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 1000,  # Tansu holds a JoinGroup for about this long
            "heartbeat.interval.ms": 200,
        }
    )
    try:
        consumer.subscribe([physical])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                return message.key(), message.value()
        raise AssertionError(f"nothing consumed from {physical}")
    finally:
        consumer.close()


def test_cluster_records_reach_the_broker_and_failures_are_counted(tansu: TansuBroker) -> None:
    kafka = ClusterKafka(tansu.bootstrap_servers, request_timeout_s=1.0, acl_admin=FakeAclAdmin())
    project = new_project()
    info = kafka.create_topic(project, inference_log.TOPIC)
    entry = prediction(project, b'{"instances":[[1,2]]}')
    kafka.produce(project, inference_log.TOPIC, b"iris", inference_log.record(entry))
    assert kafka.flush(10) == 0
    assert (kafka.produce_stats.delivered, kafka.produce_stats.failed) == (1, 0)

    key, value = consume_one(tansu.bootstrap_servers, project, info.physical)
    assert key == b"iris"
    assert json.loads(value) == {
        "project": project,
        "serving": "iris",
        "model": "iris",
        "version": 3,
        "member": "scientist@example.org",
        "identity": f"{project}__scientist",
        "time": "2026-01-02T03:04:05+00:00",
        "latency_ms": 12.3,
        "request": {"instances": [[1, 2]]},
        "response": {"status": 200, "body": {"predictions": [1]}},
    }

    # a topic that is gone: nothing raised, the failure counted within the timeout, and
    # producing did not create the topic behind the quota's back
    kafka.produce(project, "gone", b"iris", b"{}")
    assert kafka.flush(10) == 0
    assert (kafka.produce_stats.delivered, kafka.produce_stats.failed) == (1, 1)
    assert not kafka.topic_exists(project, "gone")
    kafka.delete_project(project)
    assert kafka.close() == 0
    del kafka  # its clients' connections close now: Tansu waits for open ones as it stops


def test_embedded_records_are_kept_rotated_and_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka = EmbeddedKafka(tmp_path)
    kafka.produce("demo", "logs", b"k", b"no topic yet")  # counted, not raised
    assert (kafka.produce_stats.delivered, kafka.produce_stats.failed) == (0, 1)
    kafka.create_topic("demo", "logs")
    kafka.produce("demo", "logs", b"k", b"\xff binary \x00")
    monkeypatch.setattr(embedded, "RETAIN_BYTES", 1)  # every append now rotates first
    kafka.produce("demo", "logs", b"k", b"second")
    kafka.produce("demo", "logs", b"k", b"third")
    # one older segment is kept: the first record aged out with the second rotation
    assert kafka.records("demo", "logs") == [(b"k", b"second"), (b"k", b"third")]
    assert (kafka.produce_stats.delivered, kafka.produce_stats.failed) == (3, 1)
    assert kafka.flush(1) == 0

    monkeypatch.setattr(embedded, "RETAIN_BYTES", 1 << 20)
    kafka.create_topic("demo", "other")
    kafka.produce("demo", "other", b"k", b"\xff binary \x00")
    assert kafka.records("demo", "other") == [(b"k", b"\xff binary \x00")]
    assert kafka.delete_topic("demo", "logs")
    assert kafka.records("demo", "logs") == []
    kafka.delete_project("demo")
    assert kafka.records("demo", "other") == []
    assert list((tmp_path / embedded.RECORDS_DIR).iterdir()) == []


def test_a_record_keeps_small_json_and_the_head_of_anything_else() -> None:
    big = b"x" * (inference_log.MAX_BODY_BYTES + 10)
    assert inference_log.body(b'{"a": 1}') == {"a": 1}
    assert inference_log.body(b"not json") == {"truncated": False, "bytes": 8, "text": "not json"}
    head = inference_log.body(big)
    assert head["truncated"] is True and head["bytes"] == len(big)
    assert len(head["text"]) == inference_log.MAX_BODY_BYTES
    record = inference_log.record(prediction("demo", big))
    assert len(record) < 2 * inference_log.MAX_BODY_BYTES  # far below Kafka's 1 MB
