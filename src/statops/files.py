"""Writing a file that users open (a report page) in one piece, and checking where it goes first."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from statops.errors import InvalidInput, NotFound

REPORT_SUFFIX = ".html"


def check_writable_folder(folder: Path, what: str) -> None:
    """InvalidInput unless files can be created in `folder` (checked before any work is done)."""
    if not folder.is_dir():
        raise NotFound(f"folder {folder} does not exist; create it first or write {what} elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInput(f"cannot write {what}: no permission to create files in {folder}")


def check_report_path(path: str | Path) -> Path:
    """The report path, refused (before any work) unless it ends in .html and its folder exists and
    can be written."""
    path = Path(path)
    if path.suffix.lower() != REPORT_SUFFIX:
        raise InvalidInput(f"report file must end in {REPORT_SUFFIX}: {path}")
    if path.is_dir():
        raise InvalidInput(f"report path {path} is a folder")
    check_writable_folder(path.parent, "the report")
    return path


def write_file_atomically(data: bytes, path: str | Path) -> Path:
    """Write `data` to `path` whole or not at all (a temporary file in its folder, then a rename)."""
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
