"""A coder's answer to a review item: a code (checked against the model's classification), `uncodable`
or `skip`. A code becomes a true code for monitoring (feedback, source `clerical`, or `audit-sample`
for audit items) in the same transaction as the decision, so neither is written without the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError

from statops.accounts import Actor, require
from statops.classifications.hierarchy import Hierarchy
from statops.data.answers import NOT_IN_BASE, answers_label, none_answer
from statops.errors import Conflict, InvalidInput, NotFound
from statops.monitoring.feedback import AUDIT_SAMPLE, FEEDBACK
from statops.monitoring.reference_store import version_hierarchy
from statops.registry.versions import resolve_model
from statops.review.queue import DECISIONS, ITEMS
from statops.workspace import Workspace

UNCODABLE, SKIP = "uncodable", "skip"
_HIERARCHIES: dict[tuple[str, str, str], Hierarchy] = {}  # classification versions never change
_ANSWERS: dict[tuple[str, str, str], str | None] = {}  # a version's answers (its tag) never change


@dataclass(frozen=True)
class Decided:
    item_id: int
    prediction_id: str
    coder: str
    outcome: str  # coded, uncodable, skip
    code: str | None
    item_done: bool  # the item needs no more codings


def item_hierarchy(ws: Workspace, model: str, version: str, codes: list[str]) -> Hierarchy:
    """The classification that `model` version `version` codes into (cached per workspace and version)."""
    key = (ws.database_url, model, version)
    if key not in _HIERARCHIES:
        hierarchy = version_hierarchy(ws, resolve_model(ws, f"{model}/{version}"), codes)
        if hierarchy.from_prefixes:
            return hierarchy  # no classification recorded: levels from the codes at hand, not cached
        _HIERARCHIES[key] = hierarchy
    return _HIERARCHIES[key]


def item_answers(ws: Workspace, model: str, version: str) -> str | None:
    """The name of the answers `model` version `version` gives (its classification tag; see
    statops.data.answers)."""
    key = (ws.database_url, model, version)
    if key not in _ANSWERS:
        _ANSWERS[key] = resolve_model(ws, f"{model}/{version}").tags.get("classification")
    return _ANSWERS[key]


def _check_answer(ws: Workspace, item: Any, answer: str) -> tuple[str, str | None]:
    """(outcome, code): a code of the model's answers, 'uncodable' or 'skip'; where the answers are a
    reference base's ids, also NOT_IN_BASE, coded as the empty label."""
    answer = answer.strip()
    if not answer:
        raise InvalidInput("an answer needs a code, 'uncodable' or 'skip'")
    if answer in (UNCODABLE, SKIP):
        return answer, None
    if answer == NOT_IN_BASE and none_answer(item_answers(ws, item.model, item.version)):
        return "coded", ""
    hierarchy = item_hierarchy(ws, item.model, item.version, [answer])
    if not hierarchy.from_prefixes and answer not in hierarchy:
        answers = item_answers(ws, item.model, item.version)
        also = f" (or {NOT_IN_BASE})" if none_answer(answers) else ""
        raise InvalidInput(f"code '{answer}' is not in the {answers_label(answers)}{also} of model {item.model} "
                           f"version {item.version}; nothing was written")
    return "coded", answer


def _conflict(item: Any) -> Conflict:
    if item.status != "open":
        return Conflict(f"review item {item.id} is coded already")
    until = f" until {item.locked_until:%Y-%m-%d %H:%M:%S} UTC" if item.locked_until is not None else ""
    return Conflict(f"review item {item.id} is locked by {item.locked_by}{until}; take the next item instead")


# The answer's statements, built once (as the hand-out's): building SQLAlchemy expressions took most of the time.
_ITEM = select(ITEMS).where(ITEMS.c.id == bindparam("item"))
_ANSWERED = select(DECISIONS.c.id).where(DECISIONS.c.item_id == bindparam("item"),
                                         DECISIONS.c.coder == bindparam("actor"))
# one conditional UPDATE: the item is still open and the actor's lock is live (or nobody's is); it is done
# once it has the codings it needs (SET reads the row as it was before the update)
_COUNTED = ITEMS.c.codings_done + bindparam("counts")
_ANSWER = update(ITEMS).where(
    ITEMS.c.id == bindparam("item"), ITEMS.c.status == "open",
    (ITEMS.c.locked_by == bindparam("actor")) | ITEMS.c.locked_by.is_(None) | (ITEMS.c.locked_until < bindparam("now"))
).values(codings_done=_COUNTED, locked_by=None, locked_until=None,
         status=case((_COUNTED >= ITEMS.c.codings_needed, "done"), else_=ITEMS.c.status)
         ).returning(ITEMS.c.status)
_DECISION = insert(DECISIONS).values(item_id=bindparam("item"), model=bindparam("model"), coder=bindparam("actor"),
                                     outcome=bindparam("outcome"), code=bindparam("code"),
                                     seconds=bindparam("seconds"), decided_at=bindparam("now"))
_TRUE_CODE = insert(FEEDBACK).values(model=bindparam("model"), prediction_id=bindparam("prediction"),
                                     input_sha256=None, true_code=bindparam("code"), source=bindparam("source"),
                                     created_by=bindparam("actor"), created_at=bindparam("now"))


def decide_item(ws: Workspace, actor: Actor, item_id: int, answer: str,
                seconds_taken: float | None = None) -> Decided:
    """Record `actor`'s answer to item `item_id`: a code, 'uncodable' or 'skip' (or 'not-in-base' where the
    model answers with a reference base's ids), and the seconds it took.
    Conflict when the item is locked by someone else (or the actor's lock expired and another took it),
    already coded, or already answered by this coder; InvalidInput for a code the classification lacks.
    A refused answer writes nothing."""
    require(ws, actor, "review.code")
    if seconds_taken is not None and not 0 <= seconds_taken < 86_400:
        raise InvalidInput(f"seconds taken must be between 0 and a day, not {seconds_taken}")
    with ws.store.engine.connect() as connection:
        item = connection.execute(_ITEM, {"item": item_id}).one_or_none()
    if item is None:
        raise NotFound(f"review item {item_id} does not exist")
    outcome, code = _check_answer(ws, item, answer)
    # each statement gets its own parameters: an UPDATE would also set any column a parameter is named after
    now, turn = datetime.now(UTC), {"item": item_id, "actor": actor.name}
    with ws.store.writer_turn(), ws.store.session() as session:
        if session.execute(_ANSWERED, turn).first() is not None:
            raise Conflict(f"review item {item_id}: {actor.name} has answered it already")
        status = session.execute(_ANSWER, {**turn, "now": now, "counts": 0 if outcome == SKIP else 1}).scalar()
        if status is None:
            raise _conflict(session.execute(_ITEM, turn).one())
        try:  # the same answer sent twice at once: the store keeps one per item and coder
            session.execute(_DECISION, {**turn, "model": item.model, "outcome": outcome, "code": code,
                                        "seconds": seconds_taken, "now": now})
        except IntegrityError:
            raise Conflict(f"review item {item_id}: {actor.name} has answered it already") from None
        if code is not None:
            session.execute(_TRUE_CODE, {"actor": actor.name, "model": item.model, "prediction": item.prediction_id,
                                         "code": code, "source": AUDIT_SAMPLE if item.audit else "clerical",
                                         "now": now})
        if outcome != SKIP:
            ws.store.audit(session, actor.name, "review.decide", f"{item.model}/review/{item_id}",
                           prediction_id=item.prediction_id, outcome=outcome, code=code, seconds=seconds_taken)
    return Decided(item_id, item.prediction_id, actor.name, outcome, code, status == "done")
