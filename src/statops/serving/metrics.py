"""What one server process measures and bounds: Prometheus metrics (HTTP requests and latency,
predictions, cache, log, connections), the request body's size and read time, and the connection
limits that uvicorn's HTTP protocol is held to (read deadlines, a cap on open connections)."""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


SIGNAL_STATUS_VALUES = {"not enough data": -1, "ok": 0, "warn": 1, "alert": 2}


def monitoring_metrics(snapshot: Mapping[str, Any] | None, runs: Mapping[str, int]) -> Iterator[Any]:
    """The last scheduled monitoring run's signal values, statuses and open alerts as gauges (whichever
    process ran it: they come from the store), and the runs this process did."""
    ran = CounterMetricFamily("statops_monitor_runs", "Scheduled monitoring runs this process did, by outcome",
                              labels=["outcome"])
    for outcome, count in sorted(runs.items()):
        ran.add_metric([outcome], count)
    yield ran
    if not snapshot or not snapshot.get("finished_at"):
        return
    yield gauge("statops_monitor_last_run_timestamp_seconds", "When the last scheduled monitoring run ended",
                datetime.fromisoformat(snapshot["finished_at"]).timestamp())
    yield gauge("statops_monitor_last_run_duration_seconds", "How long the last scheduled monitoring run took",
                float(snapshot.get("duration_seconds") or 0.0))
    labels = ["model", "version", "signal"]
    values = GaugeMetricFamily("statops_monitor_signal", "A monitoring signal's value in its model version's latest "
                               "window (docs/monitoring.md)", labels=labels)
    statuses = GaugeMetricFamily("statops_monitor_signal_status", "A monitoring signal's status: -1 not enough data, "
                                 "0 ok, 1 warn, 2 alert", labels=labels)
    records = GaugeMetricFamily("statops_monitor_window_records", "Predictions in the latest monitoring window",
                                labels=["model", "version"])
    alerts = GaugeMetricFamily("statops_monitor_alert", "1 for each open monitoring alert", labels=labels)
    failed = GaugeMetricFamily("statops_monitor_model_failed", "1 when a model could not be monitored in the "
                               "last run (no reference, registry unreachable...)", labels=["model"])
    for entry in snapshot.get("models", []):
        model, version = str(entry["model"]), str(entry.get("version") or "")
        failed.add_metric([model], 1.0 if entry.get("error") else 0.0)
        if entry.get("error"):
            continue
        records.add_metric([model, version], float(entry.get("records") or 0))
        for signal in entry.get("signals", []):
            statuses.add_metric([model, version, signal["name"]], SIGNAL_STATUS_VALUES.get(signal["status"], -1))
            if signal.get("value") is not None:
                values.add_metric([model, version, signal["name"]], float(signal["value"]))
        for alert in entry.get("open_alerts", []):
            alerts.add_metric([model, str(alert["version"]), alert["signal"]], 1.0)
    yield from (values, statuses, records, alerts, failed)


class MetricsMiddleware:
    """Counts every request and times it, labelled by route template (not the raw path).

    A request cancelled by the server's stop (uvicorn cancels what is still running when the
    graceful stop time is over) is answered 503 here, with no traceback in the log.
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        responding = False

        async def send_status(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status = message["status"]
                responding = True
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if not responding:
                from statops.serving.problems import problem_response

                response = problem_response(503, "the server is stopping; this request was not answered",
                                            scope["path"], headers={"Retry-After": "1", "Connection": "close"})
                await response(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - started)


class RequestBodyGuard:
    """413 for a body over `max_bytes` (by its declared size, or while reading one of undeclared
    size), 408 for one that has not all arrived `timeout` seconds after the headers.

    Only requests of methods that carry a body: no GET, HEAD or OPTIONS route reads one. A body
    that LimitedHttpToolsProtocol has seen arrive whole goes to the app as it is (no timer, no
    copy); any other is read here, under the deadline, and handed on.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

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
        if declared is not None and declared > self.max_bytes:
            await problem_response(413, self._too_large(), scope["path"])(scope, receive, send)
            return
        if declared is not None and scope.get(BODY_COMPLETE):
            await self.app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            detail = (f"the request body did not arrive within {self.timeout:g} s of its headers "
                      "(STATOPS_SERVE_BODY_TIMEOUT_SECONDS)")
            await problem_response(408, detail, scope["path"], headers={"Connection": "close"})(scope, receive, send)
            return
        if body is None:
            return  # the client went away
        if len(body) > self.max_bytes:
            await problem_response(413, self._too_large(), scope["path"])(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body (reading stops just past the limit); None if the client disconnected."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            seen += len(chunk)
            if seen > self.max_bytes or not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes:,} bytes"


