"""The README's five-minute tour, run as written: its bash block, parsed from the README, in an
empty folder, with nothing but what a fresh install has."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_commands() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## A five-minute tour"):]
    found = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert found, "the tour has no bash block"
    return found.group(1)


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    commands = tour_commands()
    assert "../shared" not in commands  # only files a user has
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATOPS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "80"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    coded = pd.read_csv(tmp_path / "coded.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(tmp_path / "soc2010" / "test.csv", dtype=str, keep_default_na=False)
    assert len(coded) == len(test) and coded["text"].tolist() == test["text"].tolist()
    assert "Registered occupation version 1" in done.stdout
    for line in done.stdout.splitlines():  # 80 columns, except where a path is printed whole, to be copied
        assert len(line) <= 80 or "/" in max(line.split(), key=len), line
