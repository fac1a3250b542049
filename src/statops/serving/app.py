"""The FastAPI application: `create_app(settings)` for `statops serve`, tests and other ASGI servers."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client.core import CounterMetricFamily

from statops import __version__
from statops.monitoring.schedule import MonitorScheduler
from statops.pipelines import retrain_scheduler
from statops.scoring.batching import Batcher
from statops.scoring.cache import ModelCache
from statops.scoring.prediction_log import PredictionLogWriter
from statops.serving.auth import TokenAuthentication, TokenCache
from statops.serving.metrics import (
    LIMITS_STATE,
    ConnectionLimits,
    MetricsMiddleware,
    RequestBodyGuard,
    ServingMetrics,
    counter,
    gauge,
    monitoring_metrics,
)
from statops.serving.problems import PROBLEM_JSON, install_problem_handlers
from statops.settings import Settings, load_settings
from statops.workspace import Workspace

log = logging.getLogger("statops.serving")

DESCRIPTION = """\
Online auto-coding with every registered statops model. A prediction returns the code, its title,
a calibrated confidence, the decision (`auto`: confident enough to code automatically; `review`:
send to a clerical coder) and the five most likely codes. Every prediction is written to the
prediction log under the `id` it is returned with.

An answer is sent once its predictions are committed to the log: when the log's store is slow or
locked for longer than the configured wait, the request gets 503 (with `Retry-After`) instead.

Every /v1 route (and /metrics, unless the server makes it public) needs an API token
(`statops tokens create`), sent as `Authorization: Bearer <token>`: 401 without a valid one, 403 when
its user's role may not take the route's action. Each prediction records who asked.

