"""The CRF parser, trained on strings derived from some reference addresses and measured per label
on strings derived from other addresses it never saw."""

from __future__ import annotations

import pytest

from statops.addresses.derive import derive
from statops.addresses.fields import FIELDS
from statops.addresses.parser import AddressParser, label_quality

F1_FLOOR = {"sub_building": 0.9, "building_name": 0.85, "building_number": 0.95, "street": 0.95, "town": 0.9,
            "postcode": 0.98}


@pytest.fixture(scope="module")
def parser_and_quality(demo_bed):  # type: ignore[no-untyped-def]
    reference = demo_bed.reference.sample(frac=1.0, random_state=0).reset_index(drop=True)
    half = len(reference) // 2
    parser = AddressParser.fit(derive(reference.iloc[:half], 2500, seed=1), max_iterations=40)
    return parser, label_quality(parser, derive(reference.iloc[half:], 600, seed=2))


@pytest.mark.parametrize("label", sorted(F1_FLOOR))
def test_parser_f1_per_label_on_held_out_addresses(parser_and_quality, label: str) -> None:  # type: ignore[no-untyped-def]
    _, quality = parser_and_quality
    assert quality[label]["support"] > 0
    assert quality[label]["f1"] >= F1_FLOOR[label], quality[label]


def test_parse_names_every_field_and_keeps_words_in_order(parser_and_quality) -> None:  # type: ignore[no-untyped-def]
    parser, _ = parser_and_quality
    parsed = parser.parse_normalised("FLAT 3, 14 CHURCH ROAD, LS1 1AB")
    assert set(parsed) == set(FIELDS)
    assert parsed["building_number"] == "14"
    assert parsed["postcode"] == "LS1 1AB"
    assert "FLAT" in parsed["sub_building"]


def test_empty_text_parses_to_empty_fields(parser_and_quality) -> None:  # type: ignore[no-untyped-def]
    parser, _ = parser_and_quality
    assert parser.parse_normalised("") == {f: "" for f in FIELDS}
