"""A workspace folder moved or copied keeps every model, run, dataset and the prediction log working."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest

from statops import Workspace
from statops.registry import evaluate_version
from statops.relocation import ROOT_TAG, _rewriter
from statops.scoring.batch import score_file
from tests.serving.live import live_server, log_count, predict, server_settings

# Relocation is about the embedded MLflow store, which every backend of our store shares.


def _copy(source: Path, target: Path) -> Path:
    """What `cp -a` does."""
    shutil.copytree(source, target, symlinks=True)
    return target


def _mlflow_text(home: Path) -> str:
    with sqlite3.connect(home / "mlflow.db") as connection:
        text = "\n".join(connection.iterdump())
    connection.close()
    return text


def _scored(ws: Workspace, model: str, test: Path, out: Path, log: bool = False) -> pd.DataFrame:
    score_file(ws, model, test, out, log=log)
    return pd.read_parquet(out)


def _served(ws: Workspace, model: str, texts: list[str]) -> list[dict[str, object]]:
    with live_server(server_settings(ws)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        response = predict(client, model, texts)
        assert response.status_code == 200, response.text
        results = response.json()["predictions"]
    return [{k: r[k] for k in ("code", "confidence", "decision")} for r in results]


def test_a_moved_workspace_scores_serves_evaluates_and_loads_as_before(trained, tmp_path: Path) -> None:  # noqa: ANN001
    first = _copy(trained.ws.home, tmp_path / "first")
    ws = Workspace.open(first)
    texts = pd.read_csv(trained.soc.test, dtype=str, keep_default_na=False)["text"].tolist()[:50]
    before = _scored(ws, trained.model, trained.soc.test, tmp_path / "before.parquet", log=True)
    served_before = _served(ws, trained.model, texts)
    evaluated_before = evaluate_version(ws, trained.model, "soc-test").evaluation.metrics()
    rows_before = log_count(ws)
    ws.close()

    moved = tmp_path / "moved here, é"  # a space and a non-ASCII letter: file URIs are percent-encoded
    first.rename(moved)
    ws = Workspace.open(moved)
    assert ws.relocation is not None and ws.relocation.old_root == first and ws.relocation.locations > 0
    assert str(first) not in _mlflow_text(moved)
    assert log_count(ws) == rows_before
    after = _scored(ws, trained.model, trained.soc.test, tmp_path / "after.parquet")
    pd.testing.assert_frame_equal(after, before)
    assert _served(ws, trained.model, texts) == served_before
    assert evaluate_version(ws, trained.model, "soc-test").evaluation.metrics() == evaluated_before
    ws.activate_mlflow()
    pyfunc = mlflow.pyfunc.load_model(f"models:/{trained.model}/{trained.version}")
    predicted = pyfunc.predict(pd.DataFrame({"text": texts}))
    assert predicted["code"].tolist() == before["code"].head(50).tolist()
    # Every dataset a run used is found at its new place.
    run = ws.mlflow.get_run(ws.mlflow.get_model_version(trained.model, trained.version).run_id)
    sources = [inp.dataset.source for inp in run.inputs.dataset_inputs]
    assert sources and all(moved.as_uri() in source for source in sources)
    assert Workspace.open(moved).relocation is None  # done once; later opens only look
    ws.close()


def test_a_copy_works_and_the_original_still_does(trained, tmp_path: Path) -> None:  # noqa: ANN001
    original = _copy(trained.ws.home, tmp_path / "original")
    ws = Workspace.open(original)
    before = _scored(ws, trained.model, trained.soc.test, tmp_path / "before.parquet")
    ws.close()

    copy = Workspace.open(_copy(original, tmp_path / "copy"))
    assert copy.relocation is not None and copy.relocation.old_root == original
    pd.testing.assert_frame_equal(_scored(copy, trained.model, trained.soc.test, tmp_path / "copy.parquet"), before)
    assert f"{original}/" not in _mlflow_text(copy.home)
    copy.close()

    again = Workspace.open(original)
    assert again.relocation is None
    assert str(copy.home) not in _mlflow_text(original)
    shutil.rmtree(copy.home)  # the original needs nothing of the copy
    pd.testing.assert_frame_equal(_scored(again, trained.model, trained.soc.test, tmp_path / "again.parquet"), before)
    again.close()


def test_a_workspace_from_before_relocation_is_found_from_its_experiments(trained, tmp_path: Path) -> None:  # noqa: ANN001
    """Workspaces made before statops recorded its folder: the old folder is read off the
    experiments' artifact locations, and the Default experiment is brought inside the folder."""
    old = _copy(trained.ws.home, tmp_path / "old")
    Workspace.open(old).close()
    with sqlite3.connect(old / "mlflow.db") as connection:
        connection.execute("DELETE FROM experiment_tags WHERE key = ?", (ROOT_TAG,))
        connection.execute("UPDATE experiments SET artifact_location = '/somewhere/else/mlruns/0' "
                           "WHERE experiment_id = 0")
    connection.close()
    new = tmp_path / "new"
    old.rename(new)
    ws = Workspace.open(new)
    assert ws.relocation is not None and ws.relocation.old_root == old
    assert ws.mlflow.get_experiment("0").artifact_location == (new / "mlartifacts" / "0").as_uri()
    assert str(old) not in _mlflow_text(new)
    assert len(_scored(ws, trained.model, trained.soc.test, tmp_path / "out.parquet")) == 800
    ws.close()


