"""True codes: feedback on predictions (by prediction id) or on texts, from clerical coders, a random
audit sample of auto-coded records, or experts; and the logged predictions that have them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import insert, select

from statops.accounts import Actor, require
from statops.data.answers import answers_label, none_answer
from statops.errors import InvalidInput
from statops.monitoring.reference_store import version_hierarchy
from statops.registry.versions import resolve_model
from statops.scoring.prediction_log import TABLE as LOG
from statops.scoring.prediction_log import in_window, text_sha256
from statops.store import Store
from statops.store.schema import Feedback
from statops.tables import TextFormat, read_table
from statops.workspace import Workspace

SOURCES = ("clerical", "audit-sample", "expert")
AUDIT_SAMPLE = "audit-sample"
FEEDBACK: Any = Feedback.__table__
MAX_LISTED = 10
_ID_BATCH = 500


@dataclass(frozen=True)
class FeedbackAdded:
    model: str
    records: int
    by_source: dict[str, int]
    by_prediction_id: int
    by_text: int


def _lines(mask: pd.Series, first_line: int) -> str:
    rows = [str(int(i) + first_line) for i in mask[mask].index[:MAX_LISTED]]
    more = int(mask.sum()) - len(rows)
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def _column(frame: pd.DataFrame, *names: str) -> pd.Series:
    for name in names:
        if name in frame.columns:
            return frame[name].fillna("").astype(str).str.strip()
    return pd.Series([""] * len(frame), index=frame.index, dtype=object)


def _known_ids(store: Store, model: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with store.engine.connect() as connection:
        for first in range(0, len(ids), _ID_BATCH):
            chunk = ids[first:first + _ID_BATCH]
            found.update(connection.execute(
                select(LOG.c.id).where(LOG.c.model == model, LOG.c.id.in_(chunk))).scalars())
    return found


def add_feedback(ws: Workspace, actor: Actor, model: str, records: pd.DataFrame | Sequence[dict[str, Any]],
                 source: str | None = None, where: str = "records", first_line: int = 1,
                 unit: str = "line") -> FeedbackAdded:
    """Store true codes for `model`'s predictions: each record has `prediction_id` (or `id`) or `text`,
    `true_code` (or `code`; for a matcher, `not-in-base` where the record is not in its reference base,
    stored as the empty label) and `source` (or the `source` given for all). Every record is checked first
    (the id is in the log, the code in the model's classification, the source known); one bad record
    names its line (counted from `first_line`; or its record, with `unit`) and nothing is written."""
    require(ws, actor, "feedback.add")
    frame = (records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))).reset_index(drop=True)
    if frame.empty:
        raise InvalidInput(f"{where}: no feedback records")
    ref = resolve_model(ws, model)
    ids, texts = _column(frame, "prediction_id", "id"), _column(frame, "text")
    codes, sources = _column(frame, "true_code", "code"), _column(frame, "source")
    if source is not None:
        sources = sources.where(sources != "", source)
    problems = []
    if not {"prediction_id", "id", "text"} & set(frame.columns):
        raise InvalidInput(f"{where}: needs a 'prediction_id' (or 'id') or a 'text' column")
    if not {"true_code", "code"} & set(frame.columns):
        raise InvalidInput(f"{where}: needs a 'true_code' column")
    answers = ref.tags.get("classification")
    none = none_answer(answers)  # 'not-in-base' for a matcher: stored as the empty label
    not_in_base = (codes == none) if none else pd.Series(False, index=codes.index)
    checks = [
        ((ids == "") & (texts == ""), "have neither a prediction id nor a text"),
        ((ids != "") & (texts != ""), "have both a prediction id and a text (give one)"),
        (codes == "", "have no true code" + (f" (write {none} for a record that is not in the base)" if none else "")),
        (~sources.isin(SOURCES), f"have a source other than {', '.join(SOURCES)}"),
    ]
    given = (codes != "") & ~not_in_base
    hierarchy = version_hierarchy(ws, ref, codes[given].unique().tolist())
    if not hierarchy.from_prefixes:
        checks.append((given & ~codes.isin(hierarchy.codes),
                       f"have a true code that the {answers_label(answers)} does not have"))
    wanted = sorted(set(ids[ids != ""]))
    if wanted:
        known = _known_ids(ws.store, model, wanted)
        checks.append(((ids != "") & ~ids.isin(known), f"name a prediction id that model {model} never logged"))
    for mask, what in checks:
        if mask.any():
            problems.append(f"{int(mask.sum())} record(s) {what} ({unit} {_lines(mask, first_line)})")
    if problems:
        raise InvalidInput(f"{where}: " + "; ".join(problems) + "; nothing was written")
    now = datetime.now(UTC)
    codes = codes.mask(not_in_base, "")
    rows = [{"model": model, "prediction_id": i or None, "input_sha256": text_sha256(t) if t else None,
             "true_code": c, "source": s, "created_by": actor.name, "created_at": now}
            for i, t, c, s in zip(ids, texts, codes, sources, strict=True)]
    with ws.store.session() as session:
        session.execute(insert(FEEDBACK), rows)
        by_source = {k: int(v) for k, v in sources.value_counts().items()}
        ws.store.audit(session, actor.name, "feedback.add", model, records=len(rows), sources=by_source)
    return FeedbackAdded(model, len(rows), by_source, int((ids != "").sum()), int((texts != "").sum()))


def add_feedback_file(ws: Workspace, actor: Actor, model: str, path: str | Path, source: str | None = None,
                      text_format: TextFormat | None = None) -> FeedbackAdded:
    """`add_feedback` from a CSV, Parquet or Excel file (lines counted as in the file, header first)."""
    path = Path(path)
    frame = read_table(path, text_format) if text_format else read_table(path)
    return add_feedback(ws, actor, model, frame, source, where=path.name, first_line=2)


def labelled_predictions(store: Store, model: str, version: str | None, since: datetime | None,
                         until: datetime | None) -> pd.DataFrame:
    """Logged predictions in [since, until) that have a true code: at, code, decision, true_code, source.
    A prediction with several true codes counts once, with the newest. A model without any true code
    costs one look-up, not a join over the window."""
    columns = ["id", "at", "code", "decision", "true_code", "source"]
    with store.engine.connect() as connection:
        if connection.execute(select(FEEDBACK.c.id).where(FEEDBACK.c.model == model).limit(1)).first() is None:
            return pd.DataFrame(columns=columns)
    frames = []
    for on in (FEEDBACK.c.prediction_id == LOG.c.id, FEEDBACK.c.input_sha256 == LOG.c.input_sha256):
        query = (select(LOG.c.id, LOG.c.at, LOG.c.code, LOG.c.decision, FEEDBACK.c.true_code, FEEDBACK.c.source,
                        FEEDBACK.c.id.label("feedback_id"))
                 .join(FEEDBACK, on).where(FEEDBACK.c.model == model))
        query = in_window(query, model, version, since, until)
        with store.engine.connect() as connection:
            frames.append(pd.DataFrame(connection.execute(query).all(),
                                       columns=["id", "at", "code", "decision", "true_code", "source", "feedback_id"]))
    frame = pd.concat(frames, ignore_index=True) if any(len(f) for f in frames) else frames[0]
    if frame.empty:
        return frame.drop(columns=["feedback_id"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame = frame.sort_values("feedback_id").drop_duplicates("id", keep="last").sort_values("at")
    return frame.drop(columns=["feedback_id"]).reset_index(drop=True)
