"""What a coder needs beside the item: titles for the suggestions, a search over the classification by
code or words, and their own pace."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from statops.accounts import Actor
from statops.review.decisions import SKIP, item_hierarchy
from statops.review.queue import DECISIONS, ITEMS, QueueItem, refresh_queue
from statops.store.schema import ModelVersionState
from statops.workspace import Workspace

STATES = ModelVersionState.__table__
MAX_QUERY_CHARS = 200
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class CodeChoice:
    code: str
    title: str
    level: str


@dataclass(frozen=True)
class Pace:
    """A coder's progress on one model: items left in the queue, their own answers today, and their
    median seconds per item today."""

    left: int
    answered_today: int
    median_seconds: float | None


def suggestion_choices(ws: Workspace, item: QueueItem) -> list[CodeChoice]:
    """The item's suggestions, each with its title and level from the classification."""
    codes = [str(s.get("code", "")) if isinstance(s, dict) else str(s) for s in item.suggestions]
    hierarchy = item_hierarchy(ws, item.model, item.version, [c for c in codes if c])
    return [CodeChoice(c, hierarchy.title(c), hierarchy.level_of.get(c, "")) for c in codes if c]


def search_codes(ws: Workspace, item: QueueItem, query: str, limit: int = 20) -> list[CodeChoice]:
    """Codes of the item's classification whose code starts with `query`, or whose title has every word of
    it (most specific level first, then by code); none for an empty query or a classification of bare code
    prefixes (no titles to search)."""
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query:
        return []
    hierarchy = item_hierarchy(ws, item.model, item.version, [query])
    if hierarchy.from_prefixes:
        return []
    words = [w.lower() for w in _WORD.findall(query)]
    depth = {level: n for n, level in enumerate(hierarchy.levels)}
    found = [code for code, title in hierarchy.titles.items()
             if code.startswith(query) or (words and all(w in title.lower() for w in words))]
    found.sort(key=lambda c: (not c.startswith(query), -depth.get(hierarchy.level_of.get(c, ""), 0), c))
    return [CodeChoice(c, hierarchy.title(c), hierarchy.level_of.get(c, "")) for c in found[:limit]]


def queues(ws: Workspace) -> list[tuple[str, int]]:
    """Every registered model (as the lifecycle states know them) with its open review items, after
    reading new predictions from the log (at most every `review_sync_seconds` per process)."""
    with ws.store.engine.connect() as connection:
        models = connection.execute(select(STATES.c.model).distinct().order_by(STATES.c.model)).scalars().all()
    overview = []
    for model in models:
        refresh_queue(ws, model)
        with ws.store.engine.connect() as connection:
            left = connection.execute(select(func.count()).where(ITEMS.c.model == model,
                                                                 ITEMS.c.status == "open")).scalar()
        overview.append((str(model), int(left or 0)))
    return overview


def coder_pace(ws: Workspace, actor: Actor, model: str, now: datetime | None = None) -> Pace:
    """How many items of `model` are open (as last synced from the log), and `actor`'s answers (not skips)
    since midnight UTC."""
    now = now or datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with ws.store.engine.connect() as connection:
        seconds = connection.execute(select(DECISIONS.c.seconds).where(
            DECISIONS.c.model == model, DECISIONS.c.coder == actor.name, DECISIONS.c.outcome != SKIP,
            DECISIONS.c.decided_at >= midnight, DECISIONS.c.decided_at < midnight + timedelta(days=1))).scalars().all()
        left = connection.execute(select(func.count()).where(ITEMS.c.model == model, ITEMS.c.status == "open")).scalar()
    timed = sorted(s for s in seconds if s is not None)
    median = timed[len(timed) // 2] if timed else None
    return Pace(int(left or 0), len(seconds), median)
