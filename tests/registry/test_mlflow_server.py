"""STATOPS_MLFLOW_URI: the same flow against a real MLflow tracking server on a loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from statops import Workspace
from statops.classifications import add_classification
from statops.data import add_dataset
from statops.registry import load_model, resolve_model, train_and_register
from statops.scoring.batch import score_file


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
         "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_train_register_and_score_through_an_mlflow_server(mlflow_server: str, soc, tmp_path: Path,  # noqa: ANN001
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATOPS_MLFLOW_URI", mlflow_server)
    ws = Workspace.init(tmp_path / "ws")
    assert ws.mlflow_uri == mlflow_server
    add_classification(ws, "soc2010", soc.structure, version="2010")
    add_dataset(ws, "train", soc.train, "text", "soc2010", "soc2010")
    outcome = train_and_register(ws, "remote-coder", "train")
    assert not (tmp_path / "ws" / "mlflow.db").exists()
    ref = resolve_model(ws, "remote-coder")
    assert ref.version == outcome.registered.version == "1"
    model = load_model(ws, ref)
    pd.DataFrame({"text": ["chartered accountant", "bus driver"]}).to_csv(tmp_path / "in.csv", index=False)
    summary = score_file(ws, "remote-coder", tmp_path / "in.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert summary.rows == 2
    assert out["code"].tolist() == model.predict_frame(pd.Series(["chartered accountant", "bus driver"]))["code"].tolist()
