"""API tokens on the HTTP API, against real servers on loopback ports, on SQLite and PostgreSQL: every
role on every route, every way a token is refused (401 problem+json with `WWW-Authenticate`), a
role that may not act (403), open health routes, /metrics public only when set, a revoked token or a
disabled user refused within the cache's bound, the prediction log naming who asked, and no token
in the server's log."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from statops.accounts import ROLES, allowed, disable_user, list_tokens, revoke_token
from statops.serving.auth import CACHE_SECONDS
from tests.conftest import sqlite_only
from tests.serving.live import (
    TEST_ADMIN,
    LiveServer,
    api_token,
    bearer,
    live_server,
    logged,
    server_settings,
    serving,
    wait_for,
)

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(trained) -> Iterator[LiveServer]:  # noqa: ANN001
    with live_server(server_settings(trained.ws, serve_preload=[trained.model])) as live:
        yield live


@pytest.fixture(scope="module")
def tokens(trained) -> dict[str, str]:  # noqa: ANN001
    """A token of a user of each role."""
    return {role: api_token(trained.ws, role, name=f"auth-{role}") for role in ROLES}


def call(server: LiveServer, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {**kwargs.pop("headers", {}), **(bearer(token) if token else {})}
    return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=60, **kwargs)


def routes(model: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each protected route: action -> (method, path, request options)."""
    return {
        "predict": ("POST", f"/v1/models/{model}/predict", {"json": {"records": [{"text": "bus driver"}]}}),
        "models.read": ("GET", "/v1/models", {}),
        "models.read detail": ("GET", f"/v1/models/{model}", {}),
        "metrics": ("GET", "/metrics", {}),
    }


def assert_refused(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["instance"]
    for fragment in fragments:
        assert fragment in body["detail"], body
    if status == 401:
        assert response.headers["www-authenticate"].startswith('Bearer realm="statops"')
    return body


def test_every_role_on_every_route(trained, server: LiveServer, tokens: dict[str, str]) -> None:  # noqa: ANN001
    for role, token in tokens.items():
        for action, (method, path, options) in routes(trained.model).items():
            response = call(server, method, path, token, **options)
            may = action == "metrics" or allowed(role, action.split(" ")[0])
            if may:
                assert response.status_code == 200, (role, action, response.text)
            else:
                assert_refused(response, 403, f"auth-{role} ({role}) may not predict",
                               "roles that may: coder, modeller, approver, admin")
    assert not allowed("viewer", "predict") and allowed("viewer", "models.read")  # so a 403 was seen above


def test_no_token_or_a_bad_one_is_401_on_every_protected_route(trained, server: LiveServer) -> None:  # noqa: ANN001
    for method, path, options in routes(trained.model).values():
        body = assert_refused(call(server, method, path, **options), 401, "needs an API token", "Bearer")
        assert body["instance"] == path
        response = call(server, method, path, "statops_made-up", **options)
        assert_refused(response, 401, "unknown API token")
        assert response.headers["www-authenticate"] == 'Bearer realm="statops", error="invalid_token"'
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "statops_x"):
            assert_refused(call(server, method, path, headers={"authorization": header}, **options), 401,
                           "must be `Bearer <token>`")
    # Checked before the body is read: a body over the limit is refused for the token, not its size.
    big = b'{"records": [{"text": "' + b"x" * 11_000_000 + b'"}]}'
    response = call(server, "POST", f"/v1/models/{trained.model}/predict", content=big,
                    headers={"content-type": "application/json"})
    assert_refused(response, 401, "needs an API token")
    assert_refused(call(server, "GET", "/v1/nothing"), 401)  # no route listing for strangers


def test_health_readiness_and_docs_need_no_token(server: LiveServer) -> None:
    assert call(server, "GET", "/healthz").json() == {"status": "ok"}
    wait_for(lambda: call(server, "GET", "/readyz").status_code == 200, 30, "never ready")
    assert call(server, "GET", "/openapi.json").status_code == 200
    assert call(server, "GET", "/docs").status_code == 200


def test_expired_revoked_and_disabled_are_refused(trained, server: LiveServer) -> None:  # noqa: ANN001
    ws = trained.ws
    path = f"/v1/models/{trained.model}/predict"
    body = {"json": {"records": [{"text": "welder"}]}}

    expires = datetime.now(UTC) + timedelta(seconds=2)
    expiring = api_token(ws, name="auth-expiring", expires_at=expires)
    assert call(server, "POST", path, expiring, **body).status_code == 200  # cached, but not past its expiry
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    assert_refused(call(server, "POST", path, expiring, **body), 401, "expired at")

    for how in ("revoked", "disabled"):
        token = api_token(ws, name=f"auth-{how}")
        assert call(server, "POST", path, token, **body).status_code == 200  # now cached as valid
        if how == "revoked":
            revoke_token(ws, TEST_ADMIN, list_tokens(ws, TEST_ADMIN, f"auth-{how}")[0].id)
        else:
            disable_user(ws, TEST_ADMIN, f"auth-{how}")
        started = time.monotonic()
        refused = wait_for(lambda t=token: (r := call(server, "POST", path, t, **body)).status_code == 401 and r,
                           CACHE_SECONDS + 5, f"a {how} token still worked")
        assert time.monotonic() - started <= CACHE_SECONDS + 1, how
        assert_refused(refused, 401, "was revoked at" if how == "revoked" else "user auth-disabled is disabled")


