"""The command line as a user meets it: exit codes, one-line errors, help with examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.cli_runner import run_cli as run


@pytest.fixture
def home(tmp_path: Path, capsys, monkeypatch) -> Path:  # noqa: ANN001
    home = tmp_path / "ws"
    assert run(capsys, monkeypatch, "init", "--home", str(home))[0] == 0
    return home


def test_help_on_every_command_has_an_example(capsys, monkeypatch) -> None:  # noqa: ANN001
    commands = [["init"], ["classifications", "add"], ["classifications", "list"], ["classifications", "show"],
                ["data", "add"], ["data", "list"], ["data", "show"], ["train"], ["evaluate"],
                ["models", "list"], ["models", "show"], ["score"], ["demo"], ["backup"], ["restore"]]
    for command in commands:
        code, out, _ = run(capsys, monkeypatch, *command, "--help")
        assert code == 0 and "Example: statops " + command[0] in out, command


def test_a_user_flow_from_init_to_score(home: Path, soc, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    h = ["--home", str(home)]
    code, out, _ = run(capsys, monkeypatch, "classifications", "add", "soc2010", str(soc.structure), "--version", "2010", *h)
    assert code == 0 and "493 codes" in out
    code, out, _ = run(capsys, monkeypatch, "data", "add", "tr", str(soc.train), "--text-column", "text",
                       "--label-column", "soc2010", "--classification", "soc2010", "--cycle", "2024Q1",
                       "--gsbpm", "5.2", *h)
    assert code == 0 and "Added dataset tr@1" in out
    code, out, _ = run(capsys, monkeypatch, "data", "add", "tr", str(soc.train), "--label-column", "soc2010", *h)
    assert code == 0 and "already dataset tr@1" in out
    code, out, _ = run(capsys, monkeypatch, "data", "show", "tr@1", *h)
    assert code == 0 and "Classify and code" in out and "Most frequent codes" in out
    code, out, _ = run(capsys, monkeypatch, "train", "occ", "--data", "tr", "--seed", "1", *h)
    assert code == 0 and "Registered occ version 1" in out and "accuracy (unit)" in out
    code, out, _ = run(capsys, monkeypatch, "evaluate", "occ/1", "--data", "tr", *h)
    assert code == 0 and "top-5 accuracy" in out
    code, out, _ = run(capsys, monkeypatch, "models", "show", "occ", *h)
    assert code == 0 and "tr@1" in out
    code, out, _ = run(capsys, monkeypatch, "score", "occ", str(soc.test), str(tmp_path / "coded.parquet"), *h)
    assert code == 0 and "Scored 800 rows" in out and "latest version" in out
    assert len(pd.read_parquet(tmp_path / "coded.parquet")) == 800


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "list"], "no statops workspace"),
        (["data", "show", "nothing"], "unknown dataset nothing"),
        (["score", "nope", "in.csv", "out.csv"], "unknown model nope"),
        (["evaluate", "nope/1", "--data", "x"], "unknown model nope"),
        (["data", "add", "d", "{empty}", "--label-column", "code"], "is empty"),
        (["data", "add", "d", "{latin1}", "--label-column", "code"], "not UTF-8 text"),
        (["data", "add", "d", "{good}", "--text-column", "txet", "--label-column", "code"], "did you mean 'text'"),
        (["data", "add", "d", "{good}", "--label-column", "code", "--classification", "nope"], "unknown classification"),
        (["classifications", "add", "c", "{good}"], "lacks column"),
        (["score", "occ", "{good}", "{out}"], "unknown model occ"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(args: list[str], message: str, home: Path, tmp_path: Path,
                                            capsys, monkeypatch) -> None:  # noqa: ANN001
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "latin1.csv").write_bytes("text,code\ncaf\u00e9,1\n".encode("latin-1"))
    (tmp_path / "good.csv").write_text("text,code\naccountant,2421\n")
    files = {"empty": tmp_path / "empty.csv", "latin1": tmp_path / "latin1.csv", "good": tmp_path / "good.csv",
             "out": tmp_path / "out.csv"}
    args = [a.format(**files) for a in args]
    if args[:2] != ["data", "list"]:
        args += ["--home", str(home)]
    else:
        args += ["--home", str(tmp_path / "missing")]
    code, _, err = run(capsys, monkeypatch, *args)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    assert not (tmp_path / "out.csv").exists()


def test_scoring_a_file_without_the_text_column(trained, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    source = tmp_path / "answers.csv"
    source.write_text("answer\naccountant\n")
    code, _, err = run(capsys, monkeypatch, "score", trained.model, str(source), str(tmp_path / "o.csv"),
                       "--home", str(trained.ws.home))
    assert code == 2 and "no column 'text'" in err and "answer" in err
    assert not (tmp_path / "o.csv").exists()


def test_python_dash_m_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "statops", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("statops ")
