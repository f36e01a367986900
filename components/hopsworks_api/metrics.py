"""Prometheus metrics at /metrics: request counts and latencies per route and status, and
the records the service wrote to Kafka itself (the inference log) by outcome.

The registry belongs to the app (not the process-global default), so several apps in one
process (tests) do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hopsworks_api.asgi import StatusCapture
from hopsworks_api.backends.kafka.base import ProduceStats


class _KafkaRecords(Collector):
    """Read at each scrape from the Kafka backend's own counts."""

    def __init__(self, stats: ProduceStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "hops_kafka_records_produced",
            "Records the service wrote to Kafka (the inference log), by outcome",
            labels=["outcome"],
        )
        family.add_metric(["delivered"], self.stats.delivered)
        family.add_metric(["failed"], self.stats.failed)
        yield family


class Metrics:
    def __init__(self, kafka_records: ProduceStats | None = None) -> None:
        self.registry = CollectorRegistry()
        if kafka_records is not None:
            self.registry.register(_KafkaRecords(kafka_records))
        self.requests = Counter(
            "hops_http_requests",
            "HTTP requests served",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hops_http_request_seconds",
            "Time to the end of the response",
            ["route", "method"],
            registry=self.registry,
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics":
            await self.metrics.render()(scope, receive, send)
            return
        start = time.perf_counter()
        capture = StatusCapture(send)
        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "name", None) or "unmatched"
            self.metrics.requests.labels(route, scope["method"], str(capture.status)).inc()
            self.metrics.latency.labels(route, scope["method"]).observe(time.perf_counter() - start)