# -- connections ---------------------------------------------------------------------------------

LIMITS_STATE = "statops.connection_limits"  # where the app's lifespan state hands the limits to the protocol
BODY_COMPLETE = "statops.body_complete"  # set in a request's scope by the protocol once its body is all in
PROTOCOL = "statops.serving.metrics:LimitedHttpToolsProtocol"  # uvicorn's `http` option
FILES_RESERVE = 128  # open files kept for the store, models and libraries beyond the connections


class ConnectionLimits:
    """The limits of one server process, and how often each closed a connection (for /metrics)."""

    def __init__(self, max_connections: int, header_timeout: float, body_timeout: float):
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        fits = max_connections if soft == resource.RLIM_INFINITY else max(16, soft - FILES_RESERVE)
        self.max_connections = min(max_connections, fits)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.open = 0
        self.closed: Tally[str] = Tally({reason: 0 for reason in ("header_timeout", "body_timeout",
                                                                   "idle_at_cap", "refused_at_cap")})


def raise_open_files_limit(max_connections: int) -> int:
    """Raise this process's soft open-files limit (up to the hard one) so that `max_connections`
    connections fit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FILES_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


_HEADERS, _BODY = "header_timeout", "body_timeout"


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol held to read deadlines and a connection cap.

    uvicorn arms no timer on a new connection until its first response, nor while a request's
    headers or body trickle in; this one closes a connection whose headers are not complete
    `header_timeout` after it opened (or after its first byte, on keep-alive), and one whose body
    has not arrived `body_timeout` (+1 s: RequestBodyGuard answers 408 first) after its headers.
    Beyond the cap a new connection closes the longest-idle one (no request in progress), or is
    closed itself when every connection is busy. The limits come from the app's lifespan state;
    without them this is uvicorn's protocol as it is. The timers are set only when a read stops
    part-way, so a request that arrives whole costs nothing more.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.limits: ConnectionLimits | None = self.app_state.get(LIMITS_STATE)
        self.reading: str | None = _HEADERS  # what the parser is part-way through
        self.read_timer: asyncio.TimerHandle | None = None
        self.timing: str | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        if limits is None:
            return
        self.idle_since = self.loop.time()
        if len(self.connections) > limits.max_connections and not self._make_room():
            limits.closed["refused_at_cap"] += 1
            self.reading = "lost"  # never counted as open
            transport.close()
            return
        limits.open += 1
        self._time_read()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.limits is not None and self.reading != "lost":
            self.limits.open -= 1
            self.reading = "lost"
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.limits is not None and self.timing != self.reading and self.reading != "lost":
            self._time_read()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading = _HEADERS

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.reading = _BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading = None
        self.scope[BODY_COMPLETE] = True  # type: ignore[literal-required]

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.idle_since = self.loop.time()

    def _time_read(self) -> None:
        """Arm the deadline of what is being read (kept, not extended, while the same part trickles)."""
        assert self.limits is not None
        self._stop_timer()
        self.timing = self.reading
        if self.reading == _HEADERS:
            self.read_timer = self.loop.call_later(self.limits.header_timeout, self._timed_out, _HEADERS)
        elif self.reading == _BODY:
            self.read_timer = self.loop.call_later(self.limits.body_timeout + 1, self._timed_out, _BODY)

    def _stop_timer(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None
        self.timing = None

    def _timed_out(self, reason: str) -> None:
        self.read_timer = None
        if self.limits is not None and not self.transport.is_closing():
            self.limits.closed[reason] += 1
            self.transport.close()

    def _idle(self) -> bool:
        return (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing()

    def _make_room(self) -> bool:
        """Close the connection idle longest (one that never sent a request first); False if none is idle."""
        victim: LimitedHttpToolsProtocol | None = None
        for other in self.connections:
            if other is self or not isinstance(other, LimitedHttpToolsProtocol) or not other._idle():
                continue
            if victim is None or ((other.cycle is not None, other.idle_since)
                                  < (victim.cycle is not None, victim.idle_since)):
                victim = other
        if victim is None:
            return False
        assert self.limits is not None
        self.limits.closed["idle_at_cap"] += 1
        victim.transport.close()
        return True
