"""The reference's fields: one string per address, and the checks that refuse a bad reference."""

from __future__ import annotations

import pandas as pd
import pytest

from statops.addresses.fields import FIELDS, check_reference, compose
from statops.errors import InvalidInput


def _reference(**columns: list[str]) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    base = {"id": [f"{i:012d}" for i in range(rows)], **{f: [""] * rows for f in FIELDS}}
    base.update(columns)
    return pd.DataFrame(base)


def test_compose_orders_fields_skips_empty_ones_and_joins_number_and_street() -> None:
    frame = _reference(sub_building=["FLAT 3", ""], building_name=["ACORN HOUSE", ""], building_number=["12", "4A"],
                       street=["MILL LANE", "HIGH STREET"], town=["LEEDS", "YORK"], postcode=["LS1 1AB", ""])
    assert compose(frame).tolist() == ["FLAT 3, ACORN HOUSE, 12 MILL LANE, LEEDS, LS1 1AB", "4A HIGH STREET, YORK"]


def test_ids_stay_text_with_their_leading_zeros() -> None:
    frame = _reference(street=["MILL LANE"])
    frame["id"] = ["000000000042"]
    assert check_reference(frame)["id"].tolist() == ["000000000042"]


def test_a_missing_id_column_is_named() -> None:
    with pytest.raises(InvalidInput, match="no 'id' column"):
        check_reference(_reference(street=["MILL LANE"]).drop(columns="id"))


def test_duplicate_ids_are_named_with_their_count() -> None:
    frame = _reference(street=["A ROAD", "B ROAD", "C ROAD", "D ROAD"])
    frame["id"] = ["1", "1", "2", "2"]
    with pytest.raises(InvalidInput, match=r"duplicate ids: '1', '2' \(2 in all\)"):
        check_reference(frame)


def test_empty_ids_are_refused() -> None:
    frame = _reference(street=["A ROAD", "B ROAD"])
    frame["id"] = ["1", " "]
    with pytest.raises(InvalidInput, match="1 rows with an empty id"):
        check_reference(frame)


def test_rows_without_any_address_field_are_named() -> None:
    frame = _reference(street=["A ROAD", ""])
    with pytest.raises(InvalidInput, match="address fields are all empty: ids '000000000001'"):
        check_reference(frame)


def test_missing_values_become_empty_text() -> None:
    frame = _reference(street=["A ROAD"], town=[None])  # type: ignore[list-item]
    assert check_reference(frame)["town"].tolist() == [""]