def test_a_token_the_store_cannot_check_gets_503_and_nothing_is_remembered(trained, server: LiveServer) -> None:  # noqa: ANN001
    token = api_token(trained.ws, name="auth-outage")  # not cached yet
    with trained.ws.store.engine.begin() as connection:  # the tokens' table disappears: look-ups fail
        connection.execute(text("ALTER TABLE api_tokens RENAME TO api_tokens_away"))
    try:
        refused = call(server, "GET", "/v1/models", token)
        assert_refused(refused, 503, "could not be checked", "store does not answer")
        assert refused.headers["retry-after"] == "1" and "api_tokens" not in refused.text
    finally:
        with trained.ws.store.engine.begin() as connection:
            connection.execute(text("ALTER TABLE api_tokens_away RENAME TO api_tokens"))
    assert call(server, "GET", "/v1/models", token).status_code == 200  # the failure was not cached


def test_the_log_names_who_asked_and_tokens_are_looked_up_once_per_bound(trained, server, tokens) -> None:  # noqa: ANN001
    cache = server.runtime.tokens
    before = cache.lookups
    ids = []
    for role in ("coder", "approver"):
        for _ in range(20):
            response = call(server, "POST", f"/v1/models/{trained.model}/predict", tokens[role],
                            json={"records": [{"text": f"{role} nurse"}]})
            ids += [(p["id"], role) for p in response.json()["predictions"]]
    rows = {row.id: row.requested_by for row in logged(trained.ws, [i for i, _ in ids])}
    assert rows == {i: f"auth-{role}" for i, role in ids}
    assert cache.lookups - before <= 4  # not one store read per request (at most one per token per 5 s)
    metrics = call(server, "GET", "/metrics", tokens["viewer"]).text
    assert f"statops_api_token_lookups_total {float(cache.lookups)}" in metrics
    # The last use is written in the background, to the minute.
    used = wait_for(lambda: list_tokens(trained.ws, TEST_ADMIN, "auth-coder")[0].last_used_at, 10,
                    "the token's last use was not recorded")
    assert datetime.now(UTC) - used < timedelta(minutes=2)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """One HTTP/1.1 response (status, body) of a known length from `sock`; what follows stays in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, bytes(buffer)
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                  if line.startswith(b"content-length:"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, rest
        rest += chunk
    buffer[:] = rest[length:]
    return int(head.split(b" ")[1]), rest[:length]


def test_a_refused_request_leaves_the_connection_usable(trained, server: LiveServer, tokens) -> None:  # noqa: ANN001
    body = b'{"records": [{"text": "nurse"}]}'
    head = (f"POST /v1/models/{trained.model}/predict HTTP/1.1\r\nHost: test\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
    buffer = bytearray()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)  # no token: 401, its body unread
        assert read_response(sock, buffer)[0] == 401
        sock.sendall(head.encode() + f"Authorization: Bearer {tokens['coder']}\r\n\r\n".encode() + body)
        status, answer = read_response(sock, buffer)
    assert status == 200 and b'"predictions"' in answer


def test_metrics_are_public_only_when_set(trained) -> None:  # noqa: ANN001
    with live_server(server_settings(trained.ws, serve_metrics_public=True)) as public:
        assert call(public, "GET", "/metrics").status_code == 200
        assert_refused(call(public, "GET", "/v1/models"), 401)  # every /v1 route still needs a token
        spec = call(public, "GET", "/openapi.json").json()
        assert "security" not in spec["paths"]["/metrics"]["get"]
        assert set(spec["paths"]["/metrics"]["get"]["responses"]) == {"200"}
        assert spec["paths"]["/v1/models"]["get"]["security"] == [{"bearer": []}]


def test_no_token_appears_in_the_server_log(trained, tmp_path: Path, tokens: dict[str, str]) -> None:  # noqa: ANN001
    sqlite_only(trained.ws, "what the server logs does not depend on the store")
    made_up = "statops_" + "m" * 43
    with serving(trained.ws.home, trained.model, tmp_path / "serve.log", options=("--access-log",)) as served:
        path = f"/v1/models/{trained.model}/predict"
        for token in (tokens["coder"], tokens["viewer"], made_up, served.token):
            for method, route in (("POST", path), ("GET", "/v1/models"), ("GET", "/metrics")):
                httpx.request(method, f"{served.url}{route}", headers=bearer(token), timeout=30,
                              json={"records": [{"text": "nurse"}]} if method == "POST" else None)
        httpx.get(f"{served.url}/v1/models", headers={"authorization": f"Basic {made_up}"}, timeout=30)
        served.stop()
    output = served.output()
    assert f'"POST {path} HTTP/1.1" 200' in output and f'"POST {path} HTTP/1.1" 401' in output  # requests logged
    assert f'"POST {path} HTTP/1.1" 403' in output  # the viewer
    for secret in (*tokens.values(), made_up, served.token):
        assert secret not in output and secret.removeprefix("statops_") not in output