def test_init_keeps_the_default_experiment_inside_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ws = Workspace.init(tmp_path / "ws")
    assert ws.mlflow.get_experiment("0").artifact_location == (ws.home / "mlartifacts" / "0").as_uri()
    assert not (elsewhere / "mlruns").exists()
    assert ws.relocation is not None and not ws.relocation.moved  # a new store records its folder
    again = Workspace.init(tmp_path / "ws")
    assert again.existed and again.relocation is None


def test_only_whole_locations_under_the_old_folder_are_rewritten() -> None:
    rewrite = _rewriter(Path("/data/ws"), Path("/new place/ws"))
    assert rewrite("file:///data/ws/mlartifacts/x") == "file:///new%20place/ws/mlartifacts/x"
    assert rewrite("file:///data/ws") == "file:///new%20place/ws"
    assert rewrite("/data/ws/not-a-model") == "/new place/ws/not-a-model"
    assert rewrite('{"uri": "file:///data/ws/snapshots/a.parquet"}') == \
        '{"uri": "file:///new%20place/ws/snapshots/a.parquet"}'
    for untouched in ("file:///data/ws2/x", "/data/ws2", "/other/data/ws/x", "s3://bucket/data/ws/x",
                      "models:/m-1", "a note about /data/ws/x", None):
        assert rewrite(untouched) == untouched
    back = _rewriter(Path("/new place/ws"), Path("/data/ws"))
    assert back("file:///new%20place/ws/m") == "file:///data/ws/m"
    assert back("file:///new place/ws/m") == "file:///data/ws/m"


def test_one_folder_seen_under_two_paths_is_not_rewritten_back_and_forth(tmp_path: Path) -> None:
    """A bind mount (a container's view of a host folder, say): both paths name the same folder, so
    the locations recorded under one still hold under the other."""
    import subprocess

    Workspace.init(tmp_path / "ws").close()
    before = _mlflow_text(tmp_path / "ws")
    other = tmp_path / "mounted"
    other.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(tmp_path / "ws"), str(other)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"bind mounts are not allowed here: {mounted.stderr.decode().strip()}")
    try:
        for home in (other, tmp_path / "ws", other):
            ws = Workspace.open(home)
            assert ws.relocation is None
            ws.close()
        assert _mlflow_text(tmp_path / "ws") == before
    finally:
        subprocess.run(["umount", str(other)], check=True)
