"""The routes: /v1 (models, prediction) and operations (health, readiness, metrics)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from statops.accounts import Actor
from statops.errors import Conflict, NotFound
from statops.names import NAME_PATTERN
from statops.registry import PRODUCTION_ALIAS, list_models, model_versions
from statops.registry.versions import registered_model
from statops.scoring.prediction_log import new_id, prediction_rows
from statops.serving.app import Runtime
from statops.serving.auth import Permission
from statops.serving.problems import PROBLEM_JSON, PayloadTooLarge, problem_response, problem_responses
from statops.serving.schemas import (
    Health,
    ModelDetail,
    ModelList,
    NotReady,
    PredictRequest,
    PredictResponse,
    Readiness,
)

v1 = APIRouter(prefix="/v1", tags=["models"])
operations = APIRouter(tags=["operations"])

MAX_VERSION = 2**31 - 1  # MLflow keeps version numbers as 32-bit integers
ModelName = Annotated[str, Path(description="registered model name", examples=["occupation"])]
CAN_PREDICT = Depends(Permission("predict"))
CAN_READ_MODELS = Depends(Permission("models.read"))
ANY_TOKEN = Depends(Permission(None))
#: 401 and 403 of every route that needs a token, and the 503 of a token the store could not check
AUTH_ERRORS = {**problem_responses(401, 403), **problem_responses(
    503, description="the API token could not be checked (the store does not answer): retry after `Retry-After` "
    "seconds")}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def check_model_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise NotFound(f"unknown model {name!r}: model names are letters, digits, '_', '-' and '.'")


@v1.post(
    "/models/{name}/predict", response_model=PredictResponse,
    responses=problem_responses(400, 401, 403, 404, 408, 409, 413, 415, 422, 503),
    summary="Answer records with a model (code them, or match addresses)",
    description="Answers each record's text (a code for an auto-coder, the matching reference address for an "
    "address matcher) with the model version chosen by `version`, `alias`, or by "
    "default the model's `production` alias, else its latest version (as `statops score` does). With both "
    "`version` and `alias`, the version is served only while the alias names it (else 409). The values are "
    "those `statops score` writes for the same texts. Each prediction is logged under its `id`, and the answer "
    "is sent once the log has committed it (else 503).",
)
async def predict(
    name: ModelName,
    body: PredictRequest,
    request: Request,
    actor: Annotated[Actor, CAN_PREDICT],
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION, description="a version number")] = None,
    alias: Annotated[str | None, Query(min_length=1, max_length=100,
                                       description="an alias, e.g. production or challenger")] = None,
) -> Response:
    rt = runtime(request)
    check_model_name(name)
    records = body.records
    if len(records) > rt.settings.serve_max_records:
        raise PayloadTooLarge(f"{len(records):,} records in one request; the limit is "
                              f"{rt.settings.serve_max_records:,} (STATOPS_SERVE_MAX_RECORDS)")
    # With both, the alias chooses and the version is what the caller expects it to name.
    key = (name, None, alias) if alias is not None else (name, None if version is None else str(version), None)
    served = rt.cache.peek(key)
    if served is None:
        served = await run_in_threadpool(rt.cache.get, key)
    ref = served.ref
    if alias is not None and version is not None and ref.version != str(version):
        raise Conflict(f"alias {alias!r} of model {name} names version {ref.version}, not {version}")
    texts = [record.text for record in records]
    columns = await rt.batcher.predict((ref.name, ref.version), served.model, texts)
    ids = [new_id() for _ in texts]
    rows = prediction_rows(ref, texts, columns, source="api", request_id=new_id(),
                           keep_text=rt.settings.log_text, requested_by=actor.name, ids=ids)
    await rt.prediction_log.write(rows)  # answered only once logged: 503 if the log cannot commit in time
    for decision, count in Counter(columns["decision"]).items():
        rt.metrics.predictions.labels(ref.name, ref.version, decision).inc(count)
    predictions = [
        {"id": row_id, "code": code, "title": title, "confidence": confidence, "decision": decision,
         "alternatives": orjson.Fragment(alternatives)}  # the model's JSON text, as it is
        for row_id, code, title, confidence, decision, alternatives in zip(
            ids, columns["code"], columns["title"], columns["confidence"], columns["decision"],
            columns["alternatives"], strict=True)
    ]
    return json_response({"model": {"name": ref.name, "version": ref.version, "alias": ref.alias},
                          "predictions": predictions})


@v1.get("/models", response_model=ModelList, responses=AUTH_ERRORS, dependencies=[CAN_READ_MODELS],
        summary="List registered models")
def models(request: Request) -> Response:
    return json_response({"models": [model.as_dict() for model in list_models(runtime(request).ws)]})


@v1.get("/models/{name}", response_model=ModelDetail, responses={**AUTH_ERRORS, **problem_responses(404)},
        dependencies=[CAN_READ_MODELS], summary="A model: its versions, aliases, thresholds and key metrics")
def model_detail(name: ModelName, request: Request) -> Response:
    check_model_name(name)
    ws = runtime(request).ws
    aliases = {alias: str(v) for alias, v in (registered_model(ws, name).aliases or {}).items()}
    versions = [{
        "version": v.version, "task": v.task, "aliases": list(v.aliases), "status": v.status,
        "retired": v.retired, "threshold": v.threshold, "target_accuracy": v.target_accuracy,
        "classification": v.classification, "dataset": v.trained_on, "created": v.created.isoformat(),
        "run_id": v.run_id, "metrics": v.metrics, "tags": v.tags,
    } for v in model_versions(ws, name)]
    serves = aliases.get(PRODUCTION_ALIAS) or (versions[-1]["version"] if versions else None)
    return json_response({"name": name, "aliases": aliases, "serves": serves, "versions": versions})


# -- operations ----------------------------------------------------------------------------------

@operations.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@operations.get(
    "/readyz", response_model=Readiness,
    summary="Store and registry reachable, preloaded models loaded, prediction log keeping up",
    responses=problem_responses(503, model=NotReady, description="not ready: `checks` says which check failed"),
)
def readyz(request: Request) -> Response:
    rt = runtime(request)
    checks: dict[str, Any] = {}
    try:
        with rt.ws.store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as exc:
        checks["store"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    try:
        rt.ws.mlflow.search_registered_models(max_results=1)
        checks["registry"] = "ok"
    except Exception as exc:
        checks["registry"] = f"failed: {type(exc).__name__}: {exc}"[:300]
    checks["preloaded"] = dict(rt.preload)
    behind = rt.prediction_log.falling_behind(rt.settings.log_ready_backlog_rows, rt.settings.log_ready_lag_seconds)
    checks["prediction_log"] = "ok" if behind is None else f"failed: {behind}"[:300]
    failing = [name for name, state in checks.items()
               if (state != "ok" and name != "preloaded")]
    failing += [f"preload {ref} ({state})" for ref, state in rt.preload.items() if state != "loaded"]
    if failing:
        response = problem_response(503, "not ready: " + "; ".join(failing), request.url.path)
        body = orjson.loads(response.body)
        body["checks"] = checks
        return Response(orjson.dumps(body), status_code=503, media_type=PROBLEM_JSON)
    return json_response({"status": "ready", "checks": checks})


@operations.get("/metrics", summary="Prometheus metrics",
                response_class=Response,
                responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                                 "description": "metrics in the Prometheus text format"},
                           **problem_responses(401, description="no valid API token (any role may read metrics); "
                                               "none is needed with STATOPS_SERVE_METRICS_PUBLIC=true"),
                           503: AUTH_ERRORS[503]},
                dependencies=[ANY_TOKEN])
def metrics(request: Request) -> Response:
    return Response(generate_latest(runtime(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
