from __future__ import annotations

import os
from pathlib import Path

import pytest

from statops import InvalidInput, NotFound, Workspace
from statops.settings import load_settings
from tests.cli_runner import run_cli


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


@pytest.mark.parametrize("where", ["file", "under a file", "under /dev/null"])
def test_an_unusable_home_is_one_clear_error(tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    home = {"file": a_file, "under a file": a_file / "ws", "under /dev/null": Path("/dev/null/ws")}[where]
    for action in (Workspace.init, Workspace.open):
        with pytest.raises(InvalidInput, match="not a folder"):
            action(home)
    assert a_file.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_a_home_without_write_permission_is_one_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(InvalidInput, match="locked"):
            Workspace.init(locked / "ws")
        with pytest.raises(InvalidInput, match="not writable"):
            Workspace.init(locked)
    finally:
        locked.chmod(0o700)




@pytest.mark.parametrize("home", ["{file}", "{file}/ws", "/dev/null", "/dev/null/ws"])
@pytest.mark.parametrize("command", [["init"], ["data", "list"], ["backup", "{tmp}/b.tar.gz"]])
def test_cli_with_an_unusable_home_prints_one_line_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        home: str, command: list[str]) -> None:
    (tmp_path / "file").write_text("")
    fill = {"file": str(tmp_path / "file"), "tmp": str(tmp_path)}
    args = [part.format(**fill) for part in [*command, "--home", home]]
    code, out, err = run_cli(capsys, monkeypatch, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "not a folder" in err and "Traceback" not in err


def test_init_says_when_the_workspace_already_existed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    home = str(tmp_path / "ws")
    code, out, _ = run_cli(capsys, monkeypatch, "init", "--home", home)
    assert code == 0 and "Workspace ready" in out and "already" not in out
    code, out, _ = run_cli(capsys, monkeypatch, "init", "--home", home)
    assert code == 0 and "already existed" in out and "brought it up to date" in out
    moved = tmp_path / "moved"
    (tmp_path / "ws").rename(moved)
    code, out, _ = run_cli(capsys, monkeypatch, "init", "--home", str(moved))
    assert code == 0 and "already existed" in out and "It had moved" in out and f"  {tmp_path / 'ws'}\n" in out
