"""Files as offices have them, who acted, Ctrl-C, and output for scripts: as a user meets them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from statops import Workspace
from statops.data import get_dataset
from statops.tables import TextFormat, read_table, sniff_separator
from tests.cli_runner import run_cli as run


def test_a_latin1_file_is_read_with_its_encoding(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    home = tmp_path / "ws"
    source = tmp_path / "latin1.csv"
    source.write_bytes("text;code\ncaf\u00e9 owner;1223\nd\u00e9panneur;8149\n".encode("latin-1"))
    code, _, err = run(capsys, monkeypatch, "init", "--home", str(home))
    code, _, err = run(capsys, monkeypatch, "data", "add", "d", str(source), "--label-column", "code",
                       "--home", str(home))
    assert code == 2 and "not UTF-8 text" in err and "--encoding" in err
    code, out, err = run(capsys, monkeypatch, "data", "add", "d", str(source), "--label-column", "code",
                         "--encoding", "latin-1", "--home", str(home))
    assert code == 0, err
    assert "Added dataset d@1: 2 rows" in out
    code, out, _ = run(capsys, monkeypatch, "data", "show", "d@1", "--json", "--home", str(home))
    shown = json.loads(out)
    assert shown["rows"] == 2 and shown["labels"]["distinct_codes"] == 2


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolon"), ("|", "vertical bar"), ("\t", "tab")])
def test_separators_are_sniffed(separator: str, name: str, tmp_path: Path) -> None:
    source = tmp_path / "answers.csv"
    source.write_text(f"id{separator}text\n1{separator}nurse, adult\n2{separator}bus driver\n", encoding="utf-8")
    frame = read_table(source)
    assert list(frame.columns) == ["id", "text"]
    assert frame["text"].tolist() == ["nurse, adult", "bus driver"]


def test_a_one_column_file_takes_the_separator_under_which_no_row_splits() -> None:
    assert sniff_separator("text\nnurse, adult\nbus driver\n") == ";"
    assert sniff_separator('text\n"nurse, adult"\nbus driver\n') == ","


def test_rows_that_do_not_fit_the_header_get_a_hint(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    source = tmp_path / "answers.csv"
    source.write_text("id,text\n1,nurse\n2,bus driver, part time\n", encoding="utf-8")
    home = tmp_path / "ws"
    run(capsys, monkeypatch, "init", "--home", str(home))
    code, _, err = run(capsys, monkeypatch, "data", "add", "d", str(source), "--home", str(home))
    assert code == 2 and err.strip().count("\n") == 0
    assert "line 3 has 3 fields but the header has 2" in err and "--separator" in err and "double quotes" in err
    source.write_text("text,code\nnurse,2231,extra\n", encoding="utf-8")  # a first row longer than the header
    code, _, err = run(capsys, monkeypatch, "data", "add", "d", str(source), "--home", str(home))
    assert code == 2 and "more fields than the header" in err


def test_separator_and_encoding_options_are_checked() -> None:
    assert TextFormat(separator="tab").separator == "\t"
    assert TextFormat(separator="semicolon").separator == ";"
    with pytest.raises(Exception, match="unknown encoding 'klingon'"):
        TextFormat(encoding="klingon")
    with pytest.raises(Exception, match="one character"):
        TextFormat(separator=";;")


def test_labels_above_the_lowest_level_are_accepted_with_a_note(soc, tmp_path: Path, capsys,  # noqa: ANN001
                                                                 monkeypatch) -> None:
    home = tmp_path / "ws"
    run(capsys, monkeypatch, "init", "--home", str(home))
    run(capsys, monkeypatch, "classifications", "add", "soc2010", str(soc.structure), "--home", str(home))
    source = tmp_path / "mixed.csv"
    source.write_text("text,soc2010\nnurse,2231\nmanager,1\nteacher,23\n", encoding="utf-8")
    code, out, _ = run(capsys, monkeypatch, "data", "add", "mixed", str(source), "--label-column", "soc2010",
                       "--classification", "soc2010", "--home", str(home))
    assert code == 0 and "Added dataset mixed@1" in out
    assert "2 row(s)" in out and "above the lowest level" in out and "1 (1 rows)" in out


def test_the_acting_user_is_never_unknown(tmp_path: Path) -> None:
    """A process with no USER or LOGNAME (cron, systemd, containers) records the OS account."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("USER", "LOGNAME", "USERNAME", "LNAME") and not k.startswith("STATOPS_")}
    home = tmp_path / "ws"
    source = tmp_path / "answers.csv"
    source.write_text("text\nnurse\n", encoding="utf-8")
    for args in (["init"], ["data", "add", "answers", str(source)]):
        subprocess.run([sys.executable, "-m", "statops", *args, "--home", str(home)], env=env, check=True,
                       capture_output=True, timeout=120)
    ws = Workspace.open(home)
    try:
        import pwd
        assert get_dataset(ws, "answers").created_by == pwd.getpwuid(os.getuid()).pw_name
    finally:
        ws.close()


def test_demo_data_writes_the_bundled_csv_files_with_their_licence(tmp_path: Path, capsys,  # noqa: ANN001
                                                                    monkeypatch) -> None:
    folder = tmp_path / "soc2010"
    code, out, _ = run(capsys, monkeypatch, "demo", "--data", str(folder))
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["ATTRIBUTION.txt", "dev.csv", "structure.csv", "test.csv",
                                                       "train.csv"]
    assert "Open Government Licence" in (folder / "ATTRIBUTION.txt").read_text()
    train = pd.read_csv(folder / "train.csv", dtype=str)
    assert len(train) == 20052 and {"text", "soc2010"} <= set(train.columns)
    code, _, err = run(capsys, monkeypatch, "demo", "--data", str(folder))
    assert code == 2 and "already exist" in err


def test_ctrl_c_says_what_was_not_written(trained, tmp_path: Path) -> None:  # noqa: ANN001
    """A real process, a real SIGINT in the middle of scoring a large file."""
    big = tmp_path / "big.csv"
    frame = pd.read_csv(trained.soc.test, dtype=str)[["text"]]
    pd.concat([frame] * 400, ignore_index=True).to_csv(big, index=False)  # 320,000 rows
    output = tmp_path / "coded.csv"
    logged_before = _logged(trained.ws)
    env = {**os.environ, "COLUMNS": "80"}
    if trained.ws.settings.database_url:
        env["STATOPS_DATABASE_URL"] = trained.ws.settings.database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "statops", "score", trained.model, str(big), str(output), "--log", "--chunk-rows",
         "5000", "--home", str(trained.ws.home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while _logged(trained.ws) == logged_before:  # the job has written its first rows to the log
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted: no coded.csv was written and no predictions were logged" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]  # no output, no partial file
    assert _logged(trained.ws) == logged_before  # the job's rows that had been logged are gone again


def _logged(ws: Workspace) -> int:
    with ws.store.session() as session:
        return int(session.execute(text("SELECT count(*) FROM prediction_log")).scalar_one())