Errors are `application/problem+json` (RFC 9457). Records per request and body size are limited
(413 beyond them); a body that does not arrive in time is a 408.
"""


@dataclass
class Runtime:
    """What one server process holds: the workspace, model cache, batcher, prediction log, metrics."""

    settings: Settings
    ws: Workspace
    cache: ModelCache
    batcher: Batcher
    prediction_log: PredictionLogWriter
    metrics: ServingMetrics
    limits: ConnectionLimits
    tokens: TokenCache
    preload: dict[str, str] = field(default_factory=dict)  # route -> 'loading' | 'loaded' | error
    monitoring: MonitorScheduler | None = None  # the scheduled monitoring run (STATOPS_MONITOR_SCHEDULE_SECONDS)
    retraining: MonitorScheduler | None = None  # the scheduled retraining (STATOPS_RETRAIN_SCHEDULE_SECONDS)

    def preload_models(self) -> None:
        """Make MLflow's aliases agree with the lifecycle states in the store (finishing a change a
        crash interrupted), then load the models named in settings and ready their review queues (in the
        background; /readyz waits for them)."""
        from statops.registry.states import mirror_all_states
        from statops.registry.versions import parse_model_ref
        from statops.review.warmup import warm_up as warm_up_review

        try:
            mirror_all_states(self.ws)
        except Exception as exc:
            log.error("could not check MLflow's aliases against the lifecycle states: %s", exc)

        for ref in self.settings.serve_preload:
            try:
                parsed = parse_model_ref(ref)
                self.cache.get(parsed)
            except Exception as exc:
                self.preload[ref] = f"failed: {exc}"
                log.error("preloading %s failed: %s", ref, exc)
                continue
            try:  # its coders' first requests then wait for neither the log nor the classification
                warm_up_review(self.ws, parsed[0])
            except Exception as exc:
                log.warning("readying the review queue of %s failed (coders' first requests will): %s", ref, exc)
            self.preload[ref] = "loaded"

    def state_metrics(self) -> Iterator[Any]:
        writer = self.prediction_log
        yield gauge("statops_prediction_log_backlog_rows", "Predictions waiting for their log commit",
                    writer.backlog)
        yield gauge("statops_prediction_log_lag_seconds", "How long the oldest uncommitted rows have waited",
                    writer.lag_seconds)
        yield counter("statops_prediction_log_written_rows", "Predictions written to the log",
                      writer.written_rows)
        yield counter("statops_prediction_log_commits", "Prediction-log transactions (shared by requests)",
                      writer.commits)
        yield counter("statops_prediction_log_write_failures", "Failed prediction-log writes (retried)",
                      writer.failed_writes)
        yield counter("statops_prediction_log_refusals", "Requests answered 503: the log did not commit in time",
                      writer.refusals)
        yield gauge("statops_http_connections", "Open HTTP connections", self.limits.open)
        yield gauge("statops_http_connections_max", "The cap on open HTTP connections", self.limits.max_connections)
        closed = CounterMetricFamily("statops_http_connections_closed", "Connections the server closed, by reason",
                                     labels=["reason"])
        for reason, count in sorted(self.limits.closed.items()):
            closed.add_metric([reason], count)
        yield closed
        yield gauge("statops_models_loaded", "Model versions in memory", len(self.cache.loaded_versions()))
        yield counter("statops_model_loads", "Model versions loaded", self.cache.loads)
        yield counter("statops_model_load_failures", "Model versions that failed to load",
                      self.cache.load_failures)
        calls = CounterMetricFamily("statops_model_calls", "Model calls; concurrent requests share one",
                                    labels=["model", "version"])
        for (name, version), count in list(self.batcher.calls.items()):
            calls.add_metric([name, version], count)
        yield calls
        yield counter("statops_model_evictions", "Model versions dropped from memory (LRU)",
                      self.cache.evictions)
        yield counter("statops_model_refresh_errors", "Failed re-resolutions of aliases (registry unreachable)",
                      self.cache.refresh_errors)
        yield counter("statops_api_token_lookups", "API tokens looked up in the store (answers are cached)",
                      self.tokens.lookups)
        if self.monitoring is not None:
            yield from monitoring_metrics(self.monitoring.snapshot(), self.monitoring.runs)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for the workspace in `settings` (default: from STATOPS_* and statops.toml)."""
    settings = settings or load_settings()
    metrics = ServingMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        ws = open_workspace(settings)
        cache = ModelCache(ws, settings.serve_model_cache_size, settings.serve_refresh_seconds)
        writer = PredictionLogWriter(ws.store, batch_rows=settings.log_batch_rows,
                                     queue_rows=settings.log_queue_rows,
                                     wait_seconds=settings.log_wait_seconds).start()
        batcher = Batcher(settings.serve_batch_max_records, settings.serve_batch_wait_ms / 1000)
        limits = ConnectionLimits(settings.serve_max_connections, settings.serve_header_timeout_seconds,
                                  settings.serve_body_timeout_seconds)
        runtime = Runtime(settings, ws, cache, batcher, writer, metrics, limits, TokenCache(ws),
                          {ref: "loading" for ref in settings.serve_preload},
                          MonitorScheduler(ws, settings.monitor_schedule_seconds), retrain_scheduler(ws))
        metrics.add_state(runtime.state_metrics)
        app.state.runtime = runtime
        cache.start()
        gc.freeze()  # what start-up built lives as long as the process: keep it out of collections
        threading.Thread(target=runtime.preload_models, name="statops-preload", daemon=True).start()
        assert runtime.monitoring is not None and runtime.retraining is not None
        runtime.monitoring.start()
        runtime.retraining.start()  # no thread unless a retraining schedule is set
        log.info("serving the models of %s", ws.home)
        try:
            yield {LIMITS_STATE: limits}  # uvicorn hands the lifespan state to LimitedHttpToolsProtocol
        finally:
            runtime.monitoring.stop(0.5)  # a run under way stops at its next model; its lease frees the row
            runtime.retraining.stop(0.5)
            unwritten = writer.close(shutdown_budget(settings)[1])
            if unwritten:
                log.error("shutdown: %d predictions of unanswered requests could not be written to the log",
                          unwritten)
            else:
                log.info("shutdown: prediction log flushed (%d rows written)", writer.written_rows)
            # A refresh that is loading a model may take long: the stop does not wait for it.
            stopping = threading.Thread(target=cache.stop, name="statops-cache-stop", daemon=True)
            stopping.start()
            stopping.join(0.5)
            ws.close()

    app = FastAPI(
        title="statops API", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None,
        openapi_tags=[{"name": "models", "description": "Registered models and online prediction"},
                      {"name": "governance", "description": "Quality gates, four-eyes approval, promotion, "
                       "rollback, retirement and production history"},
                      {"name": "monitoring", "description": "Monitoring signals and alerts, and true codes "
                       "(feedback) for predictions"},
                      {"name": "review", "description": "The clerical review queue: the next item for a coder, "
                       "their answers, and the queue's progress"},
                      {"name": "operations", "description": "Health, readiness and metrics"}],
    )
    app.state.settings = settings
    install_problem_handlers(app)
    _install_docs(app)
    _install_openapi(app)

    from statops.serving.governance_routes import governance
    from statops.serving.monitoring_routes import monitoring
    from statops.serving.review_routes import review
    from statops.serving.routes import operations, v1
    from statops.web import install_web

    app.include_router(v1)
    app.include_router(governance)
    app.include_router(monitoring)
    app.include_router(review)
    app.include_router(operations)
    install_web(app)
    # Outermost first: metrics see every request, including ones refused for their size or time; the
    # token is checked before the body is read.
    app.add_middleware(RequestBodyGuard, max_bytes=settings.serve_max_body_bytes,
                       timeout=settings.serve_body_timeout_seconds)
    app.add_middleware(TokenAuthentication, metrics_public=settings.serve_metrics_public)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def shutdown_budget(settings: Settings) -> tuple[float, float]:
    """How STATOPS_SERVE_SHUTDOWN_SECONDS is shared on a graceful stop: (requests in progress, the
    prediction log's last commit). The log's part is a quarter, at most 2 s: with group commit, only
    the rows of requests not yet answered can still wait."""
    total = settings.serve_shutdown_seconds
    log_part = min(2.0, total / 4)
    return total - log_part, log_part


