"""Prometheus metrics of one server process: HTTP requests and latency, predictions, cache, log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServingMetrics:
    """The metric objects, in a registry of their own (one per app, so apps do not collide)."""

    def __init__(self) -> None:
        disable_created_metrics()  # the *_created series only add noise for scrapers
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("statops_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("statops_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.predictions = Counter("statops_predictions", "Records predicted, by model version and decision",
                                   ["model", "version", "decision"], registry=self.registry)

    def add_state(self, collect: Callable[[], Iterator[Any]]) -> None:
        """Metrics read at scrape time from live state (log backlog, loaded models)."""
        self.registry.register(_StateCollector(collect))


class _StateCollector(Collector):
    def __init__(self, collect: Callable[[], Iterator[Any]]):
        self._collect = collect

    def collect(self) -> Iterator[Any]:
        yield from self._collect()

    def describe(self) -> list[Any]:
        return []


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class MetricsMiddleware:
    """Counts every request and times it, labelled by route template (not the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - started)


class BodySizeLimit:
    """Refuses bodies over `max_bytes` with 413: by their declared size, or while reading a chunked one.

    Only requests of methods that carry a body: no GET, HEAD or OPTIONS route reads one.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in BODILESS_METHODS:
            await self.app(scope, receive, send)
            return
        from statops.serving.problems import problem_response

        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
                break
        if declared is not None:
            if declared > self.max_bytes:
                response = problem_response(413, self._message(), scope["path"])
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No declared size (a chunked body): read it here, up to the limit, then hand it on.
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                response = problem_response(413, self._message(), scope["path"])
                await response(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes:,} bytes"
