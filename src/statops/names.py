"""Validation of the names users give to datasets, classifications and models."""

from __future__ import annotations

import re

from statops.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def check_name(name: str, what: str) -> str:
    """A name of letters, digits, '_', '-', '.', starting with a letter or digit."""
    if not NAME_PATTERN.match(name or ""):
        raise InvalidInput(
            f"invalid {what} name '{name}': use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, at most 100 characters"
        )
    return name


def split_versioned(ref: str, what: str) -> tuple[str, int | None]:
    """'NAME' or 'NAME@N' -> (NAME, N or None)."""
    name, _, version = ref.partition("@")
    check_name(name, what)
    if not version:
        return name, None
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"invalid {what} reference '{ref}': the part after @ must be a version number")
    return name, int(version)
