"""The dataset catalogue: validated, immutable, content-hashed Parquet snapshots."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from statops.classifications.catalogue import get_classification
from statops.classifications.hierarchy import Hierarchy
from statops.data.gsbpm import check_cycle, check_gsbpm
from statops.errors import Conflict, InvalidInput, NotFound
from statops.hashing import file_sha256, frame_sha256
from statops.names import check_name, split_versioned
from statops.store.schema import Dataset
from statops.tables import UTF8, TextFormat, read_table, require_columns
from statops.workspace import Workspace

MAX_LISTED = 20


@dataclass(frozen=True)
class DatasetInfo:
    """A catalogue entry."""

    name: str
    version: int
    sha256: str
    rows: int
    columns: list[dict[str, str]]
    text_column: str
    label_column: str | None
    classification: str | None
    classification_version: str | None
    cycle: str | None
    gsbpm: str | None
    source_file: str
    source_sha256: str
    snapshot_path: str
    created_by: str
    created_at: Any
    kind: str = "records"  # or "reference": a reference base, the answers a task links records to
    reference: str | None = None  # the reference base (NAME@N) whose ids the labels are
    created: bool = False
    notes: tuple[str, ...] = ()  # what the user should know about the file just added (not stored)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {k: (str(v) if k == "created_at" else v) for k, v in self.__dict__.items()
                if k not in ("created", "notes")}


def _row_numbers(mask: pd.Series) -> str:
    rows = [str(i + 1) for i in mask[mask].index[:MAX_LISTED]]
    more = int(mask.sum()) - len(rows)
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def validate_records(
    frame: pd.DataFrame, text_column: str, label_column: str | None, source: str, empty_labels: bool = False
) -> pd.DataFrame:
    """Checks columns, empty texts and empty labels (allowed with `empty_labels`: labels that are ids of
    a reference base, where empty means 'not in the base'); returns the frame with labels stripped."""
    require_columns(list(frame.columns), [text_column] + ([label_column] if label_column else []), source)
    frame = frame.reset_index(drop=True)
    empty_text = frame[text_column].isna() | (frame[text_column].str.strip() == "")
    if empty_text.any():
        raise InvalidInput(
            f"{source}: {int(empty_text.sum())} row(s) have an empty '{text_column}' "
            f"(data rows {_row_numbers(empty_text)})"
        )
    if label_column:
        labels = frame[label_column].fillna("").str.strip()
        empty_label = labels == ""
        if empty_label.any() and not empty_labels:
            raise InvalidInput(
                f"{source}: {int(empty_label.sum())} row(s) have an empty '{label_column}' "
                f"(data rows {_row_numbers(empty_label)})"
            )
        frame = frame.assign(**{label_column: labels})
    return frame


def _non_leaf_notes(hierarchy: Hierarchy, counts: pd.Series, label_column: str) -> tuple[str, ...]:
    """A note when labels sit above the classification's lowest level (e.g. a major group '1'):
    allowed (a coder may only know the group), but a model trained on them predicts those codes."""
    with_children = {parent for parent in hierarchy.parents.values() if parent is not None}
    above = [(str(code), int(n)) for code, n in counts.items() if code in with_children]
    if not above:
        return ()
    rows = sum(n for _, n in above)
    levels = sorted({hierarchy.level_of[code] for code, _ in above})
    listed = ", ".join(f"{code} ({n} rows)" for code, n in above[:MAX_LISTED])
    more = f" and {len(above) - MAX_LISTED} more" if len(above) > MAX_LISTED else ""
    return (f"{rows} row(s) in '{label_column}' have codes above the lowest level (level {', '.join(levels)}): "
            f"{listed}{more}; a model trained on them will predict those broader codes",)


def add_dataset(
    ws: Workspace,
    name: str,
    path: str | Path,
    text_column: str,
    label_column: str | None = None,
    classification: str | None = None,
    cycle: str | None = None,
    gsbpm: str | None = None,
    allow_unknown_codes: bool = False,
    text_format: TextFormat = UTF8,
    reference: str | None = None,
) -> DatasetInfo:
    """Validate a file and store it as the next version of dataset `name` (or return the identical one).
    With `reference` (a reference base, NAME or NAME@N), the labels are its ids, and an empty label says
    the record's answer is not in the base."""
    check_name(name, "dataset")
    check_cycle(cycle)
    check_gsbpm(gsbpm)
    path = Path(path)
    classification_info = get_classification(ws, classification) if classification else None
    if classification_info and not label_column:
        raise InvalidInput("--classification needs --label-column: the codes to check are in that column")
    if reference and classification:
        raise InvalidInput("give --classification or --reference, not both: labels are codes of a classification "
                           "or ids of a reference base")
    if reference and not label_column:
        raise InvalidInput("--reference needs --label-column: the reference ids to check are in that column")
    base = _reference_base(ws, reference) if reference else None
    frame = validate_records(read_table(path, text_format), text_column, label_column, path.name,
                             empty_labels=base is not None)
    notes: tuple[str, ...] = ()
    if base is not None and label_column:
        ids = set(load_dataset(ws, base)[base.label_column or ""])
        labels = frame[label_column]
        unknown = labels[(labels != "") & ~labels.isin(ids)]
        if len(unknown):
            listed = ", ".join(unknown.unique()[:MAX_LISTED])
            raise InvalidInput(f"{path.name}: {len(unknown)} row(s) in '{label_column}' name ids that reference base "
                               f"{base.ref} does not have: {listed}; fix them, or leave the label empty for a "
                               "record that is not in the base")
        outside = int((labels == "").sum())
        if outside:
            notes = (f"{outside} row(s) have an empty '{label_column}': their answer is not in {base.ref}",)
    if classification_info and label_column:
        known = set(classification_info.hierarchy.codes)
        counts = frame[label_column].value_counts()
        unknown = [(str(code), int(n)) for code, n in counts.items() if code not in known]
        if unknown and not allow_unknown_codes:
            listed = ", ".join(f"{code} ({n} rows)" for code, n in unknown[:MAX_LISTED])
            more = f" and {len(unknown) - MAX_LISTED} more" if len(unknown) > MAX_LISTED else ""
            raise InvalidInput(
                f"{path.name}: {len(unknown)} code(s) in '{label_column}' are not in classification "
                f"{classification_info.name} {classification_info.version}: {listed}{more}; "
                "fix them or pass --allow-unknown-codes"
            )
        notes = _non_leaf_notes(classification_info.hierarchy, counts, label_column)
    return _catalogue(ws, name, frame, path, text_column, label_column, cycle, gsbpm, notes,
                      classification=(classification_info.name, classification_info.version) if classification_info
                      else None, reference=base.ref if base else None)


