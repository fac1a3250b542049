"""The challenger's training data: the champion's training records plus the new labelled data,
deduplicated, with conflicting labels resolved (newest wins, each conflict listed). New data that cannot
help — no rows, codes outside the classification, nothing but conflicts, nothing new — is refused here,
before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from statops.classifications import Hierarchy
from statops.data import DatasetInfo
from statops.errors import InvalidInput

LISTED = 10  # examples named in an error message
CODED_AT = "coded_at"  # a review export's column: when each record was coded (orders records within a dataset)


def text_key(texts: pd.Series) -> pd.Series:
    """What makes two records the same record: their text, case and spacing aside."""
    return texts.astype("string").str.casefold().str.split().str.join(" ").fillna("")


@dataclass(frozen=True)
class Source:
    """One labelled dataset going into the challenger's training data."""

    info: DatasetInfo
    frame: pd.DataFrame
    new: bool  # new labelled data, as opposed to the champion's own training data

    def records(self) -> pd.DataFrame:
        """text, code, key and the record's order within the dataset (by coded_at where recorded)."""
        assert self.info.label_column
        out = pd.DataFrame({"text": self.frame[self.info.text_column].astype("string"),
                            "code": self.frame[self.info.label_column].astype("string").str.strip()})
        out["key"] = text_key(out["text"])
        out["source"], out["new"] = self.info.ref, self.new
        when = pd.to_datetime(self.frame[CODED_AT], utc=True, errors="coerce") if CODED_AT in self.frame else None
        out["within"] = when.rank(method="first").fillna(0).to_numpy() if when is not None else 0.0
        return out.reset_index(drop=True)


@dataclass(frozen=True)
class LabelConflict:
    """One text that sources code differently: the code kept (the newest) and those dropped."""

    text: str
    kept: str
    kept_from: str
    dropped: tuple[tuple[str, str], ...]  # (code, dataset)

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "kept": self.kept, "kept_from": self.kept_from,
                "dropped": [{"code": c, "dataset": d} for c, d in self.dropped]}


@dataclass(frozen=True)
class CombinedData:
    frame: pd.DataFrame  # text, code, source: one record per text
    records_in: dict[str, int]  # records read, by dataset
    duplicates: int  # records dropped because another source had the same text and code
    conflicts: list[LabelConflict]
    new_texts: int  # texts the champion's training data did not have
    relabelled: int  # texts of the champion's training data whose code the new data changed
    held_out: int  # records dropped because their text is in the held-out evaluation data

    def summary(self) -> dict[str, Any]:
        return {"records": len(self.frame), "records_in": self.records_in, "duplicates": self.duplicates,
                "conflicts": len(self.conflicts), "new_texts": self.new_texts, "relabelled": self.relabelled,
                "held_out": self.held_out}


def _listed(items: Sequence[str], total: int) -> str:
    more = f" and {total - LISTED} more" if total > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def check_new_data(info: DatasetInfo, frame: pd.DataFrame, hierarchy: Hierarchy, classification: str | None) -> None:
    """Refuse new data with no rows, no labels, another classification or codes outside the champion's."""
    if not info.label_column:
        raise InvalidInput(f"dataset {info.ref} has no label column, so it holds no labels to retrain on")
    if len(frame) == 0:
        raise InvalidInput(f"dataset {info.ref} has no rows: there is nothing to retrain on")
    champion = (classification or "").partition("@")[0] or None
    if champion and info.classification and info.classification != champion:
        raise InvalidInput(f"dataset {info.ref} is coded in classification {info.classification}, but the model "
                           f"codes into {classification}")
    if hierarchy.from_prefixes:
        return
    counts = frame[info.label_column].astype("string").str.strip().value_counts()
    # with a reference base, an empty label says the record's answer is not in it
    unknown = [f"{code} ({n} rows)" for code, n in counts.items()
               if code not in hierarchy and not (info.reference and code == "")]
    if unknown:
        raise InvalidInput(f"dataset {info.ref}: {len(unknown)} code(s) are not in classification "
                           f"{classification}: {_listed(unknown, len(unknown))}; nothing was trained")


def _conflicts(ranked: pd.DataFrame, keys: pd.Index) -> list[LabelConflict]:
    out = []
    for _, group in ranked[ranked["key"].isin(keys)].groupby("key", sort=True):
        kept = group.iloc[-1]
        dropped = group.loc[group["code"] != kept["code"], ["code", "source"]].drop_duplicates()
        out.append(LabelConflict(str(kept["text"]), str(kept["code"]), str(kept["source"]),
                                 tuple((str(c), str(s)) for c, s in dropped.itertuples(index=False, name=None))))
    return out


def combine(sources: Sequence[Source], held_out_texts: pd.Series | None = None) -> CombinedData:
    """One record per text over all sources; where sources disagree on a text's code the newest wins
    (datasets by when they were catalogued, records within one by coded_at, else file order). Records
    whose text is in the held-out data are dropped, so the comparison stays fair."""
    ordered = sorted(enumerate(sources), key=lambda p: (str(p[1].info.created_at), p[0]))
    parts = [s.records().assign(rank=rank) for rank, (_, s) in enumerate(ordered)]
    everything = pd.concat(parts, ignore_index=True)
    records_in = {s.info.ref: len(s.frame) for s in sources}
    held = 0
    if held_out_texts is not None:
        outside = ~everything["key"].isin(set(text_key(held_out_texts)))
        held = int((~outside).sum())
        everything = everything[outside]
    ranked = everything.sort_values(["rank", "within"], kind="stable")
    codes_per_text = ranked.groupby("key")["code"].nunique()
    conflicting = codes_per_text.index[codes_per_text > 1]
    new = ranked[ranked["new"]]
    _refuse_useless(new, ranked, conflicting)
    kept = ranked.drop_duplicates("key", keep="last")
    conflict_rows = int(ranked["key"].isin(conflicting).sum()) - len(conflicting)
    old = ranked[~ranked["new"]]
    old_code = old.drop_duplicates("key", keep="last").set_index("key")["code"]
    final = kept.set_index("key")["code"]
    common = final.index.intersection(old_code.index)
    return CombinedData(
        frame=kept[["text", "code", "source"]].sort_values("text", kind="stable").reset_index(drop=True),
        records_in=records_in,
        duplicates=len(ranked) - len(kept) - conflict_rows,
        conflicts=_conflicts(ranked, conflicting),
        new_texts=int((~new["key"].drop_duplicates().isin(old_code.index)).sum()),
        relabelled=int((final.loc[common] != old_code.loc[common]).sum()),
        held_out=held,
    )


def _refuse_useless(new: pd.DataFrame, ranked: pd.DataFrame, conflicting: pd.Index) -> None:
    """New data made only of conflicts, or of records the training data holds already, changes nothing
    a user meant to change: most likely the wrong file or the wrong columns."""
    if new.empty:
        raise InvalidInput("the new data has no records outside the held-out evaluation data: nothing to retrain on")
    in_conflict = new["key"].isin(conflicting)
    if in_conflict.all():
        examples = [f"'{t}'" for t in new["text"].drop_duplicates().astype(str)]
        raise InvalidInput(f"every one of the {len(new):,} new records conflicts with another record of the same "
                           f"text and a different code ({_listed(examples, len(examples))}); nothing was trained: "
                           "check that the right file and columns were catalogued")
    old = ranked[~ranked["new"]]
    known = set(zip(old["key"], old["code"], strict=True))
    if all((k, c) in known for k, c in zip(new["key"], new["code"], strict=True)):
        raise InvalidInput(f"the new data adds nothing: all {len(new):,} records are in the champion's training data "
                           "already, with the same codes")
