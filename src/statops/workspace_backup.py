"""Backing up a live workspace into one archive, and restoring it into a new folder.

A backup is a gzipped tar file. The SQLite databases are copied first, each with SQLite's online
backup API (a consistent snapshot, taken while servers keep writing); then the folder's files
(dataset snapshots, MLflow artifacts, settings), so every artifact a backed-up row refers to is in
the archive. A manifest comes last: an archive that has one is complete. Stores outside the folder
(PostgreSQL, an MLflow tracking server) are not in the archive, and the backup says so.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

from statops.errors import Conflict, InvalidInput, NotFound, StatopsError
from statops.files import check_writable_folder
from statops.relocation import Relocation
from statops.store.schema import Dataset, PredictionLogEntry
from statops.workspace import Workspace

StageProgress = Callable[[str, float], None]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
ARCHIVE_FOLDER = "statops-workspace"  # every member lives under this folder in the archive
MANIFEST = "statops-backup.json"
FORMAT = 1
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")
_COMPRESS_LEVEL = 6


@dataclass(frozen=True)
class BackupSummary:
    archive: Path
    bytes: int
    files: int
    databases: list[str]
    prediction_log_rows: int | None  # in the backed-up store; None when the store is not in the archive
    not_included: list[str]
    seconds: float


@dataclass(frozen=True)
class RestoreSummary:
    home: Path
    created: str  # when the backup was taken (UTC, ISO 8601)
    source_home: str
    statops_version: str
    models: list[str]
    datasets: int
    prediction_log_rows: int
    not_included: list[str] = field(default_factory=list)
    relocation: Relocation | None = None


def _safe_uri(uri: str) -> str:
    """A URI without the password, for messages and manifests."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def not_included(ws: Workspace) -> list[str]:
    """What a backup of `ws` cannot hold, in words: the stores that live outside its folder."""
    notes = []
    if not ws.embedded_store:
        notes.append(f"our store is at {ws.store.safe_url}, outside the workspace folder: back it up with "
                     "that database's own tools (PostgreSQL: pg_dump); a restored workspace uses that "
                     "same database")
    if not ws.embedded_mlflow:
        notes.append(f"MLflow is at {_safe_uri(ws.mlflow_uri)}: its runs, models and artifacts are not in the "
                     "archive; back them up where that server keeps them")
    return notes


