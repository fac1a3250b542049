"""Monitoring over HTTP against a real server, on SQLite and PostgreSQL: true codes by prediction id and by
text, refused for a viewer, bad records named with nothing written; a model version's signals after
predictions; the scheduled run inside `statops serve` and its gauges on /metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from statops import Workspace
from statops.monitoring import ALERT
from statops.monitoring.schedule_lock import schedule_state
from statops.store.schema import Feedback
from tests.conftest import SocFiles, Trained, make_workspace
from tests.monitoring.streams import bundled_test_split, stream
from tests.serving.live import api_token, bearer, copy_version, live_server, predict, server_settings, wait_for

MODEL = "monitor-api"


def _feedback_rows(ws: Workspace, model: str) -> int:
    with ws.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Feedback).where(Feedback.model == model)) or 0)


def _problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    for word in words:
        assert word in body["detail"], body
    return body


@pytest.fixture
def served(trained: Trained) -> Iterator[tuple[Any, httpx.Client]]:
    """A server (no schedule) with a copy of the trained model and 150 more of its predictions. One per test:
    a server left running would point MLflow's fluent API at its workspace while another one trains."""
    ws = trained.ws
    if not any(m.name == MODEL for m in ws.mlflow.search_registered_models()):
        copy_version(ws, (trained.model, trained.version), MODEL)
    with live_server(server_settings(ws, monitor_schedule_seconds=0)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        answered = predict(client, MODEL, stream("none", 150))
        assert answered.status_code == 200, answered.text
        yield server, client


def test_feedback_by_id_and_by_text_is_stored(trained: Trained, served: tuple[Any, httpx.Client]) -> None:
    server, client = served
    answered = predict(client, MODEL, ["bus driver", "chartered accountant"]).json()["predictions"]
    before = _feedback_rows(trained.ws, MODEL)
    body = {"records": [
        {"id": answered[0]["id"], "code": answered[0]["code"], "source": "clerical"},
        {"text": "chartered accountant", "code": answered[1]["code"], "source": "audit-sample"},
    ]}
    added = client.post(f"/v1/models/{MODEL}/feedback", json=body, headers=server.auth)
    assert added.status_code == 201, added.text
    assert added.json() == {"model": MODEL, "records": 2, "by_source": {"clerical": 1, "audit-sample": 1},
                            "by_prediction_id": 1, "by_text": 1}
    assert _feedback_rows(trained.ws, MODEL) == before + 2
    with trained.ws.store.session() as session:
        rows = session.scalars(select(Feedback).where(Feedback.model == MODEL).order_by(Feedback.id.desc())
                               .limit(2)).all()
    assert {(r.prediction_id, r.input_sha256 is not None, r.source, r.created_by) for r in rows} == {
        (answered[0]["id"], False, "clerical", "test-coder"), (None, True, "audit-sample", "test-coder")}


def test_a_viewer_may_read_monitoring_but_not_add_feedback(trained: Trained,
                                                           served: tuple[Any, httpx.Client]) -> None:
    _, client = served
    viewer = bearer(api_token(trained.ws, "viewer", "monitoring-viewer"))
    before = _feedback_rows(trained.ws, MODEL)
    body = {"records": [{"text": "bus driver", "code": "8213", "source": "expert"}]}
    _problem(client.post(f"/v1/models/{MODEL}/feedback", json=body, headers=viewer), 403, "(viewer) may not")
    _problem(client.post(f"/v1/models/{MODEL}/feedback", json=body), 401)
    assert _feedback_rows(trained.ws, MODEL) == before
    assert client.get(f"/v1/models/{MODEL}/monitoring", headers=viewer).status_code == 200


def test_bad_records_are_named_by_index_and_nothing_is_written(trained: Trained,
                                                                served: tuple[Any, httpx.Client]) -> None:
    server, client = served
    good = predict(client, MODEL, ["nurse"]).json()["predictions"][0]
    before = _feedback_rows(trained.ws, MODEL)
    url = f"/v1/models/{MODEL}/feedback"
    body = {"records": [{"id": good["id"], "code": good["code"], "source": "clerical"},
                        {"id": "0190a1b2-0000-7000-8000-000000000000", "code": good["code"], "source": "clerical"},
                        {"text": "nurse", "code": "99999", "source": "expert"}]}
    problem = _problem(client.post(url, json=body, headers=server.auth), 409, "never logged (record 1)",
                       "does not have (record 2)", "nothing was written")
    assert "record 0" not in problem["detail"]
    both = {"records": [{"id": good["id"], "text": "nurse", "code": good["code"], "source": "clerical"}]}
    problem = _problem(client.post(url, json=both, headers=server.auth), 422, "Extra inputs")
    assert [e["field"] for e in problem["errors"]] == ["records[0].by_id.text"]
    neither = {"records": [{"code": good["code"], "source": "clerical"}]}
    problem = _problem(client.post(url, json=neither, headers=server.auth), 422, "Field required")
    assert [e["field"] for e in problem["errors"]] == ["records[0].by_text.text"]
    unknown_source = {"records": [{"id": good["id"], "code": good["code"], "source": "guess"}]}
    _problem(client.post(url, json=unknown_source, headers=server.auth), 422, "records[0].by_id.source")
    _problem(client.post(url, json={"records": []}, headers=server.auth), 422, "records")
    _problem(client.post("/v1/models/no-such-model/feedback", json=body, headers=server.auth), 404)
    assert _feedback_rows(trained.ws, MODEL) == before


def test_the_monitoring_route_answers_the_signals_of_the_logged_predictions(
        served: tuple[Any, httpx.Client]) -> None:
    server, client = served
    answer = client.get(f"/v1/models/{MODEL}/monitoring", headers=server.auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == MODEL and body["version"] == "1" and body["window"] == "by day"
    latest = body["latest"]
    assert latest["records"] >= 150
    signals = {s["name"]: s for s in latest["signals"]}
    assert {"volume", "auto_coded_share", "estimated_accuracy", "code_distribution_shift", "text_drift"} <= set(signals)
    assert signals["auto_coded_share"]["status"] in ("ok", "warn") and 0 < signals["auto_coded_share"]["value"] <= 1
    assert body["alerts"] == [] and body["schedule"] is None  # no schedule ran on this store yet
    by_records = client.get(f"/v1/models/{MODEL}/monitoring", params={"window": "50", "version": "1"},
                            headers=server.auth).json()
    assert by_records["window"] == "every 50 records" and by_records["latest"]["records"] <= 50
    _problem(client.get(f"/v1/models/{MODEL}/monitoring", params={"window": "1"}, headers=server.auth), 422,
             "window")
    _problem(client.get(f"/v1/models/{MODEL}/monitoring", params={"version": "99"}, headers=server.auth), 404)
    _problem(client.get("/v1/models/no-such-model/monitoring", headers=server.auth), 404)


def test_the_test_split_over_http_raises_no_alert(served: tuple[Any, httpx.Client]) -> None:
    server, client = served
    texts = bundled_test_split()["text"].tolist()
    for start in range(0, len(texts), 500):
        assert predict(client, MODEL, texts[start:start + 500]).status_code == 200
    body = client.get(f"/v1/models/{MODEL}/monitoring", params={"window": "2000"}, headers=server.auth).json()
    assert sum(w["records"] for w in body["windows"]) >= len(texts)
    assert ALERT not in {w["status"] for w in body["windows"]}, body["windows"]  # a warning may show; no alert
    assert ALERT not in {s["status"] for s in body["latest"]["signals"]} and body["alerts"] == []


@pytest.fixture(params=["sqlite", "postgresql"])
def small_workspace(request: pytest.FixtureRequest, tmp_path: Path, soc: SocFiles) -> Iterator[Workspace]:
    """A workspace of its own (the schedule monitors every model of its store), with one small model."""
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.registry import train_and_register

    for ws in make_workspace(tmp_path / "ws", request.param):
        add_classification(ws, "soc2010", soc.structure, version="2010")
        add_dataset(ws, "soc-small", soc.dev, "text", "soc2010", "soc2010", cycle="2016", gsbpm="5.2")
        add_dataset(ws, "soc-check", soc.test, "text", "soc2010", "soc2010", cycle="2016", gsbpm="5.2")
        train_and_register(ws, "scheduled", "soc-small", "soc-check")
        yield ws


def _gauges(text: str, name: str) -> dict[str, float]:
    return {labels: float(value) for labels, value in re.findall(rf"^{name}\{{(.*?)\}} (\S+)$", text, re.M)}


def test_the_schedule_runs_by_itself_and_its_gauges_are_on_metrics(small_workspace: Workspace) -> None:
    ws = small_workspace
    with live_server(server_settings(ws, monitor_schedule_seconds=1)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        assert predict(client, "scheduled", stream("none", 150)).status_code == 200

        def signals() -> dict[str, float]:
            scraped = client.get("/metrics", headers=server.auth)
            assert scraped.status_code == 200
            found = _gauges(scraped.text, "statops_monitor_signal")
            return found if any('signal="auto_coded_share"' in k for k in found) else {}

        found = wait_for(signals, 180, "no monitoring gauges on /metrics after scheduled runs")
        assert all('model="scheduled"' in k and 'version="1"' in k for k in found)
        metrics = client.get("/metrics", headers=server.auth).text
        statuses = _gauges(metrics, "statops_monitor_signal_status")
        assert set(statuses.values()) <= {-1.0, 0.0, 1.0, 2.0}
        assert statuses['model="scheduled",signal="text_drift",version="1"'] in (0.0, 1.0)
        assert _gauges(metrics, "statops_monitor_window_records")['model="scheduled",version="1"'] >= 150
        assert _gauges(metrics, "statops_monitor_runs_total")['outcome="ok"'] >= 1
        assert re.search(r"^statops_monitor_last_run_timestamp_seconds \S+$", metrics, re.M)
        state = schedule_state(ws.store)
        assert state is not None and state.outcome is not None and state.outcome.startswith("ok (1 models")
        schedule = client.get("/v1/models/scheduled/monitoring", headers=server.auth).json()["schedule"]
        assert schedule["outcome"].startswith("ok") and schedule["finished_at"] is not None
        assert server.runtime.monitoring.runs["failed"] == 0
