"""The review queue on real SQLite and PostgreSQL workspaces: items from the log (review decisions and
an audit share), locks and their expiry, coders racing for the last item, bad answers refused with
nothing written, double coding and agreement, and an export that trains."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
from sqlalchemy import delete, func, select, update

from statops.accounts import Actor
from statops.errors import Conflict, Forbidden, InvalidInput
from statops.review import (
    decide_item,
    export_review,
    in_audit_sample,
    next_item,
    queue_counts,
    review_stats,
    sync_queue,
)
from statops.review.queue import DECISIONS, ITEMS, SYNC
from statops.scoring.prediction_log import delete_request, read_predictions
from statops.store.schema import AuditEvent, Feedback
from tests.cli_runner import run_cli
from tests.conftest import Trained, sqlite_only
from tests.monitoring.streams import bundled_test_split, log_texts
from tests.serving.live import live_server, server_settings, wait_for

ANA, BEN = Actor("ana", "coder", "token"), Actor("ben", "coder", "token")
VIEWER = Actor("vic", "viewer", "token")
RECORDS = 150


@dataclass
class Logged:
    trained: Trained
    rows: pd.DataFrame  # the logged predictions
    truth: dict[str, str]  # prediction id -> the true code


def _clear(trained: Trained, request_id: str | None = None, ids: list[str] | None = None) -> None:
    with trained.ws.store.engine.begin() as connection:
        for table in (DECISIONS, ITEMS, SYNC):
            connection.execute(delete(table))
        if ids:
            connection.execute(delete(Feedback.__table__).where(Feedback.prediction_id.in_(ids)))
    if request_id:
        delete_request(trained.ws.store, request_id)


@pytest.fixture
def logged(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Iterator[Logged]:
    """RECORDS test-split predictions in the log with an empty queue (all removed afterwards)."""
    _clear(trained)
    monkeypatch.setattr(trained.ws.settings, "review_audit_share", 0.5)
    monkeypatch.setattr(trained.ws.settings, "review_double_share", 0.0)
    monkeypatch.setattr(trained.ws.settings, "review_sync_seconds", 0.0)
    split = bundled_test_split().head(RECORDS)
    request_id = str(uuid.uuid4())
    ids = log_texts(trained.ws, trained.model, split["text"].tolist(), request_id)
    rows = read_predictions(trained.ws.store, trained.model)
    rows = rows[rows["id"].isin(ids)].reset_index(drop=True)
    yield Logged(trained, rows, dict(zip(ids, split["soc2010"], strict=True)))
    _clear(trained, request_id, ids)


def _count(ws, table) -> int:  # noqa: ANN001
    with ws.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_items_are_the_review_decisions_and_the_audit_share(logged: Logged,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ws, model, rows = logged.trained.ws, logged.trained.model, logged.rows
    review = set(rows.loc[rows["decision"] == "review", "id"])
    auto = set(rows.loc[rows["decision"] == "auto", "id"])
    audit = {i for i in auto if in_audit_sample(i, 0.5)}
    assert review and auto
    assert sync_queue(ws, model) == len(review | audit)
    assert sync_queue(ws, model) == 0  # nothing queued twice
    with ws.store.engine.connect() as connection:
        assert set(connection.execute(select(ITEMS.c.prediction_id).where(ITEMS.c.audit)).scalars()) == audit
    # a larger share later: the log's recent part is read again (the overlap), the new sample joins
    monkeypatch.setattr(ws.settings, "review_audit_share", 1.0)
    assert sync_queue(ws, model) == len(auto - audit)
    audit = auto
    with ws.store.engine.connect() as connection:
        items = pd.DataFrame(connection.execute(select(ITEMS)).mappings().all())
    assert set(items["prediction_id"]) == review | audit
    assert set(items.loc[items["audit"].astype(bool), "prediction_id"]) == audit
    first = rows.set_index("id").loc[items["prediction_id"].iloc[0]]
    assert items["text"].iloc[0] == first["input_text"]
    assert all(1 <= len(a) <= 5 for a in items["alternatives"])
    alternatives = first["alternatives"]
    alternatives = json.loads(alternatives) if isinstance(alternatives, str) else alternatives
    assert items["alternatives"].iloc[0] == alternatives[:5]
    # audit items come first, then the oldest (or the least confident) first
    handed = [next_item(ws, Actor(f"c{n}", "coder", "token"), model) for n in range(len(audit) + 1)]
    assert all(h is not None for h in handed)
    assert [h.audit for h in handed] == [True] * len(audit) + [False]  # type: ignore[union-attr]
    item = next_item(ws, ANA, model, order="least_confident")
    open_review = items[~items["audit"].astype(bool)]
    taken = {h.id for h in handed}  # type: ignore[union-attr]
    assert item is not None
    assert item.confidence == pytest.approx(open_review.loc[~open_review["id"].isin(taken), "confidence"].min())
    with pytest.raises(Forbidden):
        next_item(ws, VIEWER, model)


def test_a_server_readies_the_queue_of_the_models_it_preloads(logged: Logged) -> None:
    """Its coders' first requests wait neither for the log to be read nor for the classification to load."""
    ws, model, rows = logged.trained.ws, logged.trained.model, logged.rows
    sqlite_only(ws, "the queue's sync runs on both stores in the other tests")
    queued = set(rows.loc[rows["decision"] == "review", "id"])
    queued |= {i for i in rows.loc[rows["decision"] == "auto", "id"] if in_audit_sample(i, 0.5)}
    assert _count(ws, ITEMS) == 0
    with live_server(server_settings(ws, serve_preload=[model])) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "the server never got ready")
        with ws.store.engine.connect() as connection:  # before any coder asked
            assert set(connection.execute(select(ITEMS.c.prediction_id)).scalars()) == queued


