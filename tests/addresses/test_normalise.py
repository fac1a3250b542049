"""Normalisation: the written variants of one address come out the same."""

from __future__ import annotations

import pytest

from statops.addresses.normalise import MAX_CHARS, canonical_postcode, normalise


@pytest.mark.parametrize(("written", "expected"), [
    ("14 Acorn Rd", "14 ACORN ROAD"),
    ("14 ACORN ROAD", "14 ACORN ROAD"),
    ("14 acorn road.", "14 ACORN ROAD"),
    ("12 High St", "12 HIGH ST"),
    ("12 High Street", "12 HIGH ST"),
    ("St. John's Avenue", "ST JOHNS AVENUE"),
    ("Saint Johns Ave", "ST JOHNS AVENUE"),
    ("Apartment 3", "FLAT 3"),
    ("Apt 3", "FLAT 3"),
    ("Flt 3", "FLAT 3"),
    ("flat 3", "FLAT 3"),
    ("12-14 Mill Lane", "12-14 MILL LANE"),
    ("12 - 14 Mill Ln", "12-14 MILL LANE"),
    ("12/14 Mill Lane", "12-14 MILL LANE"),
    ("12 to 14 Mill Lane", "12-14 MILL LANE"),
    ("14 A Mill Lane", "14A MILL LANE"),
    ("14a Mill Lane", "14A MILL LANE"),
    ("Flat 14 a, 3 Mill Lane", "FLAT 14A, 3 MILL LANE"),
    ("No. 7 Mill Lane", "7 MILL LANE"),
    ("007 Mill Lane", "7 MILL LANE"),
    ("Café Élan, 2 Mill Lane", "CAFE ELAN, 2 MILL LANE"),
    ("3 Acornroad", "3 ACORN ROAD"),
    ("Primrosehouse", "PRIMROSE HOUSE"),
    ("Cedar-Apartments", "CEDAR APARTMENTS"),
    ("2 Mill Lane, ls11ab", "2 MILL LANE, LS1 1AB"),
    ("2 Mill Lane, LS1  1AB", "2 MILL LANE, LS1 1AB"),
    ("ST0X 3RD", "ST0X 3RD"),  # a postcode's inward part is not the abbreviation of THIRD
    ("3rd Floor Flat", "THIRD FLOOR FLAT"),
    ("2nd flr", "SECOND FLOOR"),
    ("Smith & Sons", "SMITH AND SONS"),
    ("  ,, 2 Mill Lane ,", "2 MILL LANE"),
    ("", ""),
    ("   ", ""),
    ("Привет, мир", ""),
    ("東京都千代田区", ""),
])
def test_written_variants_normalise_to_one_form(written: str, expected: str) -> None:
    assert normalise(written) == expected


@pytest.mark.parametrize(("text", "postcode"), [
    ("ls11ab", "LS1 1AB"), ("Leeds LS1 1AB", "LS1 1AB"), ("sw1a 1aa", "SW1A 1AA"), ("14 Mill Lane", ""),
])
def test_canonical_postcode_spacing_and_case(text: str, postcode: str) -> None:
    assert canonical_postcode(text) == postcode


def test_very_long_text_is_cut() -> None:
    assert len(normalise("14 MILL LANE " * 1000)) <= MAX_CHARS
