"""Content hashes that do not depend on file format or library versions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd


def frame_sha256(frame: pd.DataFrame, chunk_rows: int = 100_000) -> str:
    """sha256 of a text frame's column names and values, in order (missing values as null)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in frame.columns]).encode("utf-8"))
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start : start + chunk_rows].astype(object)
        rows = part.where(part.notna(), None).values.tolist()
        digest.update(json.dumps(rows, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