def test_locks_expire_and_answers_are_checked(logged: Logged) -> None:
    ws, model = logged.trained.ws, logged.trained.model
    mine = next_item(ws, ANA, model)
    assert mine is not None and mine.locked_by == "ana" and mine.locked_until is not None
    assert next_item(ws, ANA, model).id == mine.id  # type: ignore[union-attr]  # she holds it: the same item
    theirs = next_item(ws, BEN, model)
    assert theirs is not None and theirs.id != mine.id
    before = [_count(ws, t) for t in (DECISIONS, Feedback.__table__, AuditEvent.__table__)]
    with pytest.raises(Conflict, match="locked by ana"):
        decide_item(ws, BEN, mine.id, logged.truth[mine.prediction_id], 5.0)
    with pytest.raises(InvalidInput, match="not in the classification"):
        decide_item(ws, ANA, mine.id, "99999", 5.0)
    with pytest.raises(InvalidInput):
        decide_item(ws, ANA, mine.id, "  ", 5.0)
    assert [_count(ws, t) for t in (DECISIONS, Feedback.__table__, AuditEvent.__table__)] == before
    # Ana's lock expires mid-item: Ben takes it, and her late answer is refused
    with ws.store.engine.begin() as connection:
        connection.execute(update(ITEMS).where(ITEMS.c.id == mine.id)
                           .values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    decide_item(ws, BEN, theirs.id, "skip")
    again = next_item(ws, BEN, model)
    assert again is not None and again.id == mine.id and again.locked_by == "ben"
    with pytest.raises(Conflict, match="locked by ben"):
        decide_item(ws, ANA, mine.id, logged.truth[mine.prediction_id], 30.0)
    decided = decide_item(ws, BEN, mine.id, logged.truth[mine.prediction_id], 12.5)
    assert decided.item_done and decided.outcome == "coded"
    with pytest.raises(Conflict, match="coded already"):
        decide_item(ws, ANA, mine.id, logged.truth[mine.prediction_id], 1.0)
    with ws.store.engine.connect() as connection:
        feedback = connection.execute(select(Feedback.__table__).where(
            Feedback.prediction_id == mine.prediction_id)).one()
    assert feedback.true_code == logged.truth[mine.prediction_id] and feedback.created_by == "ben"
    assert feedback.source == ("audit-sample" if mine.audit else "clerical")
    # the skipped item is not shown to Ben again, but is to Ana
    assert next_item(ws, BEN, model).id != theirs.id  # type: ignore[union-attr]
    uncodable = decide_item(ws, ANA, next_item(ws, ANA, model).id, "uncodable", 3.0)  # type: ignore[union-attr]
    assert uncodable.item_done and uncodable.code is None


def _race(ws, actor: Actor, model: str, barrier: threading.Barrier, got: dict) -> None:  # noqa: ANN001
    barrier.wait()
    got[actor.name] = next_item(ws, actor, model)


def test_two_coders_racing_for_the_last_item_never_share_it(logged: Logged) -> None:
    ws, model = logged.trained.ws, logged.trained.model
    sync_queue(ws, model)
    with ws.store.engine.connect() as connection:
        ids = list(connection.execute(select(ITEMS.c.id).order_by(ITEMS.c.id)).scalars())
    rounds = min(6, len(ids))
    for round_ in range(rounds):
        with ws.store.engine.begin() as connection:  # one item open: the last one
            connection.execute(update(ITEMS).values(status="done", locked_by=None, locked_until=None))
            connection.execute(update(ITEMS).where(ITEMS.c.id == ids[round_]).values(status="open"))
        barrier, got = threading.Barrier(2), {}
        threads = [threading.Thread(target=_race, args=(ws, a, model, barrier, got)) for a in (ANA, BEN)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        winners = [name for name, item in got.items() if item is not None]
        assert len(got) == 2 and len(winners) == 1, got
        with ws.store.engine.connect() as connection:
            assert connection.execute(select(ITEMS.c.locked_by).where(ITEMS.c.id == ids[round_])).scalar() == winners[0]


def test_double_coding_agreement_stats_and_an_export_that_trains(
        logged: Logged, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ws, model = logged.trained.ws, logged.trained.model
    monkeypatch.setattr(ws.settings, "review_double_share", 1.0)
    counts = queue_counts(ws, model)
    assert counts["open"] > 20 and counts["done"] == 0
    coded = 0
    while (item := next_item(ws, ANA, model)) is not None:
        decide_item(ws, ANA, item.id, logged.truth[item.prediction_id], 4.0)
        coded += 1
    assert coded == counts["open"] and queue_counts(ws, model)["done"] == 0  # each needs a second coder
    differ = 0
    for n in range(coded):
        item = next_item(ws, BEN, model)
        assert item is not None and item.codings_done == 1
        # Ben agrees with Ana on most items, and takes the model's first suggestion on every fifth
        code = logged.truth[item.prediction_id] if n % 5 else item.suggestions[0]["code"]
        differ += code != logged.truth[item.prediction_id]
        decide_item(ws, BEN, item.id, code, 8.0)
    assert next_item(ws, BEN, model) is None
    stats = review_stats(ws, VIEWER, model)
    assert stats.done == coded and stats.left == 0 and stats.double_items == coded
    assert {c.coder: c.coded for c in stats.coders} == {"ana": coded, "ben": coded}
    assert stats.seconds_per_item == pytest.approx(6.0)
    levels = {a.level: a for a in stats.agreement}
    assert len(levels) >= 3 and all(a.pairs == coded for a in levels.values())
    kappas = [a.kappa for a in stats.agreement]
    assert all(k is not None and 0.5 < k <= 1.0 for k in kappas)
    assert kappas[0] >= kappas[-1]  # coders agree more on broad groups than on unit groups
    with pytest.raises(Forbidden):
        export_review(ws, ANA, model, "soc-reviewed")
    admin = Actor("boss", "admin", "local")
    name = f"reviewed-{uuid.uuid4().hex[:6]}"
    exported = export_review(ws, admin, model, name, cycle="2016")
    assert exported.records == coded and exported.dataset.rows == coded
    assert exported.disagreements == differ
    from statops.data import load_dataset

    frame = load_dataset(ws, exported.dataset)
    assert {"text", "code", "prediction_id", "model_version", "model_code", "coders", "coded_at"} <= set(frame)
    assert set(frame["prediction_id"]) <= set(logged.rows["id"]) and all(frame["coders"] == "ana;ben")
    code, out, err = run_cli(capsys, monkeypatch, "review", "stats", model, "--json", "--home", str(ws.home))
    assert code == 0, err
    assert json.loads(out)["done"] == coded
    code, out, err = run_cli(capsys, monkeypatch, "review", "stats", model, "--home", str(ws.home))
    assert code == 0 and f"{coded} item(s) done, 0 left" in out and "kappa" in out, out + err
    code, out, err = run_cli(capsys, monkeypatch, "review", "export", model, "--as", name,
                             "--home", str(ws.home))
    assert code == 0 and "unchanged" in out, out + err
    from statops.registry import train_and_register

    outcome = train_and_register(ws, f"from-{name}", exported.dataset.ref)
    assert outcome.registered.version == "1"


def _answer(ws, actor: Actor, item_id: int, code: str, barrier: threading.Barrier, got: list) -> None:  # noqa: ANN001
    barrier.wait()
    try:
        got.append(decide_item(ws, actor, item_id, code, 2.0))
    except Conflict as error:
        got.append(error)


def test_the_same_answer_sent_twice_at_once_counts_once(logged: Logged) -> None:
    ws, model = logged.trained.ws, logged.trained.model
    for _ in range(4):
        item = next_item(ws, ANA, model)
        assert item is not None
        barrier, got = threading.Barrier(2), []
        threads = [threading.Thread(target=_answer, args=(ws, ANA, item.id, logged.truth[item.prediction_id],
                                                          barrier, got)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sum(isinstance(g, Conflict) for g in got) == 1, got
        with ws.store.engine.connect() as connection:
            assert connection.execute(select(func.count()).where(DECISIONS.c.item_id == item.id)).scalar() == 1
            assert connection.execute(select(ITEMS.c.codings_done).where(ITEMS.c.id == item.id)).scalar() == 1
            assert connection.execute(select(func.count()).select_from(Feedback.__table__).where(
                Feedback.prediction_id == item.prediction_id)).scalar() == 1


def test_items_of_predictions_taken_back_leave_the_queue(logged: Logged) -> None:
    ws, model = logged.trained.ws, logged.trained.model
    split = bundled_test_split().tail(40)
    request_id = str(uuid.uuid4())
    ids = log_texts(ws, model, split["text"].tolist(), request_id)
    sync_queue(ws, model)
    with ws.store.engine.connect() as connection:
        queued = set(connection.execute(select(ITEMS.c.prediction_id).where(ITEMS.c.prediction_id.in_(ids))).scalars())
    assert queued
    coded_id = sorted(queued)[0]
    with ws.store.engine.connect() as connection:
        coded_item = connection.execute(select(ITEMS.c.id).where(ITEMS.c.prediction_id == coded_id)).scalar_one()
    decide_item(ws, ANA, coded_item, "uncodable", 1.0)  # someone coded one of them before the job failed
    delete_request(ws.store, request_id)  # the batch job failed: its rows leave the log
    handed = []
    while (item := next_item(ws, BEN, model)) is not None:  # Ben works through the whole queue
        handed.append(item.prediction_id)
        decide_item(ws, BEN, item.id, "skip")
    assert handed and not set(handed) & set(ids)  # nobody is handed a record that was never acknowledged
    with ws.store.engine.connect() as connection:
        left = set(connection.execute(select(ITEMS.c.prediction_id).where(ITEMS.c.prediction_id.in_(ids))).scalars())
    assert left == {coded_id}  # an answered item is kept with its decision; the open ones are gone
