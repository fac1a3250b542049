"""Whether a registered version may answer, read from the state MLflow mirrors (statops.registry.states)."""

from __future__ import annotations

from collections.abc import Mapping

from statops.errors import Conflict

STATE_TAG = "statops.state"  # the version's lifecycle state, mirrored from the store
STATE_REASON_TAG = "statops.state_reason"


def retired_reason(tags: Mapping[str, str]) -> str | None:
    """Why the version with these tags is retired, or None when it is in service."""
    if tags.get(STATE_TAG) != "retired":
        return None
    return tags.get(STATE_REASON_TAG) or "no reason recorded"


def check_in_service(name: str, version: str, tags: Mapping[str, str]) -> None:
    """Conflict when the version is retired."""
    reason = retired_reason(tags)
    if reason is not None:
        raise Conflict(f"model {name} version {version} is retired: {reason}")
