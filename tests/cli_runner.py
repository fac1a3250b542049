"""Running `statops` in-process as a user would, at a normal terminal width (80 columns)."""

from __future__ import annotations

import sys

import pytest

from statops.cli.app import main


def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `statops ARGS`."""
    monkeypatch.setattr(sys, "argv", ["statops", *args])
    monkeypatch.setenv("COLUMNS", "80")
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
