"""The HTTP API against a real uvicorn server on a loopback port, on SQLite and PostgreSQL stores."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import httpx
import pandas as pd
import pytest

from statops.registry import load_model, resolve_model
from statops.registry.governance import retire
from tests.serving.live import (
    TEST_ADMIN,
    LiveServer,
    copy_version,
    live_server,
    logged,
    predict,
    server_settings,
    wait_for,
)

PROBLEM = "application/problem+json"
COPIES = ("occupation-live", "occupation-odd")


@pytest.fixture(scope="module")
def texts(trained) -> list[str]:  # noqa: ANN001
    return pd.read_csv(trained.soc.test, dtype=str, keep_default_na=False)["text"].tolist()


@pytest.fixture(scope="module")
def api(trained) -> Iterator[LiveServer]:  # noqa: ANN001
    """One server for most tests: small limits, quick alias refresh, the trained model preloaded."""
    ws = trained.ws
    source = (trained.model, trained.version)
    copy_version(ws, source, "occupation-live")  # version 1
    copy_version(ws, source, "occupation-live")  # version 2
    ws.mlflow.set_registered_model_alias("occupation-live", "production", "1")
    copy_version(ws, source, "occupation-odd")
    retire(ws, TEST_ADMIN, "occupation-odd", "1", "replaced by version 2")
    broken = ws.home / "not-a-model"
    broken.mkdir(exist_ok=True)
    ws.mlflow.create_model_version("occupation-odd", str(broken))  # version 2: no MLmodel file
    settings = server_settings(ws, serve_preload=[trained.model], serve_max_records=500,
                               serve_max_body_bytes=256 * 1024)
    try:
        with live_server(settings) as server:
            yield server
    finally:
        for name in COPIES:
            ws.mlflow.delete_registered_model(name)


@pytest.fixture
def client(api: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=60, headers=api.auth) as http:
        yield http


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


def test_predict_gives_what_statops_score_gives_and_logs_each_record(trained, client, texts) -> None:  # noqa: ANN001
    sample = texts[:40] + ["", texts[0]]  # an empty answer and a repeat
    response = predict(client, trained.model, sample)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model"] == {"name": trained.model, "version": trained.version, "alias": None}
    model = load_model(trained.ws, resolve_model(trained.ws, trained.model))
    expected = model.predict_frame(pd.Series(sample))
    got = body["predictions"]
    assert [p["code"] for p in got] == expected["code"].tolist()
    assert [p["title"] for p in got] == expected["title"].tolist()
    assert [p["confidence"] for p in got] == expected["confidence"].tolist()
    assert [p["decision"] for p in got] == expected["decision"].tolist()
    assert [p["alternatives"] for p in got] == [json.loads(a) for a in expected["alternatives"]]
    assert got[-2]["decision"] == "review" and got[-2]["confidence"] == 0.0
    ids = [p["id"] for p in got]
    assert len(set(ids)) == len(ids) and all(len(i) == 36 for i in ids)

    rows = logged(trained.ws, ids)  # committed before the answer was sent
    assert len(rows) == len(ids)
    by_id = {row.id: row for row in rows}
    for prediction, text in zip(got, sample, strict=True):
        row = by_id[prediction["id"]]
        assert (row.model, row.version, row.source) == (trained.model, trained.version, "api")
        assert row.input_text == text and row.input_sha256 == hashlib.sha256(text.encode()).hexdigest()
        assert (row.code, row.confidence, row.decision) == (
            prediction["code"], prediction["confidence"], prediction["decision"])
        assert row.alternatives == prediction["alternatives"] and row.at.year >= 2024
        assert row.requested_by == "test-coder"  # the user of the client's token
    assert len({row.request_id for row in rows}) == 1


def test_version_and_alias_choose_the_model(trained, client) -> None:  # noqa: ANN001
    body = predict(client, "occupation-live", ["bus driver"], version=2).json()
    assert body["model"] == {"name": "occupation-live", "version": "2", "alias": None}
    body = predict(client, "occupation-live", ["bus driver"]).json()
    assert body["model"] == {"name": "occupation-live", "version": "1", "alias": "production"}
    body = predict(client, "occupation-live", ["bus driver"], alias="production").json()
    assert body["model"]["version"] == "1" and body["model"]["alias"] == "production"
    # The same loaded version, asked for by number: no alias chose it.
    body = predict(client, "occupation-live", ["bus driver"], version=1).json()
    assert body["model"] == {"name": "occupation-live", "version": "1", "alias": None}
    # Both: the version, served while the alias names it (409 otherwise, see the bad-input test).
    body = predict(client, "occupation-live", ["bus driver"], version=1, alias="production").json()
    assert body["model"] == {"name": "occupation-live", "version": "1", "alias": "production"}


def test_model_listing_and_detail(trained, client) -> None:  # noqa: ANN001
    listed = client.get("/v1/models").json()["models"]
    occupation = next(m for m in listed if m["name"] == trained.model)
    assert occupation["latest"] == trained.version and occupation["task"] == "coding"
    detail = client.get(f"/v1/models/{trained.model}").json()
    assert detail["name"] == trained.model and detail["serves"] == trained.version
    version = detail["versions"][0]
    assert 0 < version["threshold"] < 1 and version["target_accuracy"] == 0.95
    assert 0 < version["metrics"]["dev_accuracy"] <= 1 and version["retired"] is None
    # Versions are strings everywhere: latest, aliases, serves, each version, the predict answer.
    assert next(m for m in listed if m["name"] == "occupation-live")["aliases"] == {"production": "1"}
    assert all(isinstance(m["latest"], str) and all(isinstance(v, str) for v in m["aliases"].values())
               for m in listed)
    live = client.get("/v1/models/occupation-live").json()
    assert live["aliases"] == {"production": "1"} and live["serves"] == "1"
    assert [v["version"] for v in live["versions"]] == ["1", "2"]
    assert [v["aliases"] for v in live["versions"]] == [["production"], []]
    odd = client.get("/v1/models/occupation-odd").json()
    assert odd["versions"][0]["retired"] == "replaced by version 2"
    assert_problem(client.get("/v1/models/nope"), 404, "unknown model nope")


def test_bad_input_gets_a_clear_4xx_never_a_500(trained, client) -> None:  # noqa: ANN001
    url = f"/v1/models/{trained.model}/predict"
    assert_problem(predict(client, "nope", ["x"]), 404, "unknown model nope", trained.model)
    assert_problem(predict(client, "bad name!", ["x"]), 404, "unknown model")
    assert_problem(predict(client, trained.model, ["x"], version=99), 404, "no version 99")
    assert_problem(predict(client, trained.model, ["x"], alias="nope"), 404, "no alias 'nope'")
    assert_problem(predict(client, "occupation-live", ["x"], version=2, alias="production"), 409,
                   "alias 'production' of model occupation-live names version 1, not 2")
    assert_problem(predict(client, "occupation-odd", ["x"], version=1), 409, "retired", "replaced by version 2")
    assert_problem(predict(client, "occupation-odd", ["x"], version=2), 409, "cannot be loaded", "MLmodel")

    body = assert_problem(client.post(url, json={"records": [{"txt": "x"}]}), 422, "records[0].text")
    assert body["errors"] == [{"field": "records[0].text", "message": "Field required"}]
    assert_problem(client.post(url, json={"records": []}), 422, "records")
    assert_problem(client.post(url, json={"records": [{"text": 5}]}), 422, "records[0].text")
    body = assert_problem(predict(client, trained.model, ["ok", "nul \x00 inside"]), 422, "records[1].text")
    assert body["errors"] == [{"field": "records[1].text", "message": "must not contain NUL characters (\\u0000)"}]
    assert_problem(client.post(url, json=[1, 2]), 422)
    assert_problem(client.post(url, content=b"", headers={"content-type": "application/json"}), 422, "body")
    assert_problem(predict(client, trained.model, ["x"], version=0), 422, "version")
    assert_problem(predict(client, trained.model, ["x"], version="abc"), 422, "version")
    assert_problem(predict(client, trained.model, ["x"], version=2**31), 422, "version")
    assert_problem(predict(client, trained.model, ["x"], alias=""), 422, "alias")

    # A body that is not JSON is a 400; one sent as another type, a 415.
    assert_problem(client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400,
                   "not valid JSON", "position 1")
    assert_problem(client.post(url, content=b'{"records": [{"text": "\xff"}]}',
                               headers={"content-type": "application/json"}), 400, "could not be read as JSON")
    assert_problem(client.post(url, content=b"not json"), 415, "application/json", "no content type")
    assert_problem(client.post(url, content=b'{"records": [{"text": "x"}]}', headers={"content-type": "text/plain"}),
                   415, "not text/plain")
    assert predict(client, trained.model, ["x"]).status_code == 200  # the same body as JSON is fine
    assert client.post(url, content=b'{"records": [{"text": "x"}]}',
                       headers={"content-type": "application/json; charset=utf-8"}).status_code == 200

    assert_problem(predict(client, trained.model, ["x"] * 501), 413, "501 records", "limit is 500")
    big = json.dumps({"records": [{"text": "x" * 9000}] * 30}).encode()  # > 256 KiB
    assert_problem(client.post(url, content=big, headers={"content-type": "application/json"}), 413, "larger")
    streamed = client.post(url, content=iter([big[:100_000], big[100_000:]]),
                           headers={"content-type": "application/json"})  # chunked: no content-length
    assert_problem(streamed, 413, "larger")

    assert_problem(client.get("/v2/nothing"), 404, "no route")
    assert assert_problem(client.get(url), 405) and client.get(url).headers["allow"] == "POST"
    # Only bodies of requests that carry one are limited: a GET's is not read.
    assert client.request("GET", "/healthz", content=big).status_code == 200
    metrics = client.get("/metrics").text
    assert 'status="500"' not in metrics


def test_health_readiness_and_metrics(trained, client) -> None:  # noqa: ANN001
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 200 and r, 30, "never ready")
    assert ready.json()["checks"]["preloaded"] == {trained.model: "loaded"}
    assert ready.json()["checks"]["store"] == "ok" and ready.json()["checks"]["registry"] == "ok"
    predict(client, trained.model, ["chartered accountant", "bus driver"])
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for needle in ('statops_http_requests_total{method="POST",route="/v1/models/{name}/predict",status="200"}',
                   'statops_http_request_duration_seconds_bucket{le="0.025",method="POST",route="/v1/models/{name}/predict"}',
                   f'statops_predictions_total{{decision="review",model="{trained.model}",version="{trained.version}"}}',
                   "statops_prediction_log_backlog_rows", "statops_prediction_log_written_rows_total",
                   "statops_prediction_log_write_failures_total 0.0", "statops_models_loaded",
                   f'statops_model_calls_total{{model="{trained.model}",version="{trained.version}"}}'):
        assert needle in text, needle


def test_openapi_is_complete_and_docs_work_offline(client) -> None:  # noqa: ANN001
    spec = client.get("/openapi.json").json()
    assert {"/v1/models/{name}/predict", "/v1/models", "/v1/models/{name}", "/healthz", "/readyz",
            "/metrics"} <= set(spec["paths"])
    assert all(path.startswith("/v1/") for path in set(spec["paths"]) - {"/healthz", "/readyz", "/metrics"})
    statuses = {f"{method.upper()} {path}": set(operation["responses"])
                for path, item in spec["paths"].items() for method, operation in item.items()}
    for operation, documented in statuses.items():  # governance, monitoring...: every /v1 route needs a token
        if operation.startswith(("GET /v1/", "POST /v1/", "PUT /v1/")):
            assert {"401", "403", "503"} <= documented and any(s.startswith("2") for s in documented), operation
    assert {k: v for k, v in statuses.items() if k in {
        "POST /v1/models/{name}/predict", "GET /v1/models", "GET /v1/models/{name}", "GET /healthz", "GET /readyz",
        "GET /metrics"}} == {
        "POST /v1/models/{name}/predict": {"200", "400", "401", "403", "404", "408", "409", "413", "415", "422",
                                           "503"},
        "GET /v1/models": {"200", "401", "403", "503"}, "GET /v1/models/{name}": {"200", "401", "403", "404", "503"},
        "GET /healthz": {"200"}, "GET /readyz": {"200", "503"}, "GET /metrics": {"200", "401", "503"}}
    secured = {f"{method.upper()} {path}" for path, item in spec["paths"].items()
               for method, operation in item.items() if operation.get("security") == [{"bearer": []}]}
    assert secured == set(statuses) - {"GET /healthz", "GET /readyz"}
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for item in spec["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):  # errors are problem+json only
                    assert list(response["content"]) == [PROBLEM]
    responses = spec["paths"]["/v1/models/{name}/predict"]["post"]["responses"]
    assert responses["404"]["content"][PROBLEM]["schema"]["$ref"] == "#/components/schemas/Problem"
    ready = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert ready["content"][PROBLEM]["schema"]["$ref"] == "#/components/schemas/NotReady"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    schemas = spec["components"]["schemas"]
    version = {"type": "string", "pattern": "^[1-9][0-9]*$"}
    for where in (schemas["ModelVersionInfo"]["properties"]["version"], schemas["VersionDetail"]["properties"]["version"],
                  schemas["ModelSummary"]["properties"]["aliases"]["additionalProperties"],
                  schemas["ModelDetail"]["properties"]["aliases"]["additionalProperties"],
                  schemas["ModelSummary"]["properties"]["latest"]["anyOf"][0],
                  schemas["ModelDetail"]["properties"]["serves"]["anyOf"][0]):
        assert version.items() <= where.items(), where
    for schema in ("PredictRequest", "PredictResponse", "Prediction", "ModelDetail", "Problem", "Readiness"):
        assert schema in spec["components"]["schemas"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text  # no CDN
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static/swagger-ui/{asset}" in docs.text
        served = client.get(f"/static/swagger-ui/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000


def test_a_moved_alias_is_followed_while_clients_keep_asking(trained, api, texts) -> None:  # noqa: ANN001
    ws = trained.ws
    seen: dict[int, list[str]] = {n: [] for n in range(4)}
    stop = threading.Event()

    def client_loop(number: int) -> None:
        with httpx.Client(base_url=api.url, timeout=60) as http:
            while not stop.is_set():
                response = predict(http, "occupation-live", texts[number:number + 3])
                assert response.status_code == 200 and len(response.json()["predictions"]) == 3, response.text
                seen[number].append(response.json()["model"]["version"])

    with ThreadPoolExecutor(4) as pool:
        clients = [pool.submit(client_loop, n) for n in range(4)]

        def stopped() -> bool:  # a client only stops early when something failed in it
            return any(client.done() for client in clients)

        try:
            wait_for(lambda: stopped() or all(len(seen[n]) >= 3 for n in range(4)), 30, "clients did not start")
            ws.mlflow.set_registered_model_alias("occupation-live", "production", "2")
            wait_for(lambda: stopped() or all(seen[n][-1] == "2" for n in range(4)), 10,
                     "the new production version was not served within 10 s")
        finally:
            stop.set()
            wait(clients)
            ws.mlflow.set_registered_model_alias("occupation-live", "production", "1")
    for client in clients:
        client.result()  # what failed inside a client thread fails the test
    for versions in seen.values():
        switched = versions.index("2")
        assert set(versions[:switched]) == {"1"} and set(versions[switched:]) == {"2"}


def test_concurrent_clients_every_prediction_logged_exactly_once(trained, api, texts) -> None:  # noqa: ANN001
    answered: list[tuple[str, str]] = []  # (id, text)
    lock = threading.Lock()

    def client_loop(number: int) -> None:
        with httpx.Client(base_url=api.url, timeout=60) as http:
            for i in range(25):
                batch = [texts[(number * 100 + i * 3 + k) % len(texts)] for k in range(1 + i % 3)]
                response = predict(http, trained.model, batch)
                assert response.status_code == 200, response.text
                with lock:
                    answered.extend((p["id"], t) for p, t in zip(response.json()["predictions"], batch, strict=True))

    with ThreadPoolExecutor(8) as pool:
        clients = [pool.submit(client_loop, n) for n in range(8)]
    for client in clients:
        client.result()  # what failed inside a client thread fails the test
    ids = [i for i, _ in answered]
    assert len(ids) == len(set(ids)) == 8 * sum(1 + i % 3 for i in range(25))
    rows = logged(trained.ws, ids)  # every answered prediction is committed already
    assert len(rows) == len(ids)
    assert {row.id: row.input_text for row in rows} == dict(answered)
