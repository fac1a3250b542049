"""The OpenAPI document against the live server: schemathesis generates requests, valid and invalid,
for every operation and runs all its checks on the answers (every status documented, content types
and bodies as documented, invalid input refused, valid input accepted, never a 5xx)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from statops.serving import create_app
from statops.settings import Settings
from tests.serving.live import LiveServer, copy_version, live_server, server_settings

# The document the server publishes at /openapi.json, built without a workspace (the app opens its
# workspace only when it starts). schemathesis' lazy loader (`schemathesis.pytest.from_fixture`)
# would fetch it from the live server instead, but it fails on pytest 9 (it sets `Node._nodeid`,
# which pytest 9 no longer has); `test_the_document_is_the_one_served` checks that they are the same.
OPENAPI = create_app(Settings(home=Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(copy.deepcopy(OPENAPI))  # it adds the links it infers
ALIASED = "occupation-contract"  # a model with aliases, so that listings show alias versions
SERVED: dict[str, LiveServer] = {}  # the contract server now running
LATER = "the-token-of-the-contract-server"  # in cases made before it runs (the examples, at collection)


@schema.auth(refresh_interval=None)
class CoderToken:
    """The contract server's token of a coder (who may take every action these routes have), sent as
    the document's bearer scheme says. schemathesis' `ignored_auth` check then also sends requests
    without it and with a made-up one, and requires a 401 (or 403)."""

    def get(self, case: schemathesis.Case, context: Any) -> str:
        return SERVED["server"].token if "server" in SERVED else LATER

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def contract_server(trained) -> Iterator[LiveServer]:  # noqa: ANN001
    """The server with its default limits: what the document promises is what it is tested on."""
    ws = trained.ws
    copy_version(ws, (trained.model, trained.version), ALIASED)
    copy_version(ws, (trained.model, trained.version), ALIASED)
    ws.mlflow.set_registered_model_alias(ALIASED, "production", "1")
    ws.mlflow.set_registered_model_alias(ALIASED, "challenger", "2")
    try:
        with live_server(server_settings(ws, serve_preload=[trained.model])) as server:
            SERVED["server"] = server
            yield server
    finally:
        SERVED.pop("server", None)
        ws.mlflow.delete_registered_model(ALIASED)


def test_the_document_is_the_one_served(contract_server: LiveServer) -> None:
    served = httpx.get(f"{contract_server.url}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == OPENAPI
    listed = httpx.get(f"{contract_server.url}/v1/models", timeout=30, headers=contract_server.auth).json()["models"]
    assert next(m for m in listed if m["name"] == ALIASED)["aliases"] == {"production": "1", "challenger": "2"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_document(case: schemathesis.Case, contract_server: LiveServer) -> None:
    """Examples, coverage (boundary and invalid values, missing and wrong parts, other methods) and fuzzing."""
    if case.headers and case.headers.get("Authorization") == f"Bearer {LATER}":
        case.headers["Authorization"] = f"Bearer {contract_server.token}"
    case.call_and_validate(base_url=contract_server.url, timeout=60)


def test_sequences_of_calls_keep_to_the_document(contract_server: LiveServer) -> None:
    """Stateful: names and versions from one answer used in the next request (list -> detail -> predict)."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": contract_server.url, "timeout": 60}

    Workflow.run(settings=settings(max_examples=30, stateful_step_count=4, deadline=None,
                                   suppress_health_check=list(HealthCheck)))
