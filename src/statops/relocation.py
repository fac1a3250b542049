"""Keeping an embedded MLflow store working when its workspace folder is moved or copied.

MLflow records where artifacts live as absolute locations (``file:///home/ann/ws/mlartifacts/...``)
in its tables: experiments, runs, logged models, model versions, dataset sources. When the folder
moves, those locations point at the old place. The store remembers the folder it was last opened
in (an experiment tag on MLflow's Default experiment, so it travels inside ``mlflow.db`` and changes
in the same transaction as the locations); when a workspace is opened somewhere else, every
location under the old folder is rewritten to the new one. The check is one small query; the
rewrite happens once per move. Only the standard library is used, so opening a workspace does not
import MLflow.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from statops.errors import StatopsError

ROOT_TAG = "statops.workspace_root"
DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_FOLDER = "0"  # the Default experiment's artifacts, as MLflow names the folder
_TEXT_TYPES = ("CHAR", "CLOB", "TEXT", "JSON")
_SKIP_TABLES = {"alembic_version"}


@dataclass(frozen=True)
class Relocation:
    """What opening a moved workspace changed in its MLflow store."""

    old_root: Path | None  # where the store was last opened; None when it never recorded one
    new_root: Path
    locations: int  # values rewritten

    @property
    def moved(self) -> bool:
        return self.old_root is not None and self.old_root != self.new_root


def _forms(root: Path) -> list[str]:
    """The spellings of `root` that MLflow may have stored: file URIs (percent-encoded or not) and a bare path."""
    quoted = root.as_uri()[len("file://"):]
    return ["file://" + quoted, "file://" + str(root), "file:" + quoted, str(root)]


def _rewriter(old_root: Path, new_root: Path) -> Callable[[str | None], str | None]:
    """A function that swaps the old root for the new one where a location starts: at the start of
    a value, or right after a quote (a location inside JSON), and only up to a path boundary."""
    mapping: dict[str, str] = {}
    for old, new in zip(_forms(old_root), _forms(new_root), strict=True):
        mapping.setdefault(old, new)  # where two spellings of the old root agree, the first one's wins
    alternatives = "|".join(re.escape(form) for form in sorted(mapping, key=len, reverse=True))
    pattern = re.compile(rf"""(?:^|(?<=["']))({alternatives})(?=[/"']|\Z)""")

    def rewrite(value: str | None) -> str | None:
        if not isinstance(value, str):
            return value
        return pattern.sub(lambda match: mapping[match.group(1)], value)

    return rewrite


def _text_columns(connection: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    columns = []
    for table in tables:
        if table in _SKIP_TABLES:
            continue
        for _cid, name, declared, *_rest in connection.execute(f"PRAGMA table_info({_quote(table)})"):
            kind = (declared or "").upper()
            if not kind or any(t in kind for t in _TEXT_TYPES):
                columns.append((table, name))
    return columns


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _path_of(location: str) -> Path | None:
    """The local path of a file URI or a bare path; None for anything else (s3://, http://)."""
    if location.startswith("file:"):
        return Path(unquote(urlparse(location).path))
    if not location or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", location):
        return None
    return Path(location)


def _inferred_root(connection: sqlite3.Connection) -> Path | None:
    """For a store that never recorded its folder: the folder its experiments' artifact locations
    (``<root>/mlartifacts/<experiment name>``, as statops creates them) point into."""
    roots: Counter[Path] = Counter()
    for name, location in connection.execute(
            "SELECT name, artifact_location FROM experiments WHERE experiment_id != ?", (DEFAULT_EXPERIMENT_ID,)):
        path = _path_of(location or "")
        if path is not None and path.name == name and path.parent.name == "mlartifacts":
            roots[path.parent.parent] += 1
    return roots.most_common(1)[0][0] if roots else None


def _recorded_root(connection: sqlite3.Connection) -> str | None:
    row = connection.execute("SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                             (DEFAULT_EXPERIMENT_ID, ROOT_TAG)).fetchone()
    return None if row is None else str(row[0])


def _has_default_experiment(connection: sqlite3.Connection) -> bool:
    tables = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('experiments', 'experiment_tags')")}
    if tables != {"experiments", "experiment_tags"}:
        return False  # an empty file: MLflow creates its tables on first use
    return connection.execute("SELECT 1 FROM experiments WHERE experiment_id = ?",
                              (DEFAULT_EXPERIMENT_ID,)).fetchone() is not None


def relocate_mlflow_store(database: Path, root: Path, artifact_root: Path) -> Relocation | None:
    """Make the embedded MLflow store at `database` point into the workspace folder `root`.

    Returns None when nothing had to change (the usual case: one indexed lookup). Otherwise
    rewrites, in one transaction, every stored location under the folder the store was last opened
    in, points the Default experiment's artifacts into `artifact_root`, and records `root`.
    """
    root_text = str(root)
    try:
        connection = sqlite3.connect(database, timeout=30, isolation_level=None)
    except sqlite3.Error as exc:
        raise StatopsError(f"cannot open the MLflow store {database}: {exc}") from exc
    try:
        if not _has_default_experiment(connection):
            return None  # not (yet) an MLflow store with its Default experiment: nothing to fix
        recorded = _recorded_root(connection)
        if recorded == root_text or (recorded is not None and _same_folder(Path(recorded), root)):
            return None  # the same folder (or another path to it, e.g. through a link): locations still hold
        return _relocate(connection, root, artifact_root)
    except sqlite3.Error as exc:
        raise StatopsError(f"the workspace at {root} could not update the artifact locations in its "
                           f"MLflow store {database}: {exc}") from exc
    finally:
        connection.close()


def _same_folder(recorded: Path, root: Path) -> bool:
    try:
        return os.path.samefile(recorded, root)
    except OSError:  # the recorded folder is gone (moved), or not reachable from here
        return False


def _relocate(connection: sqlite3.Connection, root: Path, artifact_root: Path) -> Relocation | None:
    connection.execute("BEGIN IMMEDIATE")  # one writer at a time; a second opener waits, then finds it done
    try:
        recorded = _recorded_root(connection)
        if recorded == str(root):
            connection.execute("ROLLBACK")
            return None
        old_root = Path(recorded) if recorded is not None else _inferred_root(connection)
        changed = 0
        if old_root is not None and old_root != root:
            rewrite = _rewriter(old_root, root)
            connection.create_function("statops_relocate", 1, rewrite, deterministic=True)
            needles = list(dict.fromkeys([str(old_root), old_root.as_uri()[len("file://"):]]))
            for table, column in _text_columns(connection):
                where = " OR ".join(f"instr({_quote(column)}, ?) > 0" for _ in needles)
                cursor = connection.execute(
                    f"UPDATE {_quote(table)} SET {_quote(column)} = statops_relocate({_quote(column)}) "
                    f"WHERE {where}", needles)
                changed += max(cursor.rowcount, 0)
        changed += _point_default_experiment_inside(connection, root, artifact_root)
        connection.execute(
            "INSERT INTO experiment_tags (key, value, experiment_id) VALUES (?, ?, ?) "
            "ON CONFLICT (key, experiment_id) DO UPDATE SET value = excluded.value",
            (ROOT_TAG, str(root), DEFAULT_EXPERIMENT_ID))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return Relocation(old_root, root, changed)


def _point_default_experiment_inside(connection: sqlite3.Connection, root: Path, artifact_root: Path) -> int:
    """MLflow puts the Default experiment's artifacts under ./mlruns of whatever folder the store
    was created from; new runs there belong inside the workspace. Existing runs keep their own
    locations, so this changes no artifact that exists."""
    (location,) = connection.execute("SELECT artifact_location FROM experiments WHERE experiment_id = ?",
                                     (DEFAULT_EXPERIMENT_ID,)).fetchone()
    path = _path_of(location or "")
    if path is None and location:
        return 0  # a remote location (s3://...) someone chose on purpose
    if path is not None and path.is_absolute() and path.is_relative_to(root):
        return 0
    connection.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                       ((artifact_root / DEFAULT_EXPERIMENT_FOLDER).as_uri(), DEFAULT_EXPERIMENT_ID))
    return 1
