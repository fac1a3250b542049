"""`statops demo` as a new user runs it: a real process, no arguments but a home, no network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATOPS_")}
    env["STATOPS_HOME"] = str(tmp_path / "home")
    env["COLUMNS"] = "200"
    result = subprocess.run([sys.executable, "-m", "statops", "demo"], capture_output=True, text=True,
                            timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for expected in ("soc2010-train@1", "soc2010-coder version 1", "accuracy (unit)", "auto-coded",
                     "Try next", "Open Government Licence"):
        assert expected in out, expected
    coded = pd.read_csv(tmp_path / "home" / "demo" / "soc2010-test-coded.csv", dtype=str)
    assert len(coded) == 2850 and {"code", "decision", "alternatives", "title_input"} <= set(coded.columns)