def open_workspace(settings: Settings) -> Workspace:
    """The workspace the server serves; a missing or outdated one stops start-up with the fix."""
    return Workspace.open(settings.home, **settings.model_dump(exclude={"home"}))


def _install_openapi(app: FastAPI) -> None:
    """The OpenAPI document as FastAPI builds it, made exact: errors are application/problem+json
    only, and no route lists FastAPI's default 422 schema (the routes that can answer 422 say so)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        if app.state.settings.serve_metrics_public:  # then /metrics needs no token
            metrics = document["paths"]["/metrics"]["get"]
            metrics.pop("security", None)
            for status in ("401", "503"):
                metrics["responses"].pop(status, None)
        for path in document.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                for status, response in list(responses.items()):
                    content = response.get("content", {})
                    if _refers_to(content, "HTTPValidationError"):
                        del responses[status]
                    elif status[0] in "45" and PROBLEM_JSON in content:
                        content.pop("application/json", None)
        schemas = document.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _refers_to(content: dict[str, Any], schema: str) -> bool:
    return any(media.get("schema", {}).get("$ref", "").endswith(f"/{schema}") for media in content.values())


def swagger_ui_folder() -> Path:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(str(swagger_ui_path))


def _install_docs(app: FastAPI) -> None:
    """Interactive docs at /docs with Swagger UI's files served from the installed package (no CDN)."""
    app.mount("/static/swagger-ui", StaticFiles(directory=swagger_ui_folder()), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} docs",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` and multi-process serving: settings from STATOPS_* variables."""
    return create_app(load_settings())


__all__ = ["Runtime", "app_from_environment", "create_app", "shutdown_budget"]