def add_reference_base(ws: Workspace, name: str, frame: pd.DataFrame, source: Path, text_column: str,
                       id_column: str, cycle: str | None = None, gsbpm: str | None = None) -> DatasetInfo:
    """Store a reference base — one row per answer, its unique id in `id_column` and its words in
    `text_column` (a task has checked and shaped it) — as the next version of dataset `name`."""
    check_name(name, "dataset")
    check_cycle(cycle)
    check_gsbpm(gsbpm)
    require_columns(list(frame.columns), [id_column, text_column], source.name)
    return _catalogue(ws, name, frame.reset_index(drop=True), source, text_column, id_column, cycle, gsbpm, (),
                      kind="reference")


def _reference_base(ws: Workspace, ref: str) -> DatasetInfo:
    base = get_dataset(ws, ref)
    if base.kind != "reference":
        raise InvalidInput(f"dataset {base.ref} is not a reference base (add one with "
                           "`statops addresses add-reference`)")
    return base


def _catalogue(ws: Workspace, name: str, frame: pd.DataFrame, path: Path, text_column: str, label_column: str | None,
               cycle: str | None, gsbpm: str | None, notes: tuple[str, ...], *,
               classification: tuple[str, str] | None = None, kind: str = "records",
               reference: str | None = None) -> DatasetInfo:
    """The validated `frame` as a snapshot and a catalogue row (with its audit row), or the identical entry."""
    sha = frame_sha256(frame)
    with ws.store.session() as session:
        existing = session.scalars(
            select(Dataset).where(Dataset.name == name, Dataset.sha256 == sha, Dataset.kind == kind,
                                  Dataset.text_column == text_column, Dataset.label_column == label_column,
                                  Dataset.reference.is_(None) if reference is None else Dataset.reference == reference)
            .order_by(Dataset.version)
        ).first()
        if existing is not None:
            return replace(_info(existing, created=False), notes=notes)
    snapshot = _write_snapshot(ws, frame, sha)
    source_sha = file_sha256(path)
    columns = [{"name": str(c), "type": "string"} for c in frame.columns]
    for _attempt in range(5):
        try:
            with ws.store.session() as session:
                latest = session.scalar(select(func.max(Dataset.version)).where(Dataset.name == name)) or 0
                row = Dataset(
                    name=name, version=latest + 1, sha256=sha, rows=len(frame), columns=columns,
                    text_column=text_column, label_column=label_column,
                    classification=classification[0] if classification else None,
                    classification_version=classification[1] if classification else None,
                    kind=kind, reference=reference,
                    cycle=cycle, gsbpm=gsbpm, source_file=path.name, source_sha256=source_sha,
                    snapshot_path=str(snapshot.relative_to(ws.home)), created_by=ws.actor,
                )
                session.add(row)
                ws.store.audit(session, ws.actor, "dataset.add", f"{name}@{row.version}",
                               sha256=sha, rows=len(frame), source_file=path.name,
                               **({} if kind == "records" else {"kind": kind}))
                session.flush()
                return replace(_info(row, created=True), notes=notes)
        except IntegrityError:
            continue  # another writer took this version number; take the next
    raise Conflict(f"could not add dataset {name}: too many concurrent additions, try again")


