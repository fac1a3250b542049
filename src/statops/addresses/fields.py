"""The reference base's address fields: their names, one string per address, and validation."""

from __future__ import annotations

import pandas as pd

from statops.errors import InvalidInput

FIELDS = ("organisation", "sub_building", "building_name", "building_number", "street", "locality", "town",
          "postcode")
ID_COLUMN = "id"
SHOWN = 5  # offending ids named in an error


def compose(frame: pd.DataFrame) -> pd.Series:
    """One address string per row: the fields in order, comma separated, empty ones skipped, the
    building number and the street joined by a space."""
    columns = {f: (frame[f].fillna("").astype(str).str.strip() if f in frame else pd.Series("", index=frame.index))
               for f in FIELDS}
    number_street = (columns["building_number"] + " " + columns["street"]).str.strip()
    parts = [columns["organisation"], columns["sub_building"], columns["building_name"], number_street,
             columns["locality"], columns["town"], columns["postcode"]]
    rows = zip(*(p.tolist() for p in parts), strict=True)
    return pd.Series([", ".join(v for v in row if v) for row in rows], index=frame.index, dtype=object)


def _named(values: pd.Series) -> str:
    shown = ", ".join(repr(v) for v in values.head(SHOWN))
    return f"{shown}{', ...' if len(values) > SHOWN else ''} ({len(values)} in all)"


def check_reference(frame: pd.DataFrame) -> pd.DataFrame:
    """The reference with every column as stripped text; InvalidInput names a missing id column,
    empty or duplicate ids and rows without any address field."""
    if ID_COLUMN not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise InvalidInput(f"the reference has no '{ID_COLUMN}' column; its columns: {columns}")
    present = [f for f in FIELDS if f in frame.columns]
    if not present:
        raise InvalidInput(f"the reference has none of the address fields {', '.join(FIELDS)}")
    out = pd.DataFrame({c: frame[c].astype(object).where(frame[c].notna(), "").astype(str).str.strip()
                        for c in frame.columns}, index=frame.index)
    for f in FIELDS:
        if f not in out.columns:
            out[f] = ""
    ids = out[ID_COLUMN]
    empty = ids == ""
    if empty.any():
        raise InvalidInput(f"the reference has {int(empty.sum())} rows with an empty id (rows "
                           f"{', '.join(str(i) for i in out.index[empty][:SHOWN])})")
    duplicated = ids[ids.duplicated(keep=False)].drop_duplicates()
    if len(duplicated):
        raise InvalidInput(f"the reference has duplicate ids: {_named(duplicated)}")
    blank = (out[list(FIELDS)] == "").all(axis=1)
    if blank.any():
        raise InvalidInput(f"the reference has rows whose address fields are all empty: ids {_named(ids[blank])}")
    return out.reset_index(drop=True)