def _is_archive_name(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def _report(progress: StageProgress | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, min(max(fraction, 0.0), 1.0))


# -- backup -----------------------------------------------------------------------------------
def _snapshot_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, in one step of the online backup API.

    One step holds one read transaction for the copy: with write-ahead logging, writers carry on
    meanwhile. (Copying in several steps would restart whenever another connection writes, which
    under steady load is always.)
    """
    with sqlite3.connect(source, timeout=60) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    src.close()
    dst.close()


def _count(database: Path, table: str) -> int | None:
    with sqlite3.connect(database) as connection:
        exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                    (table,)).fetchone()
        value = connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] if exists else None
    connection.close()
    return value


def _workspace_files(home: Path, skip: set[Path]) -> Iterator[Path]:
    """Every folder and file in the workspace, in a stable order, without the live databases.
    Links are followed: the archive holds what they point to (a restore makes no links). Sockets,
    pipes and broken links are no data and are left out."""
    seen: set[tuple[int, int]] = set()  # folders already walked: a link back up must not loop
    for folder, dirs, files in os.walk(home, followlinks=True):
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        base = Path(folder)
        for name in dirs + sorted(files):
            path = base / name
            if path not in skip and (path.is_dir() or path.is_file()):
                yield path


def _check_archive_target(ws: Workspace, archive: Path, force: bool) -> None:
    if not _is_archive_name(archive):
        raise InvalidInput(f"the backup file must end in .tar.gz (a gzipped tar archive): {archive.name}")
    if archive.is_relative_to(ws.home):
        raise InvalidInput(f"the backup file {archive} is inside the workspace {ws.home}; write it elsewhere")
    if not archive.parent.is_dir():
        raise InvalidInput(f"cannot write {archive}: {archive.parent} is not a folder")
    check_writable_folder(archive.parent, str(archive))
    if archive.is_dir():
        raise InvalidInput(f"cannot write {archive}: it is a folder")
    if archive.exists() and not force:
        raise Conflict(f"{archive} already exists; choose another name, or replace it with --force")


def backup_workspace(ws: Workspace, archive: str | Path, force: bool = False,
                     progress: StageProgress | None = None) -> BackupSummary:
    """Write a consistent archive of the (possibly live) workspace `ws` to `archive` (.tar.gz).

    The archive appears only when complete (written beside it, then renamed into place), readable
    by its owner only: it holds the prediction log and the settings.
    """
    started = time.perf_counter()
    archive = Path(archive).expanduser().absolute()
    archive = archive.parent.resolve() / archive.name
    _check_archive_target(ws, archive, force)
    # Our store first, then MLflow's: statops.db refers to MLflow versions (audit rows, the prediction
    # log) only after MLflow has them, so the later MLflow copy holds everything the earlier one names.
    databases = [path for path in (ws.store_database, ws.mlflow_database) if path is not None and path.is_file()]
    skip = {Path(f"{db}{side}") for db in (ws.home / "statops.db", ws.home / "mlflow.db")
            for side in _SQLITE_SIDE_FILES}
    try:
        scratch = Path(tempfile.mkdtemp(prefix=".statops-backup-", dir=archive.parent))
    except OSError as exc:
        raise InvalidInput(f"cannot write {archive}: {exc.strerror or exc}") from exc
    partial = scratch / archive.name
    try:
        copies = []
        for number, database in enumerate(databases):
            _report(progress, f"copying {database.name}", number / (len(databases) + 1))
            copy = scratch / database.name
            try:
                _snapshot_database(database, copy)
            except sqlite3.Error as exc:
                raise StatopsError(f"cannot back up {database}: {exc}") from exc
            copies.append(copy)
        log_rows = (_count(scratch / "statops.db", PredictionLogEntry.__tablename__)
                    if ws.store_database is not None and (scratch / "statops.db").is_file() else None)
        files = list(_workspace_files(ws.home, skip))
        total = sum(copy.stat().st_size for copy in copies) + sum(_size(path) for path in files) or 1
        done = 0
        written = 0
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=_COMPRESS_LEVEL, dereference=True) as tar:
                for copy in copies:  # the databases first: what they refer to is added after them
                    tar.add(copy, f"{ARCHIVE_FOLDER}/{copy.name}", recursive=False)
                    done += copy.stat().st_size
                    _report(progress, "archiving files", done / total)
                for path in files:
                    try:
                        tar.add(path, f"{ARCHIVE_FOLDER}/{path.relative_to(ws.home).as_posix()}", recursive=False)
                    except FileNotFoundError:
                        continue  # removed while we worked (a temporary file); nothing refers to it
                    except OSError as exc:  # e.g. cut short while we read it
                        raise StatopsError(f"cannot back up {path}: {exc}; nothing was written, "
                                           "try again when it is no longer being changed") from exc
                    written += not path.is_dir()
                    done += _size(path)
                    _report(progress, "archiving files", done / total)
                manifest = {
                    "format": FORMAT, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "statops_version": _statops_version(), "source_home": str(ws.home),
                    "databases": [copy.name for copy in copies], "files": written,
                    "prediction_log_rows": log_rows, "not_included": not_included(ws),
                }
                _add_bytes(tar, f"{ARCHIVE_FOLDER}/{MANIFEST}", json.dumps(manifest, indent=2).encode())
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, archive)
        _fsync_folder(archive.parent)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _report(progress, "done", 1.0)
    return BackupSummary(archive, archive.stat().st_size, written, [copy.name for copy in copies], log_rows,
                         not_included(ws), time.perf_counter() - started)


def _size(path: Path) -> int:
    try:
        return 0 if path.is_dir() else path.stat().st_size
    except OSError:
        return 0


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _statops_version() -> str:
    from statops.provenance import package_version

    return package_version()


# -- restore ----------------------------------------------------------------------------------
class _Counting:
    """Wraps the archive file to tell how far reading has got (for the progress bar)."""

    def __init__(self, raw: BinaryIO, total: int, progress: StageProgress | None):
        self.raw, self.total, self.progress = raw, max(total, 1), progress

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        _report(self.progress, "unpacking", self.raw.tell() / self.total)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _check_target(target: Path) -> bool:
    """True when `target` exists (as an empty folder); refuses anything else that exists."""
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise Conflict(f"cannot restore into {target}: it exists and is not a folder")
        if any(target.iterdir()):
            raise Conflict(f"cannot restore into {target}: the folder is not empty; choose a new folder")
        return True
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInput(f"cannot restore into {target}: {parent} is a file, not a folder")
            break
    return False


def _unpack(archive: Path, into: Path, progress: StageProgress | None) -> None:
    """Extract safely: only members under the archive's folder, no absolute paths, no '..', no
    links leading out, no device files (tarfile's 'data' filter)."""
    with open(archive, "rb") as raw:
        reader = _Counting(raw, archive.stat().st_size, progress)
        try:
            with tarfile.open(fileobj=reader, mode="r:gz") as tar:
                for member in tar:
                    parts = PurePosixPath(member.name).parts
                    if not parts or parts[0] != ARCHIVE_FOLDER or ".." in parts:
                        raise InvalidInput(f"{archive} is not a statops backup: it holds {member.name!r}")
                    if member.issym() or member.islnk():  # backups hold files, never links
                        raise InvalidInput(f"{archive} holds a link ({member.name!r}) and was not restored")
                    tar.extract(member, into, filter="data")
        except tarfile.FilterError as exc:
            raise InvalidInput(f"{archive} holds an unsafe entry and was not restored: {exc}") from exc
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InvalidInput(f"{archive} is not a complete statops backup (.tar.gz): {exc}") from exc


def _check_database(path: Path) -> None:
    try:
        with sqlite3.connect(path) as connection:
            result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        connection.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"the backup's {path.name} is not a usable SQLite database: {exc}") from exc
    if result != ["ok"]:
        raise InvalidInput(f"the backup's {path.name} is damaged: {'; '.join(result[:3])}")


def restore_workspace(archive: str | Path, target: str | Path,
                      progress: StageProgress | None = None) -> RestoreSummary:
    """Restore the backup `archive` into the new (or empty) folder `target`, and open it there.

    All or nothing: the archive is unpacked and checked beside `target`, then renamed into place.
    """
    archive = Path(archive).expanduser().absolute()
    target = Path(target).expanduser().absolute()
    if not archive.is_file():
        raise NotFound(f"no backup file at {archive}")
    target_existed = _check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    except OSError as exc:
        raise InvalidInput(f"cannot restore into {target}: {exc.strerror or exc}") from exc
    moved = False
    try:
        _unpack(archive, scratch, progress)
        folder = scratch / ARCHIVE_FOLDER
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise InvalidInput(f"{archive} is not a complete statops backup: it has no {MANIFEST}")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{archive} is not a statops backup: its {MANIFEST} cannot be read ({exc})") from exc
        if not isinstance(manifest, dict):
            raise InvalidInput(f"{archive} is not a statops backup: its {MANIFEST} is not a JSON object")
        if manifest.get("format") != FORMAT:
            raise InvalidInput(f"{archive} is a backup in format {manifest.get('format')}; "
                               f"this statops reads format {FORMAT}")
        for name in manifest.get("databases", []):
            _report(progress, f"checking {name}", 1.0)
            if not (folder / name).is_file():
                raise InvalidInput(f"{archive} is not a complete statops backup: {name} is missing")
            _check_database(folder / name)
        manifest_path.unlink()
        if target_existed:
            target.rmdir()  # empty (checked); rename needs the name free
        os.replace(folder, target)
        moved = True
        ws = Workspace.open(target)  # opening it points MLflow's artifact locations into the new folder
        try:
            summary = _describe(ws, manifest)
        finally:
            ws.close()
    except BaseException:
        if moved:
            shutil.rmtree(target, ignore_errors=True)
        if target_existed and not target.exists():
            target.mkdir()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _report(progress, "done", 1.0)
    return summary


def _describe(ws: Workspace, manifest: dict[str, Any]) -> RestoreSummary:
    from sqlalchemy import func, select

    with ws.store.engine.connect() as connection:
        log_rows = connection.execute(select(func.count()).select_from(PredictionLogEntry.__table__)).scalar_one()
        datasets = connection.execute(select(func.count()).select_from(Dataset.__table__)).scalar_one()
    models = sorted(model.name for model in ws.mlflow.search_registered_models())
    return RestoreSummary(
        home=ws.home, created=str(manifest.get("created")), source_home=str(manifest.get("source_home")),
        statops_version=str(manifest.get("statops_version")), models=models, datasets=int(datasets),
        prediction_log_rows=int(log_rows), not_included=list(manifest.get("not_included", [])),
        relocation=ws.relocation,
    )
