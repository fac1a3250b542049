"""Labelled token sequences derived from the reference base itself, for training and testing the
parser: each address written the ways people write it (fields dropped, no commas, the flat word
left out, a slip of the keyboard), every token labelled with the field it came from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from statops.addresses.fields import FIELDS
from statops.addresses.normalise import SUB_BUILDING_WORDS, normalise

Labelled = tuple[list[str], list[int], list[str]]  # words, comma segment of each, labels

# How often a field is left out of a derived string (the rest are always written).
DROP = {"organisation": 0.4, "building_name": 0.25, "locality": 0.5, "town": 0.2, "postcode": 0.5}
NO_COMMAS = 0.35
NUMBER_COMMA = 0.25  # "12, ACORN ROAD" rather than "12 ACORN ROAD"
FLAT_WORD_DROPPED = 0.3
TYPO = 0.2
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _typo(word: str, rng: np.random.Generator) -> str:
    """One character deleted, doubled, swapped with the next or replaced."""
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + LETTERS[int(rng.integers(26))] + word[i + 1:]


def derive_one(row: dict[str, str], rng: np.random.Generator) -> Labelled:
    """One written variant of a reference row (fields already normalised), labelled per token."""
    groups: list[tuple[list[str], str]] = []  # (words, label) in writing order; each is a comma group
    for field in FIELDS:
        value = row[field]
        if not value or rng.random() < DROP.get(field, 0.0):
            continue
        field_words = value.replace(",", " ").split()
        if field == "sub_building" and len(field_words) > 1 and field_words[0] in SUB_BUILDING_WORDS \
                and rng.random() < FLAT_WORD_DROPPED:
            field_words = field_words[1:]
        if rng.random() < TYPO:
            long = [i for i, w in enumerate(field_words) if len(w) >= 4 and w.isalpha()]
            if long:
                i = long[int(rng.integers(len(long)))]
                field_words[i] = _typo(field_words[i], rng)
        groups.append((field_words, field))
    commas = rng.random() >= NO_COMMAS
    number_comma = rng.random() < NUMBER_COMMA
    words: list[str] = []
    segments: list[int] = []
    labels: list[str] = []
    segment = 0
    for index, (field_words, field) in enumerate(groups):
        if index and commas and not (field == "street" and groups[index - 1][1] == "building_number"
                                     and not number_comma):
            segment += 1
        words.extend(field_words)
        segments.extend([segment] * len(field_words))
        labels.extend([field] * len(field_words))
    return words, segments, labels


def normalised_fields(reference: pd.DataFrame) -> list[dict[str, str]]:
    """Each reference row's fields, each normalised on its own."""
    columns = {f: [normalise(v) for v in reference[f].tolist()] for f in FIELDS}
    return [dict(zip(FIELDS, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def derive(reference: pd.DataFrame, count: int, seed: int) -> list[Labelled]:
    """`count` labelled variants of rows drawn at random (seeded) from the reference."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(reference), size=count, replace=count > len(reference))
    fields = normalised_fields(reference.iloc[np.sort(rows)])
    out = [derive_one(f, rng) for f in fields]
    return [s for s in out if s[0]]
