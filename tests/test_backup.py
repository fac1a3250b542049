"""statops backup and restore: a consistent archive of a live workspace, and back again."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import tarfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest

from statops import Conflict, InvalidInput, NotFound, Workspace
from statops.scoring.batch import score_file
from statops.workspace_backup import ARCHIVE_FOLDER, backup_workspace, restore_workspace
from tests.cli_runner import run_cli
from tests.serving.live import live_server, log_count, predict, server_settings, wait_for


def _integrity(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    connection.close()
    return result


def _served(url: str, model: str, texts: list[str]) -> list[tuple[str, float, str]]:
    with httpx.Client(base_url=url, timeout=60) as client:
        response = predict(client, model, texts)
    assert response.status_code == 200, response.text
    return [(p["code"], p["confidence"], p["decision"]) for p in response.json()["predictions"]]


class Load:
    """Predict requests sent one after another from a thread while the test does other work. What
    fails inside that thread (an assertion, a dropped connection) is raised again in the test."""

    def __init__(self, url: str, model: str, texts: list[str]):
        self.url, self.model, self.texts = url, model, texts
        self.acknowledged = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="load")
        self._sender: Future[None] | None = None

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                response = predict(client, self.model, self.texts)
                if response.status_code == 200:
                    self.acknowledged += 1
                else:
                    self.failures.append(response.text)

    def _raise_if_stopped(self) -> None:
        assert self._sender is not None
        if self._sender.done():
            self._sender.result()  # re-raises what ended the thread

    def __enter__(self) -> Load:
        self._sender = self._pool.submit(self._run)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        try:
            if exc_type is None:  # otherwise the test's own error is the one to see
                assert self._sender is not None
                self._sender.result(timeout=60)
        finally:
            self._pool.shutdown(wait=False)

    def wait_for_more(self, count: int) -> None:
        target = self.acknowledged + count

        def more() -> bool:
            self._raise_if_stopped()
            return self.acknowledged >= target

        wait_for(more, 30, "the load stopped")


def test_a_backup_taken_under_load_restores_the_same_workspace(trained, tmp_path: Path) -> None:  # noqa: ANN001
    if not trained.ws.embedded_store:
        pytest.skip("the prediction log is in PostgreSQL, which a backup leaves to pg_dump")
    shutil.copytree(trained.ws.home, tmp_path / "live")
    ws = Workspace.open(tmp_path / "live")
    texts = pd.read_csv(trained.soc.test, dtype=str, keep_default_na=False)["text"].tolist()[:20]
    score_file(ws, trained.model, trained.soc.test, tmp_path / "before.parquet")
    stages: list[str] = []
    with live_server(server_settings(ws)) as server:
        served_before = _served(server.url, trained.model, texts)
        with Load(server.url, trained.model, texts) as load:
            wait_for(lambda: log_count(ws) > 0, 30, "nothing reached the prediction log")
            rows_before = log_count(ws)

            def progress(stage: str, fraction: float) -> None:
                stages.append(stage)
                load.wait_for_more(2)  # the server keeps writing between every step of the backup

            summary = backup_workspace(ws, tmp_path / "backup.tar.gz", progress=progress)
            load.wait_for_more(2)
        assert not load.failures
    rows_after = log_count(ws)  # the server has stopped: every acknowledged prediction is written
    assert {"copying statops.db", "copying mlflow.db", "archiving files"} <= set(stages)
    assert summary.databases == ["statops.db", "mlflow.db"] and summary.not_included == []
    assert summary.prediction_log_rows is not None and rows_before <= summary.prediction_log_rows < rows_after
    assert (tmp_path / "backup.tar.gz").stat().st_mode & 0o077 == 0  # it holds the prediction log
    ws.close()

    restored = restore_workspace(tmp_path / "backup.tar.gz", tmp_path / "restored")
    home = tmp_path / "restored"
    assert restored.home == home and trained.model in restored.models
    assert restored.prediction_log_rows == summary.prediction_log_rows
    assert _integrity(home / "statops.db") == ["ok"] and _integrity(home / "mlflow.db") == ["ok"]
    assert restored.relocation is not None and restored.relocation.old_root == tmp_path / "live"
    back = Workspace.open(home)
    assert log_count(back) == summary.prediction_log_rows
    score_file(back, trained.model, trained.soc.test, tmp_path / "after.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "after.parquet"),
                                  pd.read_parquet(tmp_path / "before.parquet"))
    with live_server(server_settings(back)) as server:
        assert _served(server.url, trained.model, texts) == served_before
    back.close()


def test_backup_refuses_what_would_lose_or_hide_data(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = Workspace.open(trained.ws.home)
    with pytest.raises(InvalidInput, match="inside the workspace"):
        backup_workspace(ws, ws.home / "backup.tar.gz")
    with pytest.raises(InvalidInput, match=r"\.tar\.gz"):
        backup_workspace(ws, tmp_path / "backup.zip")
    (tmp_path / "taken.tar.gz").write_text("keep me")
    with pytest.raises(Conflict, match="--force"):
        backup_workspace(ws, tmp_path / "taken.tar.gz")
    assert (tmp_path / "taken.tar.gz").read_text() == "keep me"
    summary = backup_workspace(ws, tmp_path / "taken.tar.gz", force=True)
    assert tarfile.is_tarfile(summary.archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.tar.gz"]  # no scratch left beside it
    if ws.embedded_store:
        assert summary.not_included == []
    else:  # PostgreSQL: said, not silently left out
        assert summary.databases == ["mlflow.db"] and "pg_dump" in summary.not_included[0]
    ws.close()


def _archive(path: Path, members: dict[str, bytes | Path]) -> Path:
    """A .tar.gz with these files (bytes) and symbolic links (a Path: where the link points)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, Path):
                info.type, info.linkname = tarfile.SYMTYPE, str(content)
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


