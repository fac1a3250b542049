"""Where a piece of work came from: package version and source commit."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from pathlib import Path


def package_version() -> str:
    from statops import __version__

    return __version__


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the statops source tree, when it runs from a git checkout."""
    source = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None
