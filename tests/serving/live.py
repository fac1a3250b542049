"""A real uvicorn server on a loopback port, in a thread of the test process, or `statops serve` in
a process of its own, and helpers. Each server has an API token of a `coder` (who may predict and
read models) for its clients: `server.auth` as headers, and `predict` sends it by itself."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from statops import Workspace
from statops.accounts import Actor, add_user, create_token
from statops.errors import Conflict
from statops.serving import create_app
from statops.serving.app import open_workspace
from statops.serving.metrics import PROTOCOL
from statops.settings import Settings
from statops.store.schema import PredictionLogEntry

TEST_ADMIN = Actor("test-admin", "admin", "local")  # the workspace's local admin, as the CLI has it
_TOKENS: dict[str, str] = {}  # server URL -> the token its clients send


def api_token(ws: Workspace, role: str = "coder", name: str | None = None, **options: Any) -> str:
    """A new API token of user `name` (default `test-ROLE`), added with `role` if not there yet."""
    name = name or f"test-{role}"
    try:
        add_user(ws, TEST_ADMIN, name, role)
    except Conflict:
        pass
    return create_token(ws, TEST_ADMIN, name, **options)[1]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


class LiveServer:
    def __init__(self, settings: Settings):
        ws = open_workspace(settings)
        try:
            self.token = api_token(ws)
        finally:
            ws.close()
        self.auth = bearer(self.token)
        self.app = create_app(settings)
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        _TOKENS[self.url] = self.token
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


def auth_for(url: str) -> dict[str, str]:
    """The authorization header of the clients of the server at `url` (none for an unknown server)."""
    token = _TOKENS.get(url.rstrip("/"))
    return bearer(token) if token else {}


def predict(client: httpx.Client, model: str, texts: list[str], **params: Any) -> httpx.Response:
    """POST the texts; with the token of the server `client` talks to, unless the client has one."""
    headers = None if "authorization" in client.headers else auth_for(str(client.base_url))
    return client.post(f"/v1/models/{model}/predict", params=params, headers=headers,
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """`statops serve` in a process of its own, its output in a file."""

    def __init__(self, home: Path, model: str, output: Path, *, workers: int = 1, open_files: int | None = None,
                 options: tuple[str, ...] = (), **settings: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ws = Workspace.open(home)
        try:
            self.token = _TOKENS[self.url] = api_token(ws)
        finally:
            ws.close()
        self.auth = bearer(self.token)
        self.output_path = output
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATOPS_")}
        env.update({f"STATOPS_{name.upper()}": value for name, value in settings.items()})

        def limit_open_files() -> None:  # in the child, before it runs statops
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        with output.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "statops", "serve", "--home", str(home), "--port", str(self.port),
                 "--workers", str(workers), "--preload", model, *options],
                env=env, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=limit_open_files)

    def wait_ready(self) -> Served:
        def ready() -> bool:
            assert self.process.poll() is None, self.output()
            try:
                return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, 90, "statops serve did not become ready")
        return self

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def workers(self) -> list[int]:
        """The worker processes of `--workers N` (uvicorn spawns them; not its resource tracker)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> float:
        """Send `sig` and wait for the process to end; returns how long that took."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout)
        return time.monotonic() - started


@contextmanager
def serving(*args: Any, **kwargs: Any) -> Iterator[Served]:
    served = Served(*args, **kwargs)
    try:
        yield served.wait_ready()
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(30)
