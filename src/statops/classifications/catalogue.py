"""Storing and finding classification versions in our store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from statops.classifications.hierarchy import Hierarchy
from statops.errors import Conflict, NotFound
from statops.hashing import frame_sha256
from statops.names import check_name
from statops.store.schema import Classification, ClassificationCode
from statops.tables import UTF8, TextFormat, read_table
from statops.workspace import Workspace


@dataclass(frozen=True)
class ClassificationInfo:
    name: str
    version: str
    levels: list[str]
    codes: int
    sha256: str
    created: bool
    hierarchy: Hierarchy


def add_classification(ws: Workspace, name: str, path: str | Path, version: str | None = None,
                       text_format: TextFormat = UTF8) -> ClassificationInfo:
    """Load a `code, level, title, parent` file as a version of classification `name`.

    The same content again returns the existing version; without `version` a new content gets the
    next number.
    """
    check_name(name, "classification")
    frame = read_table(path, text_format)
    hierarchy = Hierarchy.from_structure(frame)
    sha = frame_sha256(frame[["code", "level", "title", "parent"]])
    with ws.store.session() as session:
        rows = session.scalars(select(Classification).where(Classification.name == name)).all()
        for row in rows:
            if row.sha256 == sha and (version is None or row.version == version):
                return _info(row, hierarchy, created=False)
            if version is not None and row.version == version:
                raise Conflict(
                    f"classification {name} version {version} already exists with other content; "
                    "give a new --version"
                )
        if version is None:
            numeric = [int(r.version) for r in rows if r.version.isdigit()]
            version = str(max(numeric, default=0) + 1)
        row = Classification(name=name, version=version, levels=list(hierarchy.levels),
                             source_file=Path(path).name, sha256=sha, created_by=ws.actor)
        row.codes = [
            ClassificationCode(code=r["code"], level=r["level"], title=r["title"], parent=r["parent"],
                               depth=len(hierarchy.ancestors(r["code"])))
            for r in hierarchy.to_records()
        ]
        session.add(row)
        ws.store.audit(session, ws.actor, "classification.add", f"{name}@{version}",
                       sha256=sha, codes=len(hierarchy.codes), source_file=Path(path).name)
        session.flush()
        return _info(row, hierarchy, created=True)


def get_classification(ws: Workspace, name: str, version: str | None = None) -> ClassificationInfo:
    """A stored classification version (the newest when `version` is None)."""
    with ws.store.session() as session:
        query = select(Classification).where(Classification.name == name)
        if version is not None:
            query = query.where(Classification.version == version)
        rows = session.scalars(query.order_by(Classification.created_at.desc(), Classification.id.desc())).all()
        if not rows:
            known = session.scalars(select(Classification.name).distinct()).all()
            suffix = f" version {version}" if version else ""
            hint = f"; known: {', '.join(sorted(known))}" if known else "; add one with `statops classifications add`"
            raise NotFound(f"unknown classification {name}{suffix}{hint}")
        row = rows[0]
        records = [{"code": c.code, "level": c.level, "title": c.title, "parent": c.parent} for c in row.codes]
        return _info(row, Hierarchy.from_records(records), created=False)


def list_classifications(ws: Workspace) -> list[dict[str, object]]:
    with ws.store.session() as session:
        counts = (select(ClassificationCode.classification_id, func.count().label("n"))
                  .group_by(ClassificationCode.classification_id).subquery())
        rows = session.execute(
            select(Classification, counts.c.n).join(counts, counts.c.classification_id == Classification.id)
            .order_by(Classification.name, Classification.id)
        ).all()
        return [{"name": c.name, "version": c.version, "levels": c.levels, "codes": n,
                 "created_at": c.created_at, "created_by": c.created_by} for c, n in rows]


def _info(row: Classification, hierarchy: Hierarchy, created: bool) -> ClassificationInfo:
    return ClassificationInfo(row.name, row.version, list(row.levels), len(hierarchy.codes), row.sha256,
                              created, hierarchy)
