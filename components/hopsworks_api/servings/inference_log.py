"""The inference log: one JSON record per prediction in the project's `inferencelogs` topic.

The topic is an ordinary topic of the project (physical name `<project>.inferencelogs`),
made through `topics.service.ensure` when a serving is created and the project has none:
it counts against the project's Kafka topic quota (a full quota refuses the serving with
that 413) and is shared like any topic. Deleting it turns the log off for the project
until the next serving is created; predictions then go unlogged, never refused.

A record is written after the answer is sent (a background task), as the control service,
through the Kafka backend's `produce`, which never blocks for the broker and never raises
for it: a failed write is logged and counted (`produce_stats`) and the member has their
prediction. The log is for monitoring models (drift, inputs, outcomes), not an audit: who
predicted is in the audit chain already, so the inference log is not allowed to make a
prediction fail or wait.

Record (the key is the serving's name, so one serving's records share a partition):
``{"project", "serving", "model", "version", "member", "identity", "time", "latency_ms",
"request": BODY, "response": {"status", "body": BODY}}``, where BODY is the body as JSON
when it is JSON and at most `MAX_BODY_BYTES`, else ``{"truncated": bool, "bytes": n,
"text": the first MAX_BODY_BYTES bytes as text}``; a record therefore stays well under
Kafka's default 1 MB message limit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hopsworks_api.authz import Action
from hopsworks_api.runtime import Runtime
from hopsworks_api.topics import service as topics
from hopsworks_api.topics.models import TopicCreate
from hopsworks_api.users.models import User

log = logging.getLogger(__name__)

TOPIC = "inferencelogs"
MAX_BODY_BYTES = 64 * 1024
FLUSH_ON_STOP_S = 2.0


def ensure_topic(rt: Runtime, *, user: User, project: str) -> None:
    """The project's inference-log topic, made unless it exists (413 if the quota is full)."""
    topics.ensure(
        rt, user=user, project=project, data=TopicCreate(name=TOPIC), action=Action.SERVE_MODELS
    )


@dataclass(frozen=True)
class Prediction:
    """Who asked which serving what, and what it answered."""

    project: str
    serving: str
    model: str
    version: int
    member: str
    identity: str
    time: datetime
    latency_s: float
    request: bytes
    status: int
    response: bytes


def body(data: bytes) -> Any:
    """The body as JSON if it is JSON and small enough; otherwise its head as text."""
    if len(data) <= MAX_BODY_BYTES:
        try:
            return json.loads(data)
        except ValueError:
            pass
    return {
        "truncated": len(data) > MAX_BODY_BYTES,
        "bytes": len(data),
        "text": data[:MAX_BODY_BYTES].decode(errors="replace"),
    }


def record(p: Prediction) -> bytes:
    return json.dumps(
        {
            "project": p.project,
            "serving": p.serving,
            "model": p.model,
            "version": p.version,
            "member": p.member,
            "identity": p.identity,
            "time": p.time.isoformat(),
            "latency_ms": round(p.latency_s * 1000, 3),
            "request": body(p.request),
            "response": {"status": p.status, "body": body(p.response)},
        },
        separators=(",", ":"),
    ).encode()


def write(rt: Runtime, prediction: Prediction) -> None:
    """Hand the record to Kafka; whatever goes wrong is logged, never raised."""
    try:
        rt.backends.kafka.produce(
            prediction.project, TOPIC, prediction.serving.encode(), record(prediction)
        )
    except Exception:
        log.warning(
            "the inference log record of a prediction was not written",
            extra={"project": prediction.project, "serving": prediction.serving},
            exc_info=True,
        )
