"""What a dataset's labels, and so a model's answers, are: codes of a classification, ids of a reference base
(a catalogued dataset of kind 'reference', e.g. an address base), or bare codes whose levels are their
prefixes. Each is a `Hierarchy`, so review, feedback and monitoring check and title answers the same way for
every task; its name (`soc2010@2020`, `reference addresses@1`, `code prefixes`) is what a model records."""

from __future__ import annotations

import pandas as pd

from statops.classifications import Hierarchy, get_classification
from statops.data.catalogue import DatasetInfo, get_dataset, load_dataset
from statops.errors import InvalidInput
from statops.workspace import Workspace

PREFIXES = "code prefixes"
REFERENCE = "reference "
REFERENCE_LEVEL = "answer"
NOT_IN_BASE = "not-in-base"
"""The answer a person gives for a record that a reference base does not hold (a coder in review, a
feedback file's true code); stored as the empty label, as a labelled dataset of the base writes it."""


def reference_answers(ws: Workspace, base: DatasetInfo) -> Hierarchy:
    """A reference base's ids, each titled with its text, as one flat level."""
    if base.kind != "reference" or not base.label_column:
        raise InvalidInput(f"dataset {base.ref} is not a reference base")
    frame = load_dataset(ws, base)
    return Hierarchy.flat(dict(zip(frame[base.label_column], frame[base.text_column], strict=True)), REFERENCE_LEVEL)


def dataset_answers(ws: Workspace, info: DatasetInfo, frame: pd.DataFrame) -> tuple[Hierarchy, str | None]:
    """The answers a labelled dataset's labels are, and their name (None for code prefixes)."""
    if info.classification:
        found = get_classification(ws, info.classification, info.classification_version)
        return found.hierarchy, f"{found.name}@{found.version}"
    if info.reference:
        base = get_dataset(ws, info.reference)
        return reference_answers(ws, base), f"{REFERENCE}{base.ref}"
    assert info.label_column
    return Hierarchy.from_codes(frame[info.label_column].astype(str).unique().tolist()), None


def named_answers(ws: Workspace, name: str | None, codes: list[str]) -> Hierarchy:
    """The answers named `name` (as `dataset_answers` names them); code prefixes of `codes` when unnamed."""
    if not name or name == PREFIXES:
        return Hierarchy.from_codes(codes)
    if name.startswith(REFERENCE):
        return reference_answers(ws, get_dataset(ws, name.removeprefix(REFERENCE)))
    classification, _, version = name.partition("@")
    return get_classification(ws, classification, version or None).hierarchy


def reference_of(name: str | None) -> str | None:
    """The reference base (NAME@N) that answers named `name` come from, if they come from one."""
    return name.removeprefix(REFERENCE) if name and name.startswith(REFERENCE) else None


def none_answer(name: str | None) -> str | None:
    """The word for 'none of the answers' where answers named `name` have one (NOT_IN_BASE for a
    reference base's ids), else None: a classification's codes cover every record."""
    return NOT_IN_BASE if reference_of(name) else None


def answers_label(name: str | None) -> str:
    """`name` in words, for messages: 'classification soc2010@2010', 'reference base addresses@1'."""
    base = reference_of(name)
    return f"reference base {base}" if base else f"classification {name}" if name and name != PREFIXES else "codes"
