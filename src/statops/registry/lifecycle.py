"""Whether a registered version may answer: the retirement rule (governance will extend it)."""

from __future__ import annotations

from collections.abc import Mapping

from statops.errors import Conflict

RETIRED_TAG = "retired"  # a version tagged retired=true is no longer used for predictions
RETIRED_REASON_TAG = "retired_reason"


def retired_reason(tags: Mapping[str, str]) -> str | None:
    """Why the version with these tags is retired, or None when it is in service."""
    if tags.get(RETIRED_TAG, "").strip().lower() not in ("true", "1", "yes"):
        return None
    return tags.get(RETIRED_REASON_TAG) or "no reason recorded"


def check_in_service(name: str, version: str, tags: Mapping[str, str]) -> None:
    """Conflict when the version is retired."""
    reason = retired_reason(tags)
    if reason is not None:
        raise Conflict(f"model {name} version {version} is retired: {reason}")