def _write_snapshot(ws: Workspace, frame: pd.DataFrame, sha: str) -> Path:
    """Content-addressed Parquet file, written to a temporary name and moved into place."""
    target = ws.snapshot_root / f"{sha}.parquet"
    if target.exists():
        return target
    ws.snapshot_root.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    table = pa.Table.from_pandas(frame.astype("string"), preserve_index=False)
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, target)
    return target


def get_dataset(ws: Workspace, ref: str) -> DatasetInfo:
    """`NAME` (newest version) or `NAME@N`."""
    name, version = split_versioned(ref, "dataset")
    with ws.store.session() as session:
        query = select(Dataset).where(Dataset.name == name)
        query = query.where(Dataset.version == version) if version else query.order_by(Dataset.version.desc())
        row = session.scalars(query).first()
        if row is None:
            versions = session.scalars(select(Dataset.version).where(Dataset.name == name)).all()
            if versions:
                raise NotFound(f"dataset {name} has no version {version}; versions: "
                               + ", ".join(str(v) for v in sorted(versions)))
            names = session.scalars(select(Dataset.name).distinct()).all()
            hint = f"; known datasets: {', '.join(sorted(names))}" if names else "; add one with `statops data add`"
            raise NotFound(f"unknown dataset {name}{hint}")
        return _info(row, created=False)


def load_dataset(ws: Workspace, info: DatasetInfo, verify: bool = True) -> pd.DataFrame:
    """The snapshot's records; with `verify`, checks that they still hash to the catalogued sha256."""
    path = ws.home / info.snapshot_path
    if not path.is_file():
        raise NotFound(f"the snapshot of dataset {info.ref} is missing from the workspace ({path})")
    frame = pq.read_table(path).to_pandas().astype("string")
    if verify and frame_sha256(frame) != info.sha256:
        raise Conflict(f"the snapshot of dataset {info.ref} has been altered: its hash no longer matches")
    return frame


def list_datasets(ws: Workspace) -> list[DatasetInfo]:
    with ws.store.session() as session:
        rows = session.scalars(select(Dataset).order_by(Dataset.name, Dataset.version)).all()
        return [_info(r, created=False) for r in rows]


def label_summary(ws: Workspace, info: DatasetInfo, frame: pd.DataFrame, top: int = 10) -> dict[str, Any]:
    """Distinct codes, records per code, the most frequent codes with titles, codes per level."""
    if not info.label_column:
        return {}
    from statops.data.answers import dataset_answers  # it reads the catalogue

    labels = frame[info.label_column]
    counts = labels.value_counts()
    levels_source, _ = dataset_answers(ws, info, frame)
    titles = levels_source.titles
    per_level = {
        level: len({a for a in levels_source.at_level(list(counts.index), level) if a is not None})
        for level in levels_source.levels
    }
    return {
        "distinct_codes": int(counts.size),
        "records_per_code": {"min": int(counts.min()), "median": float(counts.median()), "max": int(counts.max())},
        "codes_with_one_record": int((counts == 1).sum()),
        "codes_per_level": per_level,
        "most_frequent": [
            {"code": str(code), "title": titles.get(str(code), ""), "records": int(n), "share": float(n / len(labels))}
            for code, n in counts.head(top).items()
        ],
    }


def _info(row: Dataset, created: bool) -> DatasetInfo:
    return DatasetInfo(
        name=row.name, version=row.version, sha256=row.sha256, rows=row.rows, columns=list(row.columns),
        text_column=row.text_column, label_column=row.label_column, classification=row.classification,
        classification_version=row.classification_version, cycle=row.cycle, gsbpm=row.gsbpm,
        source_file=row.source_file, source_sha256=row.source_sha256, snapshot_path=row.snapshot_path,
        created_by=row.created_by, created_at=row.created_at, kind=row.kind or "records", reference=row.reference,
        created=created,
    )
