"""Prometheus metrics at /metrics: request counts and latencies per route and status.

The registry belongs to the app (not the process-global default), so several apps in one
process (tests) do not collide.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hopsworks_api.asgi import StatusCapture


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
