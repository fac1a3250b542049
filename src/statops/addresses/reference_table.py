"""A reference base from a user's table: which of its columns is the id and which hold which address field,
checked and shaped into the base that the catalogue keeps (`id`, the fields, and `address`, the whole)."""

from __future__ import annotations

import pandas as pd

from statops.addresses.fields import FIELDS, ID_COLUMN, check_reference, compose
from statops.errors import InvalidInput

ADDRESS_COLUMN = "address"
ALIASES = {
    "organisation": ("organisation", "organization", "organisationname", "org"),
    "sub_building": ("sub_building", "subname", "subbuildingname", "sub_building_name", "flat", "sao"),
    "building_name": ("building_name", "name", "buildingname", "house_name"),
    "building_number": ("building_number", "number", "buildingnumber", "house_number", "pao"),
    "street": ("street", "streetname", "thoroughfare", "street_name", "road"),
    "locality": ("locality", "dependentlocality", "dependent_locality", "district"),
    "town": ("town", "townname", "posttown", "post_town", "city"),
    "postcode": ("postcode", "postal_code", "post_code", "zip"),
}
"""Column names taken for a field when the user names none (case does not matter)."""


def _mapping(columns: list[str], address_columns: str | None) -> dict[str, str]:
    """Field -> column, from 'FIELD=COLUMN,...' (a bare COLUMN is a field's name or one of its aliases)."""
    by_name = {c.lower(): c for c in columns}
    if not address_columns:
        found = {field: by_name[alias] for field, aliases in ALIASES.items() for alias in aliases
                 if alias in by_name}
        mapping = {field: found[field] for field in FIELDS if field in found}
        if not mapping:
            raise InvalidInput(f"no address columns found among {', '.join(columns)}; name them with "
                               f"--address-columns FIELD=COLUMN,... (fields: {', '.join(FIELDS)})")
        return mapping
    mapping = {}
    for entry in (e.strip() for e in address_columns.split(",") if e.strip()):
        field, _, column = entry.partition("=") if "=" in entry else ("", "", entry)
        if not field:
            field = next((f for f, aliases in ALIASES.items() if entry.lower() in aliases), "")
            if not field:
                raise InvalidInput(f"address column '{entry}' is not a field's name; write FIELD=COLUMN "
                                   f"(fields: {', '.join(FIELDS)})")
        field, column = field.strip(), column.strip()
        if field not in FIELDS:
            raise InvalidInput(f"'{field}' is not an address field; fields: {', '.join(FIELDS)}")
        if column.lower() not in by_name:
            raise InvalidInput(f"the file has no column '{column}' (for {field}); its columns: {', '.join(columns)}")
        if field in mapping:
            raise InvalidInput(f"address field {field} is given twice in --address-columns")
        mapping[field] = by_name[column.lower()]
    return mapping


def reference_table(frame: pd.DataFrame, id_column: str, address_columns: str | None = None) -> pd.DataFrame:
    """`id`, the address fields (empty where the file has none) and `address` (the whole, as matched
    answers show it), one row per address; InvalidInput for a missing column, empty or duplicate ids, or
    rows without an address."""
    columns = [str(c) for c in frame.columns]
    if id_column not in columns:
        raise InvalidInput(f"the file has no id column '{id_column}'; its columns: {', '.join(columns)}")
    mapping = _mapping(columns, address_columns)
    shaped = pd.DataFrame({ID_COLUMN: frame[id_column]})
    for field in FIELDS:
        shaped[field] = frame[mapping[field]] if field in mapping else ""
    checked = check_reference(shaped)[[ID_COLUMN, *FIELDS]]
    checked[ADDRESS_COLUMN] = compose(checked)
    return checked
