"""A real uvicorn server on a loopback port, in a thread of the test process, and helpers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from statops import Workspace
from statops.serving import create_app
from statops.serving.metrics import PROTOCOL
from statops.settings import Settings
from statops.store.schema import PredictionLogEntry


class LiveServer:
    def __init__(self, settings: Settings):
        self.app = create_app(settings)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # The HTTP protocol `statops serve` runs (read deadlines, connection cap).
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=30,
                                http=PROTOCOL)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, 30, "the server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the server did not stop"
        self.socket.close()

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        if server.thread.is_alive():
            server.stop()


def wait_for(condition: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def server_settings(ws: Workspace, **changes: Any) -> Settings:
    defaults = {"serve_refresh_seconds": 0.5}
    return ws.settings.model_copy(update={**defaults, **changes})


def predict(client: httpx.Client, model: str, texts: list[str], **params: Any) -> httpx.Response:
    return client.post(f"/v1/models/{model}/predict", params=params,
                       json={"records": [{"text": t} for t in texts]})


def logged(ws: Workspace, ids: list[str] | None = None, **where: Any) -> list[Any]:
    """Prediction-log rows with these ids (or matching `where`)."""
    table = PredictionLogEntry.__table__
    query = select(table)
    if ids is not None:
        query = query.where(table.c.id.in_(ids))
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with ws.store.engine.connect() as connection:
        return list(connection.execute(query))


def log_count(ws: Workspace) -> int:
    with ws.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(PredictionLogEntry.__table__)).scalar_one())


def copy_version(ws: Workspace, source: tuple[str, str], target: str, **tags: str) -> str:
    """Register the artifacts of `source` (name, version) again as a new version of `target`."""
    client = ws.mlflow
    mv = client.get_model_version(*source)
    if not client.search_registered_models(filter_string=f"name='{target}'"):
        client.create_registered_model(target)
    return str(client.create_model_version(target, mv.source, run_id=mv.run_id, tags={**mv.tags, **tags}).version)
