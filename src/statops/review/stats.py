"""The review queue's progress (done, left, per coder, time per item, agreement per level) and its
export: coded items as a new version of a dataset, with provenance, ready to train on."""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from statops.accounts import Actor, require
from statops.data import add_dataset
from statops.data.answers import PREFIXES, reference_of
from statops.data.catalogue import DatasetInfo
from statops.errors import InvalidInput
from statops.registry.versions import resolve_model
from statops.review.agreement import LevelAgreement, agreement_by_level
from statops.review.decisions import SKIP, item_hierarchy
from statops.review.queue import DECISIONS, ITEMS, sync_queue
from statops.workspace import Workspace


@dataclass(frozen=True)
class CoderStats:
    coder: str
    coded: int
    uncodable: int
    skipped: int
    seconds_per_item: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ReviewStats:
    model: str
    items: int
    done: int
    left: int
    audit_items: int
    double_items: int
    coders: list[CoderStats]
    seconds_per_item: float | None  # mean over answers (not skips) that recorded their time
    median_seconds: float | None
    agreement: list[LevelAgreement] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("coders", "agreement")}
        return {**data, "coders": [c.as_dict() for c in self.coders],
                "agreement": [a.as_dict() for a in self.agreement]}


def _frames(ws: Workspace, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    with ws.store.engine.connect() as connection:
        items = pd.DataFrame(connection.execute(select(ITEMS).where(ITEMS.c.model == model)).mappings().all(),
                             columns=[c.name for c in ITEMS.columns])
        decisions = pd.DataFrame(connection.execute(select(DECISIONS).where(DECISIONS.c.model == model)
                                                    .order_by(DECISIONS.c.id)).mappings().all(),
                                 columns=[c.name for c in DECISIONS.columns])
    return items, decisions


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def _pairs(items: pd.DataFrame, coded: pd.DataFrame) -> tuple[list[tuple[str, str]], str | None]:
    twice = items.loc[items["codings_needed"] >= 2, ["id", "version"]]
    pairs: list[tuple[str, str]] = []
    version = None
    for item_id, version_of in zip(twice["id"], twice["version"], strict=True):
        codes = coded.loc[coded["item_id"] == item_id, "code"].tolist()
        if len(codes) >= 2:
            pairs.append((str(codes[0]), str(codes[1])))
            version = str(version_of)
    return pairs, version


def review_stats(ws: Workspace, actor: Actor, model: str) -> ReviewStats:
    """Where `model`'s review queue stands (after reading the log into it)."""
    require(ws, actor, "review.read")
    sync_queue(ws, model)
    items, decisions = _frames(ws, model)
    answers = decisions[decisions["outcome"] != SKIP]
    coders = [CoderStats(str(coder), int((group["outcome"] == "coded").sum()),
                         int((group["outcome"] == "uncodable").sum()), int((group["outcome"] == SKIP).sum()),
                         _mean(group.loc[group["outcome"] != SKIP, "seconds"]))
              for coder, group in decisions.groupby("coder", sort=True)]
    seconds = answers["seconds"].dropna()
    coded = decisions[decisions["outcome"] == "coded"]
    pairs, version = _pairs(items, coded)
    agreement = []
    if pairs and version is not None:
        codes = sorted({c for pair in pairs for c in pair})
        agreement = agreement_by_level(pairs, item_hierarchy(ws, model, version, codes))
    return ReviewStats(model, len(items), int((items["status"] == "done").sum()),
                       int((items["status"] == "open").sum()), int(items["audit"].astype(bool).sum()),
                       int((items["codings_needed"] >= 2).sum()), coders, _mean(seconds),
                       float(statistics.median(seconds)) if len(seconds) else None, agreement)


@dataclass(frozen=True)
class ReviewExport:
    dataset: DatasetInfo
    records: int
    disagreements: int  # items coded twice with different codes (the later code is exported)
    without_text: int  # coded items left out: the log kept no text for them


def coded_items(ws: Workspace, model: str) -> tuple[pd.DataFrame, int]:
    """Every coded item of `model`, one row each with its latest code and provenance, and how many
    items coded twice had different codes."""
    items, decisions = _frames(ws, model)
    coded = decisions[decisions["outcome"] == "coded"]
    if coded.empty:
        return pd.DataFrame(columns=["text", "code", "prediction_id", "model_version", "model_code",
                                     "audit", "coders", "coded_at"]), 0
    by_item = coded.groupby("item_id").agg(code=("code", "last"), coders=("coder", lambda s: ";".join(s)),
                                           coded_at=("decided_at", "max"), codes=("code", "nunique"))
    frame = items.merge(by_item, left_on="id", right_index=True, suffixes=("_model", ""))
    frame = frame.sort_values("id")
    out = pd.DataFrame({"text": frame["text"], "code": frame["code"], "prediction_id": frame["prediction_id"],
                        "model_version": frame["version"], "model_code": frame["code_model"],
                        "audit": frame["audit"].astype(bool), "coders": frame["coders"],
                        "coded_at": pd.to_datetime(frame["coded_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return out.reset_index(drop=True), int((frame["codes"] > 1).sum())


def export_review(ws: Workspace, actor: Actor, model: str, dataset: str, cycle: str | None = None) -> ReviewExport:
    """Add `model`'s coded review items as the next version of dataset `dataset` (columns text and code,
    plus provenance: prediction_id, model_version, model_code, audit, coders, coded_at), checked against
    the model's classification like any dataset."""
    require(ws, actor, "review.read")
    require(ws, actor, "data.manage")
    sync_queue(ws, model)
    frame, disagreements = coded_items(ws, model)
    without_text = int(frame["text"].isna().sum())
    frame = frame[frame["text"].notna()]
    if frame.empty:
        raise InvalidInput(f"model {model} has no coded review items with text to export")
    answers = resolve_model(ws, model).tags.get("classification", "")
    reference = reference_of(answers)
    classification = answers.partition("@")[0] if answers and answers != PREFIXES and not reference else None
    with tempfile.TemporaryDirectory(prefix="statops-review-") as folder:
        path = Path(folder) / f"{dataset}-review.csv"
        frame.to_csv(path, index=False)
        info = add_dataset(ws, dataset, path, "text", "code", classification, cycle=cycle, gsbpm="5.2",
                           reference=reference)
    return ReviewExport(info, len(frame), disagreements, without_text)
