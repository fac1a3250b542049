"""The reference base prepared for matching: each address's normalised fields, its numbers and
postcode, and lookups by postcode and by building (number and street) — computed once, at build."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from statops.addresses.derive import normalised_fields
from statops.addresses.fields import FIELDS, ID_COLUMN, compose
from statops.addresses.normalise import SUB_BUILDING_WORDS, has_digit, words

_POSTCODE_PART = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$|^[0-9][A-Z]{2}$")
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_INWARD = re.compile(r"^[0-9][A-Z]{2}$")
_LETTERS = re.compile(r"[A-Z]+")
BLOCK_LIMIT = 60  # a lookup that finds more than this says little; it is left to the index


@dataclass(frozen=True)
class Facts:
    """What matching compares of one address, reference or query, all normalised."""

    normalised: str
    fields: dict[str, str]
    words: frozenset[str]
    numbers: tuple[str, ...]  # words with a digit, outside the postcode, in order
    postcode: str  # "OUT IN" or ""
    alpha: frozenset[str] = frozenset()  # the words without a digit
    text: str = ""  # the normalised address without commas and postcode (for string similarities)

    @property
    def outward(self) -> str:
        return self.postcode.split(" ")[0] if self.postcode else ""

    @property
    def sector(self) -> str:
        return self.postcode[:-2] if self.postcode else ""


def find_postcode(all_words: list[str]) -> str:
    """The first outward-inward pair of words ("" when none)."""
    for a, b in zip(all_words, all_words[1:], strict=False):
        if _OUTWARD.match(a) and _INWARD.match(b):
            return f"{a} {b}"
    return ""


def query_facts(normalised: str, fields: dict[str, str]) -> Facts:
    """Facts of a query from its normalised text and its parsed fields."""
    all_words = words(normalised)
    postcode = find_postcode(all_words)
    pc_words = set(postcode.split()) if postcode else set()
    numbers = tuple(w for w in all_words if has_digit(w) and w not in pc_words and not _POSTCODE_PART.match(w))
    return _facts(normalised, fields, all_words, numbers, postcode)


def reference_facts(fields: dict[str, str]) -> Facts:
    """Facts of a reference address from its normalised fields."""
    whole = ", ".join(v for v in (fields["organisation"], fields["sub_building"], fields["building_name"],
                                  f"{fields['building_number']} {fields['street']}".strip(), fields["locality"],
                                  fields["town"], fields["postcode"]) if v)
    numbers = tuple(w for f in ("sub_building", "building_name", "building_number") for w in fields[f].split()
                    if has_digit(w))
    postcode = find_postcode(fields["postcode"].split())
    return _facts(whole, fields, words(whole), numbers, postcode)


def _facts(normalised: str, fields: dict[str, str], all_words: list[str], numbers: tuple[str, ...],
           postcode: str) -> Facts:
    text = normalised.replace(",", "")
    if postcode:
        text = text.replace(postcode, "").strip()
    return Facts(normalised, fields, frozenset(all_words), numbers, postcode,
                 frozenset(w for w in all_words if not has_digit(w)), text)


def sub_number(fields: dict[str, str]) -> str:
    """The flat's own identifier: the sub-building without its FLAT/UNIT word."""
    return " ".join(w for w in fields["sub_building"].split() if w not in SUB_BUILDING_WORDS)


def _base(number: str) -> str:
    """A number without its suffix letters: 14A -> 14."""
    return _LETTERS.sub("", number)


class Side:
    """What the comparisons read of one address, derived once from its facts (a reference address's
    once per process, not once per query it is a candidate of)."""

    __slots__ = ("facts", "numbers", "number_set", "counts", "base_of", "bases", "building", "sub", "sub_words",
                 "sub_word_set", "place", "name", "organisation", "street", "town", "has_flat")

    def __init__(self, facts: Facts) -> None:
        f = facts.fields
        self.facts = facts
        self.numbers = facts.numbers
        self.number_set = frozenset(facts.numbers)
        # counted with repeats: FLAT 8, 8 WELLINGTON ROAD needs two 8s, and "FLAT 7, 8 ..." has only one
        self.counts = Counter(facts.numbers)
        self.base_of = {n: _base(n) for n in self.number_set}
        self.bases = frozenset(self.base_of.values())
        self.building = f["building_number"]
        self.sub = sub_number(f)
        self.sub_words = tuple(self.sub.split())
        self.sub_word_set = frozenset(self.sub_words)
        self.place = f"{f['locality']} {f['town']}".strip()
        self.name = f["building_name"]
        self.organisation = f["organisation"]
        self.street = f["street"]
        self.town = f["town"]
        self.has_flat = bool(f["sub_building"]) or not SUB_BUILDING_WORDS.isdisjoint(facts.words)


class Gazetteer:
    """The reference rows with their facts and block lookups, addressed by row number."""

    def __init__(self, reference: pd.DataFrame) -> None:
        self.reference = reference[[ID_COLUMN, *FIELDS]].reset_index(drop=True)
        self.ids = np.asarray(self.reference[ID_COLUMN].tolist(), dtype=object)
        self.addresses = compose(self.reference).tolist()
        self.facts = [reference_facts(f) for f in normalised_fields(self.reference)]
        self.row_of = {str(i): r for r, i in enumerate(self.ids)}
        by_postcode: dict[str, list[int]] = defaultdict(list)
        by_building: dict[tuple[str, str], list[int]] = defaultdict(list)
        building_rows: dict[tuple[str, str, str, str], int] = defaultdict(int)
        for row, facts in enumerate(self.facts):
            if facts.postcode:
                by_postcode[facts.postcode].append(row)
            number = facts.fields["building_number"] or facts.fields["building_name"]
            if number and facts.fields["street"]:
                by_building[(number, facts.fields["street"])].append(row)
            building_rows[_building_key(facts)] += 1
        # how many addresses share each one's building: a house listed beside its own flats is the
        # likeliest wrong answer for a flat written without its flat number
        self.building_size = np.array([building_rows[_building_key(f)] for f in self.facts], dtype=np.float32)
        self.by_postcode = {k: v for k, v in by_postcode.items() if len(v) <= BLOCK_LIMIT}
        self.known_postcodes = frozenset(by_postcode)
        self.by_building = {k: v for k, v in by_building.items() if len(v) <= BLOCK_LIMIT}
        self.vocabulary = frozenset(w for f in self.facts for w in f.words)
        self._sides: dict[int, Side] = {}

    def side(self, row: int) -> Side:
        """The row's facts as the comparisons read them (derived on first use)."""
        found = self._sides.get(row)
        if found is None:
            found = self._sides[row] = Side(self.facts[row])
        return found

    def __len__(self) -> int:
        return len(self.ids)

    def blocked(self, query: Facts) -> list[int]:
        """Rows sharing the query's postcode, or its building number (or name) and street."""
        rows = list(self.by_postcode.get(query.postcode, ())) if query.postcode else []
        street = query.fields.get("street", "")
        if street:
            for key in (query.fields.get("building_number", ""), query.fields.get("building_name", "")):
                if key:
                    rows.extend(self.by_building.get((key, street), ()))
        return rows


def _building_key(facts: Facts) -> tuple[str, str, str, str]:
    f = facts.fields
    return f["building_number"], f["building_name"], f["street"], f["town"]

