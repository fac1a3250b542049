"""Which predictions the review queue samples: chosen from the prediction id by a hash threshold, so
the choice is unbiased (independent of text, answer and confidence), reproducible and the same in
every process."""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)


def unit_hash(prediction_id: str, purpose: str) -> float:
    """A number in [0, 1) fixed by the id and the purpose ('audit' or 'double'): uniform over ids."""
    digest = hashlib.sha256(f"{purpose}:{prediction_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_audit_sample(prediction_id: str, share: float) -> bool:
    """Whether an auto-coded prediction joins the queue as an audit item."""
    return share > 0 and unit_hash(prediction_id, "audit") < share


def coded_twice(prediction_id: str, share: float) -> bool:
    """Whether a review item is coded by two different coders, to measure agreement."""
    return share > 0 and unit_hash(prediction_id, "double") < share
