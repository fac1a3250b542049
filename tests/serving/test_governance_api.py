"""Governance over HTTP against a real server: the role x action matrix, four eyes, gates, promotion
followed by the server, a retired version refused within the alias refresh interval, and prediction
log rows that agree with the production history. SQLite and PostgreSQL (the `trained` fixture)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import func, select

from statops.registry.governance import live_at
from statops.scoring.prediction_log import read_predictions
from statops.store.schema import AuditEvent
from tests.serving.live import api_token, bearer, copy_version, live_server, predict, server_settings, wait_for

ROLES = ("viewer", "coder", "modeller", "approver", "admin")
#: route -> the roles the library lets through (the rest get 403)
MAY = {
    "gates.read": set(ROLES),
    "gates.write": {"approver", "admin"},
    "request-approval": {"modeller", "admin"},
    "approve": {"approver", "admin"},
    "reject": {"approver", "admin"},
    "promote": {"approver", "admin"},
    "rollback": {"approver", "admin"},
    "retire": {"approver", "admin"},
    "history": set(ROLES),
    "versions": set(ROLES),
    "card": set(ROLES),
}


def _call(client: httpx.Client, action: str, model: str, token: str, version: str = "1") -> httpx.Response:
    base = f"/v1/models/{model}"
    headers = bearer(token)
    reason = {"reason": "matrix"}
    return {
        "gates.read": lambda: client.get(f"{base}/gates", headers=headers),
        "gates.write": lambda: client.put(f"{base}/gates", headers=headers, json={"set": {"max.ece": 0.9}}),
        "request-approval": lambda: client.post(f"{base}/versions/{version}/request-approval", headers=headers,
                                                json=reason),
        "approve": lambda: client.post(f"{base}/versions/{version}/approve", headers=headers, json=reason),
        "reject": lambda: client.post(f"{base}/versions/{version}/reject", headers=headers, json=reason),
        "promote": lambda: client.post(f"{base}/versions/{version}/promote", headers=headers, json={}),
        "rollback": lambda: client.post(f"{base}/rollback", headers=headers, json=reason),
        "retire": lambda: client.post(f"{base}/versions/{version}/retire", headers=headers, json=reason),
        "history": lambda: client.get(f"{base}/history", headers=headers),
        "versions": lambda: client.get(f"{base}/versions", headers=headers),
        "card": lambda: client.get(f"{base}/versions/{version}/card", headers=headers),
    }[action]()


def _audit_rows(ws: Any) -> int:
    with ws.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for word in words:
        assert word in response.json()["detail"], response.json()


def test_every_role_is_refused_what_it_may_not_do_and_nothing_changes(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    model = "gov-matrix"
    copy_version(ws, (trained.model, trained.version), model)
    tokens = {role: api_token(ws, role, f"matrix-{role}") for role in ROLES}
    with live_server(server_settings(ws)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        before = _audit_rows(ws)
        for action, roles in MAY.items():
            for role in sorted(set(ROLES) - roles):
                _problem(_call(client, action, model, tokens[role]), 403, f"({role}) may not")
            response = _call(client, action, model, "statops_not-a-token")
            _problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert _audit_rows(ws) == before
        # the reading routes answer every role
        for role in ROLES:
            assert _call(client, "versions", model, tokens[role]).json()["versions"][0]["state"] == "candidate"


def test_four_eyes_promotion_retirement_and_rollback_over_http(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    model = "gov-flow"
    for _ in range(2):
        copy_version(ws, (trained.model, trained.version), model)
    modeller, approver, other = (api_token(ws, "modeller", "flow-modeller"), api_token(ws, "approver", "flow-bea"),
                                 api_token(ws, "approver", "flow-cid"))
    admin = api_token(ws, "admin", "flow-admin")
    with live_server(server_settings(ws)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        base = f"/v1/models/{model}"
        _problem(client.put(f"{base}/gates", headers=bearer(approver), json={"set": {"best.accuracy": 1}}), 422,
                 "unknown gate")
        _problem(client.post(f"{base}/versions/1/request-approval", headers=bearer(modeller), json={"reason": ""}),
                 422)
        asked = client.post(f"{base}/versions/1/request-approval", headers=bearer(modeller),
                            json={"reason": "first"})
        assert asked.status_code == 200 and asked.json()["gates_passed"] is True
        assert client.post(f"{base}/versions/2/request-approval", headers=bearer(admin),
                           json={"reason": "second"}).status_code == 200
        _problem(client.post(f"{base}/versions/2/approve", headers=bearer(admin), json={"reason": "mine"}), 403,
                 "four eyes")
        approved = client.post(f"{base}/versions/1/approve", headers=bearer(approver), json={"reason": "ok"})
        assert approved.status_code == 200 and approved.json()["decision"] == "approved"
        _problem(client.post(f"{base}/versions/1/approve", headers=bearer(other), json={"reason": "ok"}), 409,
                 "not pending")
        assert client.post(f"{base}/versions/2/approve", headers=bearer(other), json={"reason": "ok"}).status_code == 200
        _problem(client.post(f"{base}/versions/9/promote", headers=bearer(approver), json={}), 404, "no version 9")

        # the server follows each promotion within its refresh interval
        assert client.post(f"{base}/versions/1/promote", headers=bearer(approver), json={}).status_code == 200
        wait_for(lambda: predict(client, model, ["nurse"]).json()["model"]["version"] == "1", 10, "not promoted")
        first_done = datetime.now().astimezone()
        rows_v1 = predict(client, model, ["nurse", "welder"]).json()["predictions"]
        assert client.post(f"{base}/versions/2/promote", headers=bearer(other), json={}).status_code == 200
        wait_for(lambda: predict(client, model, ["nurse"]).json()["model"]["version"] == "2", 10, "not promoted")
        rows_v2 = predict(client, model, ["nurse", "welder"]).json()["predictions"]

        # retired: refused with its reason within the refresh interval, by alias and by number
        retired = client.post(f"{base}/versions/2/retire", headers=bearer(approver),
                              json={"reason": "codes drifted"})
        assert retired.status_code == 200 and retired.json()["state"] == "retired"
        wait_for(lambda: predict(client, model, ["nurse"]).status_code == 409, 10, "retired version still served")
        _problem(predict(client, model, ["nurse"]), 409, "retired: codes drifted")
        _problem(predict(client, model, ["nurse"], version=2), 409, "retired: codes drifted")

        back = client.post(f"{base}/rollback", headers=bearer(approver), json={"reason": "retired the new one"})
        assert back.status_code == 200 and back.json()["version"] == "1"
        wait_for(lambda: predict(client, model, ["nurse"]).status_code == 200, 10, "rollback not followed")

        page = client.get(f"{base}/versions/1/card", headers=bearer(modeller), params={"format": "html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Model card" in page.text and "http://" not in page.text and "https://" not in page.text
        markdown = client.get(f"{base}/versions/1/card", headers=bearer(modeller)).text
        assert markdown.startswith("# Model card") and "flow-bea" in markdown  # the approver is on it

        history = client.get(f"{base}/history", headers=bearer(modeller)).json()["periods"]
        assert [p["version"] for p in history] == ["1", "2", "1"]
        at = client.get(f"{base}/history", headers=bearer(modeller),
                        params={"at": first_done.isoformat()}).json()
        assert at["live"]["version"] == "1"

    # every logged prediction names the version that was live when it was answered
    logged = read_predictions(ws.store, model)
    by_id = {row["id"]: row for row in logged.to_dict("records")}
    for answers, version in ((rows_v1, "1"), (rows_v2, "2")):
        for answer in answers:
            row = by_id[answer["id"]]
            assert row["version"] == version and row["requested_by"] == "test-coder"
            moment = pd.Timestamp(row["at"]).to_pydatetime()
            assert live_at(ws, model, moment).version == version  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [{"reason": "x", "override": ""}, {"reason": "x" * 2001}, {"why": "x"}])
def test_bad_bodies_are_422_and_change_nothing(trained, body: dict[str, Any]) -> None:  # noqa: ANN001
    ws = trained.ws
    model = "gov-bad"
    if not ws.mlflow.search_registered_models(filter_string=f"name='{model}'"):
        copy_version(ws, (trained.model, trained.version), model)
    token = api_token(ws, "approver", "bad-body-approver")
    with live_server(server_settings(ws)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        before = _audit_rows(ws)
        _problem(client.post(f"/v1/models/{model}/versions/1/approve", headers=bearer(token), json=body), 422)
        assert _audit_rows(ws) == before