def test_restore_refuses_unsafe_damaged_or_foreign_archives_and_leaves_nothing(trained, tmp_path: Path) -> None:  # noqa: ANN001
    good = backup_workspace(Workspace.open(trained.ws.home), tmp_path / "good.tar.gz").archive
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases = [
        (truncated, "not a complete statops backup"),
        (_archive(tmp_path / "escape.tar.gz", {f"{ARCHIVE_FOLDER}/../../evil": b"x"}), "not a statops backup"),
        (_archive(tmp_path / "link.tar.gz", {f"{ARCHIVE_FOLDER}/snapshots": Path("/etc")}), "holds a link"),
        # a relative link that stays inside the scratch folder but points out of the restored one
        (_archive(tmp_path / "relative.tar.gz", {f"{ARCHIVE_FOLDER}/snapshots/evil": Path("../../outside.txt")}),
         "holds a link"),
        (_archive(tmp_path / "badmanifest.tar.gz", {f"{ARCHIVE_FOLDER}/statops-backup.json": b"{not json"}),
         "cannot be read"),
        (_archive(tmp_path / "foreign.tar.gz", {"etc/passwd": b"x"}), "not a statops backup"),
        (_archive(tmp_path / "nomanifest.tar.gz", {f"{ARCHIVE_FOLDER}/statops.toml": b""}), "statops-backup.json"),
    ]
    target = tmp_path / "out" / "ws"
    for archive, message in cases:
        with pytest.raises(InvalidInput, match=message):
            restore_workspace(archive, target)
        assert not target.exists(), archive.name
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), archive.name
    assert not (tmp_path / "evil").exists()
    with pytest.raises(NotFound):
        restore_workspace(tmp_path / "missing.tar.gz", target)
    target.mkdir(parents=True)
    (target / "x").write_text("")
    with pytest.raises(Conflict, match="not empty"):
        restore_workspace(good, target)
    (target / "x").unlink()
    restored = restore_workspace(good, target)  # an empty folder is fine
    assert restored.home == target and (target / "statops.toml").is_file()


def test_backup_and_restore_commands(trained, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    archive = tmp_path / "ws.tar.gz"
    home = str(trained.ws.home)
    code, out, _ = run_cli(capsys, monkeypatch, "backup", str(archive), "--home", home)
    assert code == 0 and "Backed up" in out and "statops restore" in out
    code, _, err = run_cli(capsys, monkeypatch, "backup", str(archive), "--home", home)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run_cli(capsys, monkeypatch, "restore", str(archive), str(tmp_path / "back"))
    assert code == 0 and "Restored" in out and trained.model in out, out
    code, _, err = run_cli(capsys, monkeypatch, "restore", str(archive), str(tmp_path / "back"))
    assert code == 2 and "not empty" in err and len(err.strip().splitlines()) == 1
    for command in ("backup", "restore"):
        code, out, _ = run_cli(capsys, monkeypatch, command, "--help")
        assert code == 0 and f"Example: statops {command}" in out


def test_a_backup_holds_what_links_point_to_and_leaves_out_pipes(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.txt").write_text("kept")
    (ws.home / "linked").symlink_to(outside)
    os.mkfifo(ws.home / "pipe")
    (ws.home / "loop").symlink_to(ws.home)  # a link back up: walked once, not forever
    summary = backup_workspace(ws, tmp_path / "b.tar.gz")
    with tarfile.open(summary.archive) as tar:
        assert not [name for name in tar.getnames() if "/loop/" in name]
    assert summary.prediction_log_rows == 0 and summary.databases == ["statops.db", "mlflow.db"]
    restored = restore_workspace(summary.archive, tmp_path / "restored")
    assert restored.models == [] and restored.datasets == 0
    linked = tmp_path / "restored" / "linked"
    assert not linked.is_symlink() and (linked / "notes.txt").read_text() == "kept"
    assert not (tmp_path / "restored" / "pipe").exists()
    assert (tmp_path / "restored" / "snapshots").is_dir() and (tmp_path / "restored" / "mlartifacts").is_dir()
    ws.close()
