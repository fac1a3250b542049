from __future__ import annotations

import os
from pathlib import Path

import pytest

from statops import NotFound, Workspace
from statops.settings import load_settings


def test_home_comes_from_argument_then_environment_then_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().resolved_home == tmp_path / "statops-home"
    monkeypatch.setenv("STATOPS_HOME", str(tmp_path / "from-env"))
    assert load_settings().resolved_home == tmp_path / "from-env"
    assert load_settings(tmp_path / "explicit").resolved_home == tmp_path / "explicit"


def test_workspace_file_settings_are_overridden_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "statops.toml").write_text('[statops]\nuser = "from-file"\nscore_chunk_rows = 7\n')
    settings = load_settings(home)
    assert (settings.user, settings.score_chunk_rows) == ("from-file", 7)
    monkeypatch.setenv("STATOPS_USER", "from-env")
    assert load_settings(home).user == "from-env"


def test_init_creates_store_mlflow_and_folders(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    for name in ("statops.toml", "statops.db", "mlflow.db", "snapshots", "mlartifacts"):
        assert (tmp_path / "ws" / name).exists(), name
    assert ws.store.is_current()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    # init is idempotent
    Workspace.init(tmp_path / "ws")
    assert Workspace.open(tmp_path / "ws").store.is_current()


def test_opening_a_missing_workspace_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="statops init"):
        Workspace.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_a_workspace_remembers_the_stores_it_was_created_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    Workspace.init(tmp_path / "ws", database_url=url)
    assert Workspace.open(tmp_path / "ws").database_url == url
    assert (tmp_path / "ws" / "statops.toml").stat().st_mode & 0o077 == 0
