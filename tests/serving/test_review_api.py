"""The review queue over HTTP against a real server, on SQLite and PostgreSQL: a coder takes the next item
(locked to them, with titled suggestions), answers it; a second answer, another coder's locked item and a
code the classification lacks (409) and a malformed answer (422) are refused with nothing written; a viewer may read the queue's progress
but not code; an item can be given back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from statops import Workspace
from statops.review.queue import DECISIONS
from tests.conftest import Trained
from tests.monitoring.streams import bundled_test_split
from tests.serving.live import api_token, bearer, copy_version, live_server, predict, server_settings

MODEL = "review-api"


def _decisions(ws: Workspace) -> int:
    with ws.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).where(DECISIONS.c.model == MODEL)).scalar_one())


@pytest.fixture
def served(trained: Trained) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A server with a copy of the trained model and 120 test-split predictions; the true codes by text."""
    ws = trained.ws
    if not any(m.name == MODEL for m in ws.mlflow.search_registered_models()):
        copy_version(ws, (trained.model, trained.version), MODEL)
    split = bundled_test_split().head(120)
    with live_server(server_settings(ws, monitor_schedule_seconds=0, review_sync_seconds=0,
                                             review_double_share=0.0)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        answered = predict(client, MODEL, split["text"].tolist())
        assert answered.status_code == 200, answered.text
        yield client, dict(zip(split["text"], split["soc2010"], strict=False))


def _next(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/v1/review/next", params={"model": MODEL}, headers=bearer(token))


def test_coders_take_and_answer_items_over_http(trained: Trained, served: tuple[httpx.Client, dict[str, str]]) -> None:
    client, truth = served
    ws = trained.ws
    ana, ben = api_token(ws, "coder", "ana-http"), api_token(ws, "coder", "ben-http")
    viewer = api_token(ws, "viewer", "vic-http")
    first = _next(client, ana)
    assert first.status_code == 200, first.text
    item: dict[str, Any] = first.json()
    assert item["locked_by"] == "ana-http" and item["model"] == MODEL
    assert 1 <= len(item["suggestions"]) <= 5 and all(s["title"] for s in item["suggestions"])
    assert _next(client, ana).json()["id"] == item["id"]  # she holds it
    other = _next(client, ben).json()
    assert other["id"] != item["id"]
    before = _decisions(ws)
    taken = client.post(f"/v1/review/{item['id']}", json={"answer": truth[item["text"]], "seconds": 7},
                        headers=bearer(ben))
    assert taken.status_code == 409 and "locked by ana-http" in taken.json()["detail"]
    unknown = client.post(f"/v1/review/{item['id']}", json={"answer": "99999"}, headers=bearer(ana))
    assert unknown.status_code == 409 and "not in the classification" in unknown.json()["detail"]
    for bad in ({"answer": "2136", "extra": 1}, {"answer": "2136", "seconds": False}, {"answer": ""}):
        assert client.post(f"/v1/review/{item['id']}", json=bad, headers=bearer(ana)).status_code == 422
    assert _decisions(ws) == before
    done = client.post(f"/v1/review/{item['id']}", json={"answer": truth[item["text"]], "seconds": 7.5},
                       headers=bearer(ana))
    assert done.status_code == 200, done.text
    assert done.json()["outcome"] == "coded" and done.json()["coder"] == "ana-http"
    again = client.post(f"/v1/review/{item['id']}", json={"answer": truth[item["text"]]}, headers=bearer(ana))
    assert again.status_code == 409
    assert _decisions(ws) == before + 1
    # a viewer reads the progress but may not code; a coder gives an item back
    assert _next(client, viewer).status_code == 403
    stats = client.get("/v1/review/stats", params={"model": MODEL}, headers=bearer(viewer))
    assert stats.status_code == 200 and stats.json()["done"] >= 1
    assert client.post(f"/v1/review/{other['id']}/release", headers=bearer(ben)).status_code == 200
    assert client.post(f"/v1/review/{other['id']}/release", headers=bearer(ben)).status_code == 404
    assert client.post("/v1/review/2147483647", json={"answer": "skip"}, headers=bearer(ana)).status_code == 404
    assert client.get("/v1/review/next", params={"model": MODEL}).status_code == 401


def test_the_queue_runs_dry_with_204(trained: Trained, served: tuple[httpx.Client, dict[str, str]]) -> None:
    client, truth = served
    token = api_token(trained.ws, "coder", "cy-http")
    answered = 0
    while (response := _next(client, token)).status_code == 200:
        item = response.json()
        code = truth.get(item["text"], "uncodable")
        assert client.post(f"/v1/review/{item['id']}", json={"answer": code}, headers=bearer(token)).status_code == 200
        answered += 1
        assert answered < 500
    assert response.status_code == 204 and answered > 0
