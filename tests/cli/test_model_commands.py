"""statops train | evaluate | models list | models show, as a user meets them in an 80-column
terminal: nothing cut, nothing past the edge, JSON for scripts, no MLflow chatter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from statops.cli.app import main
from tests.conftest import sqlite_only

WIDTH = 80


def statops(*args: str, columns: int = WIDTH) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATOPS_")}
    env.update(COLUMNS=str(columns), LINES="50", NO_COLOR="1", TERM="dumb")
    return subprocess.run([sys.executable, "-m", "statops", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def assert_fits(out: str, long_ok: tuple[str, ...] = ()) -> None:
    """Every line fits the terminal and no cell was cut short; lines holding one of `long_ok` (a
    path printed whole so it can be copied) may run past."""
    assert "…" not in out, out
    for line in out.splitlines():
        if not any(text in line for text in long_ok):
            assert len(line) <= WIDTH, f"{len(line)} columns: {line!r}"


def test_models_show_and_list_fit_80_columns_and_give_json(trained) -> None:  # noqa: ANN001
    sqlite_only(trained.ws, "what the commands print does not depend on the store")
    home = str(trained.ws.home)
    done = statops("evaluate", f"{trained.model}/{trained.version}", "--data", "soc-test", "--home", home)
    assert done.returncode == 0, done.stderr
    show = statops("models", "show", trained.model, "--home", home)
    assert show.returncode == 0, show.stderr
    assert_fits(show.stdout)
    for text in ("version", "trained on", "soc-train@1", "soc-dev@1 (dev)", "soc-test@1", "--wide"):
        assert text in show.stdout, text
    detail = json.loads(statops("models", "show", trained.model, "--json", "--home", home).stdout)
    [version] = [v for v in detail["versions"] if v["version"] == trained.version]
    kinds = {(e["kind"], e["dataset"]) for e in version["evaluations"]}
    assert {("dev", "soc-dev@1"), ("evaluation", "soc-test@1")} <= kinds
    assert version["trained_on"] == "soc-train@1" and 0 < version["threshold"] <= 1
    wide = statops("models", "show", trained.model, "--wide", "--home", home)
    assert wide.returncode == 0 and "…" not in wide.stdout
    assert "MLflow run" in wide.stdout and version["run_id"] in wide.stdout  # whole, on one line
    assert "top-5" in wide.stdout and "threshold" in wide.stdout

    listing = statops("models", "list", "--home", home)
    assert listing.returncode == 0, listing.stderr
    assert_fits(listing.stdout)
    assert trained.model in listing.stdout
    models = json.loads(statops("models", "list", "--json", "--home", home).stdout)
    assert trained.model in [m["name"] for m in models]


def test_evaluate_prints_the_levels_and_where_its_files_are(trained, tmp_path: Path) -> None:  # noqa: ANN001
    sqlite_only(trained.ws, "what evaluate prints does not depend on the store")
    home = str(trained.ws.home)
    report = tmp_path / "report.html"
    done = statops("evaluate", f"{trained.model}/{trained.version}", "--data", "soc-test", "--report", str(report),
                   "--home", home)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert_fits(out, long_ok=(home, str(tmp_path)))
    for text in ("Accuracy by level", "unit", "major", "top-5 accuracy", "Worst-coded codes",
                 "Most frequent confusions", "evaluation_per_code.csv", "evaluation_report.html",
                 f"Report written to {report}"):
        assert text in out, text
    run_id = out.split("Logged as MLflow run ", 1)[1].split(";", 1)[0]
    assert trained.ws.mlflow.get_run(run_id).data.tags["statops.kind"] == "evaluation"
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert done.stderr == ""

    as_json = statops("evaluate", f"{trained.model}/{trained.version}", "--data", "soc-test", "--json",
                      "--home", home)
    summary = json.loads(as_json.stdout)
    assert (summary["model"], summary["version"], summary["dataset"]) == (trained.model, trained.version, "soc-test@1")
    assert summary["records"] == 800 and summary["report"] is None
    assert [level["level"] for level in summary["levels"]] == ["major", "submajor", "minor", "unit"]
    assert len(summary["confusions"]) == 20 and summary["worst_codes"]
    assert "evaluation_per_code.csv" in summary["files"] and summary["location"]


@pytest.mark.parametrize(("name", "message"), [("r.pdf", "must end in .html"), ("no/r.html", "does not exist")])
def test_evaluate_refuses_a_bad_report_path_in_one_line(trained, tmp_path: Path, name: str, message: str,  # noqa: ANN001
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["statops", "evaluate", trained.model, "--data", "soc-test", "--report",
                                      str(tmp_path / name), "--home", str(trained.ws.home)])
    with pytest.raises(SystemExit) as exit_:
        main()
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_train_fits_80_columns_and_mlflow_stays_quiet(soc, tmp_path: Path) -> None:  # noqa: ANN001
    home = str(tmp_path / "ws")
    small = tmp_path / "small.csv"
    pd.read_csv(soc.dev, dtype=str, keep_default_na=False).to_csv(small, index=False)
    for args in (["init"], ["classifications", "add", "soc2010", str(soc.structure), "--version", "2010"],
                 ["data", "add", "small", str(small), "--label-column", "soc2010", "--classification", "soc2010"]):
        assert statops(*args, "--home", home).returncode == 0
    done = statops("train", "occ", "--data", "small", "--home", home)
    assert done.returncode == 0, done.stderr
    assert_fits(done.stdout, long_ok=(home,))
    assert "Registered occ version 1" in done.stdout and "accuracy (unit)" in done.stdout
    assert "dev evaluation" in done.stdout
    for chatter in ("Successfully registered", "Created version", "type hints", "Validating input example"):
        assert chatter not in done.stderr, done.stderr
