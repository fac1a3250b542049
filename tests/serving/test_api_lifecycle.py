"""The server's life: an answer waits for its log commit, a failing log makes requests wait or get 503
(never an answer without its log row), `statops serve`, the bounded model cache, and batch scoring
writing to the same log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import text

from statops.scoring.batch import score_file
from statops.scoring.cache import ModelCache
from tests.serving.live import (
    api_token,
    bearer,
    copy_version,
    live_server,
    log_count,
    logged,
    predict,
    server_settings,
    wait_for,
)


def test_an_answer_arrives_only_once_its_predictions_are_committed(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    settings = server_settings(ws, log_text=False)
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        ids = []
        for i in range(5):
            response = predict(client, trained.model, [f"nurse {i}", "bus driver"])
            ids += [p["id"] for p in response.json()["predictions"]]
            assert len(logged(ws, ids)) == len(ids)  # in the log as soon as it is answered
        assert server.runtime.prediction_log.backlog == 0
        writer = server.runtime.prediction_log
        assert writer.commits >= 1 and writer.written_rows >= 10
        server.stop()
    rows = logged(ws, ids)
    assert len(rows) == 10 and all(row.input_text is None and len(row.input_sha256) == 64 for row in rows)
    assert sorted(row.text_length for row in rows) == [7] * 5 + [10] * 5  # monitoring's length signal stays


def test_a_failing_log_makes_requests_wait_or_503_never_answer_unlogged(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    # Longer than the writer's longest pause between retries (5 s), so that a request waiting while
    # the store fails is answered once it recovers, however slow the machine running the test is.
    settings = server_settings(ws, log_wait_seconds=12.0)
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=60, headers=server.auth) as client:
        url = f"/v1/models/{trained.model}/predict"
        with ws.store.engine.begin() as connection:  # the log table disappears: every write fails
            connection.execute(text("ALTER TABLE prediction_log RENAME TO prediction_log_away"))
        try:
            refused = predict(client, trained.model, ["refused while the log fails"])
            assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"
            assert refused.headers["retry-after"] == "1"
            assert "did not commit this request's predictions within 12 s" in refused.json()["detail"]
            assert refused.json()["instance"] == url
            metrics = client.get("/metrics").text
            assert "statops_prediction_log_write_failures_total 0.0" not in metrics
            assert "statops_prediction_log_refusals_total 1.0" in metrics

            # A request that arrives while the log fails waits; the log recovers within its wait.
            pool = ThreadPoolExecutor(1)
            waiting = pool.submit(predict, client, trained.model, ["answered after the recovery"])
            not_ready = wait_for(lambda: (r := client.get("/readyz")).status_code == 503 and r, 5,
                                 "/readyz stayed ready while the log failed")
            body = not_ready.json()
            assert body["checks"]["prediction_log"].startswith("failed: ") and body["checks"]["store"] == "ok"
            assert "prediction_log" in body["detail"] and not waiting.done()
        finally:
            with ws.store.engine.begin() as connection:
                connection.execute(text("ALTER TABLE prediction_log_away RENAME TO prediction_log"))
        answered = waiting.result()
        pool.shutdown()
        assert answered.status_code == 200, answered.text
        assert len(logged(ws, [p["id"] for p in answered.json()["predictions"]])) == 1
        assert logged(ws, input_text="refused while the log fails") == []  # refused: never written
        wait_for(lambda: client.get("/readyz").status_code == 200, 10, "not ready again after the recovery")


def test_the_model_cache_is_bounded(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    copy_version(ws, (trained.model, trained.version), "occupation-lru")
    copy_version(ws, (trained.model, trained.version), "occupation-lru")
    try:
        cache = ModelCache(ws, capacity=1)
        first = cache.get(("occupation-lru", "1", None)).model
        assert cache.get(("occupation-lru", "1", None)).model is first and cache.loads == 1
        cache.get(("occupation-lru", "2", None))
        assert cache.loaded_versions() == [("occupation-lru", "2")] and cache.evictions == 1
        assert cache.peek(("occupation-lru", "1", None)) is None
        assert cache.get(("occupation-lru", "1", None)).model is not first and cache.loads == 3
    finally:
        ws.mlflow.delete_registered_model("occupation-lru")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_statops_serve_command_serves_and_flushes_on_sigterm(trained) -> None:  # noqa: ANN001
    ws, port = trained.ws, _free_port()
    token = api_token(ws, name="serve-command-user")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATOPS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "statops", "serve", "--home", str(ws.home), "--port", str(port),
         "--preload", trained.model], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=bearer(token)) as client:
            def ready() -> bool:
                try:
                    return client.get("/readyz").status_code == 200
                except httpx.TransportError:
                    assert process.poll() is None, process.stdout.read() if process.stdout else ""
                    return False

            wait_for(ready, 60, "statops serve did not become ready")
            response = predict(client, trained.model, ["primary school teacher", "welder"])
            ids = [p["id"] for p in response.json()["predictions"]]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert process.returncode in (0, -signal.SIGTERM), output  # uvicorn re-raises the signal it handled
    assert "prediction log flushed (2 rows written)" in output and token not in output
    assert [row.requested_by for row in logged(ws, ids)] == ["serve-command-user"] * 2


def test_score_with_log_writes_the_same_log_and_a_failed_job_leaves_nothing(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = trained.ws
    source = tmp_path / "survey.csv"
    pd.DataFrame({"text": ["nurse", "welder", "nurse"]}).to_csv(source, index=False)
    before = log_count(ws)
    summary = score_file(ws, trained.model, source, tmp_path / "out.csv", log=True)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert summary.logged == 3 and log_count(ws) == before + 3
    rows = logged(ws, source="batch", model=trained.model)
    mine = [r for r in rows if r.request_id == rows[-1].request_id]
    assert sorted(r.input_text for r in mine) == ["nurse", "nurse", "welder"]
    assert {r.requested_by for r in mine} == {ws.actor}  # the user the job ran as
    assert sorted(r.code for r in mine) == sorted(out["code"])

    seen: list[int] = []

    def interrupt_after_first_chunk(done: int, total: int | None) -> None:
        seen.append(log_count(ws))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_file(ws, trained.model, source, tmp_path / "out2.csv", chunk_rows=2, log=True,
                   progress=interrupt_after_first_chunk)
    assert seen == [before + 5]  # the first chunk was logged, then removed with the failed job
    assert log_count(ws) == before + 3


def test_not_ready_while_a_preloaded_model_is_missing(trained) -> None:  # noqa: ANN001
    settings = server_settings(trained.ws, serve_preload=[trained.model, "nope"])
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        response = wait_for(lambda: (r := client.get("/readyz")).json()["checks"]["preloaded"]["nope"] != "loading"
                            and r, 30, "the preload never finished")
        assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert "preload nope" in body["detail"] and body["checks"]["preloaded"]["nope"].startswith(
            "failed: unknown model nope")
        assert body["checks"]["store"] == "ok" and client.get("/healthz").status_code == 200


def test_score_command_log_option(trained, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    from statops.cli.app import main

    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["nurse", "welder"]}).to_csv(source, index=False)
    before = log_count(trained.ws)
    monkeypatch.setattr(sys, "argv", ["statops", "score", trained.model, str(source), str(tmp_path / "out.csv"),
                                      "--log", "--home", str(trained.ws.home)])
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("STATOPS_TOKEN", api_token(trained.ws, name="batch-clerk"))  # act as a coder
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code in (0, None)
    assert "Logged 2 predictions to the prediction log" in capsys.readouterr().out
    assert log_count(trained.ws) == before + 2
    assert sorted(r.input_text for r in logged(trained.ws, requested_by="batch-clerk")) == ["nurse", "welder"]
