"""Readying a model's review queue before coders ask: the server's first `next` would otherwise read the
log's recent predictions and the first answer would load the classification, while its coders wait."""

from __future__ import annotations

from sqlalchemy import select

from statops.review.decisions import item_hierarchy
from statops.review.queue import ITEMS, refresh_queue
from statops.workspace import Workspace


def warm_up(ws: Workspace, model: str) -> None:
    """Read `model`'s new predictions into its queue, and load the classification of each version that
    has open items (what an answer's code is checked against)."""
    refresh_queue(ws, model)
    with ws.store.engine.connect() as connection:
        versions = connection.execute(select(ITEMS.c.version).where(
            ITEMS.c.model == model, ITEMS.c.status == "open").distinct()).scalars().all()
    for version in versions:
        item_hierarchy(ws, model, version, [])
