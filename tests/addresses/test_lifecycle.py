"""Task addresses through the whole lifecycle, as for coding: catalogue (a reference base and records labelled
with its ids), training and registry, plain MLflow pyfunc, batch scoring with the log, the HTTP API, the review
queue checked against the base, monitoring with the matcher's own signals, and exact reproduction. Both stores."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from statops import InvalidInput, Workspace
from statops.accounts import add_user
from statops.addresses.reference_table import ADDRESS_COLUMN, reference_table
from statops.data import add_dataset
from statops.data.answers import NOT_IN_BASE
from statops.data.catalogue import add_reference_base, load_dataset
from statops.monitoring import monitor
from statops.monitoring.feedback import add_feedback, labelled_predictions
from statops.registry import train_and_register
from statops.registry.card import build_card
from statops.registry.loading import load_model
from statops.registry.reproduce import reproduce_version
from statops.registry.versions import resolve_model
from statops.review.decisions import decide_item
from statops.review.queue import DECISIONS, next_item
from statops.review.stats import export_review
from statops.scoring import read_predictions, score_file
from tests.addresses.conftest import Bed
from tests.browser import chromium, press, sign_in
from tests.conftest import BACKENDS, make_workspace, sqlite_only
from tests.plain_mlflow import predict_in_plain_python
from tests.serving.live import TEST_ADMIN, live_server, predict, server_settings

MODEL = "matcher"


@dataclass
class Trained:
    ws: Workspace
    bed: Bed
    version: str
    files: dict[str, Path]


@pytest.fixture(scope="module", params=BACKENDS)
def matcher(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            demo_bed: Bed) -> Iterator[Trained]:
    """The demo slice catalogued as a user would (reference base, three labelled splits) and a matcher trained
    and registered from it."""
    home = tmp_path_factory.mktemp(f"addresses-{request.param}")
    files = {name: home / f"{name}.csv" for name in ("reference", "train", "dev", "test")}
    demo_bed.reference.to_csv(files["reference"], index=False)
    for split in ("train", "dev", "test"):
        getattr(demo_bed, split).to_csv(files[split], index=False)
    workspaces = make_workspace(home / "ws", request.param)
    ws = next(workspaces)
    try:
        raw = pd.read_csv(files["reference"], dtype=str, keep_default_na=False)
        base = add_reference_base(ws, "base", reference_table(raw, "id"), files["reference"], ADDRESS_COLUMN, "id")
        for split in ("train", "dev", "test"):
            add_dataset(ws, f"q-{split}", files[split], "text", "id", reference=base.ref, gsbpm="5.1")
        outcome = train_and_register(ws, MODEL, "q-train", "q-dev", {"seed": 0}, task="addresses")
        yield Trained(ws, demo_bed, outcome.registered.version, files)
    finally:
        workspaces.close()  # closes the workspace (and drops its PostgreSQL database)


def test_the_version_records_its_task_and_reference_base(matcher: Trained) -> None:
    ref = resolve_model(matcher.ws, MODEL)
    assert ref.task == "addresses" and ref.tags["classification"] == "reference base@1"
    run = matcher.ws.mlflow.get_run(ref.run_id)
    assert float(run.data.metrics["dev_accuracy"]) > 0.9  # the common measures, under the common names
    assert 0 < float(run.data.metrics["dev_auto_coded_share"]) <= 1
    assert run.data.params["reference_rows"] == str(len(matcher.bed.reference))
    card = build_card(matcher.ws, MODEL, ref.version).markdown()
    assert "Address matching" in card and "reference base@1" in card and "Quality (dev data)" in card


def test_training_needs_records_labelled_with_a_reference_base(matcher: Trained) -> None:
    add_dataset(matcher.ws, "unlinked", matcher.files["train"], "text", "style")
    with pytest.raises(InvalidInput, match="names none: add it with `statops data add ... --reference BASE`"):
        train_and_register(matcher.ws, "other", "unlinked", task="addresses")


def test_plain_mlflow_loads_the_matcher_without_statops_glue(matcher: Trained, tmp_path: Path) -> None:
    ws = matcher.ws
    texts = matcher.bed.test["text"].head(40)
    expected = load_model(ws, resolve_model(ws, f"{MODEL}/{matcher.version}")).predict_frame(texts)
    got = predict_in_plain_python(ws, MODEL, matcher.version, texts, tmp_path)
    assert list(got.columns) == ["code", "title", "confidence", "decision", "alternatives"]
    assert got["code"].tolist() == expected["code"].tolist()
    assert got["title"].tolist() == expected["title"].tolist()


def test_a_file_is_matched_row_for_row_and_logged(matcher: Trained, tmp_path: Path) -> None:
    out = tmp_path / "matched.csv"
    summary = score_file(matcher.ws, MODEL, matcher.files["test"], out, "text", log=True)
    matched = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert summary.rows == len(matched) == len(matcher.bed.test)
    assert matched["text"].tolist() == matcher.bed.test["text"].tolist()
    accepted = matched[matched["decision"] == "auto"]
    assert len(accepted) and (accepted["code"] == matcher.bed.test.loc[accepted.index, "id"]).mean() > 0.9
    logged = read_predictions(matcher.ws.store, MODEL)
    assert len(logged) >= len(matched)


def test_monitoring_watches_the_matcher_with_its_own_signals(matcher: Trained) -> None:
    result = monitor(matcher.ws, MODEL, window="100", update_alerts_store=False)
    names = {s.name for w in result.windows for s in w.signals}
    assert {"volume", "auto_coded_share", "confidence_shift"} <= names
    assert not any(n.startswith("code_distribution_shift") for n in names)  # ids have no distribution to watch


def test_the_api_answers_with_addresses_and_review_checks_answers_against_the_base(matcher: Trained) -> None:
    ws = matcher.ws
    with live_server(server_settings(ws)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        texts = [matcher.bed.test["text"][0], "", "Москва, ул. Тверская, д. 1", "x" * 9_000]
        response = predict(client, MODEL, texts)
        assert response.status_code == 200, response.text
        answers = response.json()["predictions"]
        assert len(answers) == 4 and answers[0]["title"] and answers[0]["alternatives"][0]["title"]
        assert all("probability" in a for a in answers[0]["alternatives"])
        assert [a["decision"] for a in answers[1:]] == ["review"] * 3  # nothing confident about these
    item = next_item(ws, TEST_ADMIN, MODEL)
    assert item is not None
    with pytest.raises(InvalidInput, match=r"not in the reference base base@1 \(or not-in-base\) of model"):
        decide_item(ws, TEST_ADMIN, item.id, "000000000000")
    true_id = matcher.bed.reference["id"][0]
    decided = decide_item(ws, TEST_ADMIN, item.id, true_id)
    assert decided.outcome == "coded" and decided.code == true_id


def test_not_in_the_base_is_an_answer_a_feedback_code_and_an_exported_label(matcher: Trained,
                                                                           tmp_path: Path) -> None:
    ws = matcher.ws
    queries = tmp_path / "queries.csv"
    pd.DataFrame({"text": ["99 NOWHERE LANE, NO SUCH TOWN", "FLAT 77, 1 IMAGINARY ROAD", ""]}).to_csv(queries,
                                                                                                   index=False)
    score_file(ws, MODEL, queries, tmp_path / "out.csv", "text", log=True)
    logged = read_predictions(ws.store, MODEL)
    item = next_item(ws, TEST_ADMIN, MODEL)
    assert item is not None
    decided = decide_item(ws, TEST_ADMIN, item.id, NOT_IN_BASE)
    assert decided.outcome == "coded" and decided.code == ""
    other = logged[logged["id"] != item.prediction_id]["id"].iloc[0]
    with pytest.raises(InvalidInput, match="have no true code .write not-in-base"):
        add_feedback(ws, TEST_ADMIN, MODEL, [{"id": other, "true_code": "", "source": "expert"}])
    added = add_feedback(ws, TEST_ADMIN, MODEL, [{"id": other, "true_code": NOT_IN_BASE, "source": "expert"}])
    assert added.records == 1
    stored = labelled_predictions(ws.store, MODEL, None, None, None)
    assert set(stored.loc[stored["id"].isin([item.prediction_id, other]), "true_code"]) == {""}
    exported = export_review(ws, TEST_ADMIN, MODEL, "reviewed")
    frame = load_dataset(ws, exported.dataset)
    assert (frame.loc[frame["prediction_id"] == item.prediction_id, "code"] == "").all()


def test_a_clerk_says_not_in_the_base_by_key_on_the_coding_page(matcher: Trained) -> None:
    ws = matcher.ws
    sqlite_only(ws, "the page does not depend on the store")
    add_user(ws, TEST_ADMIN, "clerk", "coder", password="a long enough password")
    with live_server(server_settings(ws, review_sync_seconds=0)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client, chromium() as context:
        assert predict(client, MODEL, ["12 NOWHERE ROAD, NO SUCH TOWN"]).status_code == 200
        page = context.new_page()
        sign_in(page, server.url, MODEL, "clerk", "a long enough password")
        assert "Not in the base" in page.locator("#not-in-base").inner_text()
        press(page, "n")
    with ws.store.engine.connect() as connection:
        decided = connection.execute(select(DECISIONS).where(DECISIONS.c.coder == "clerk")).one()
    assert decided.outcome == "coded" and decided.code == ""


def test_a_version_is_reproduced_exactly(matcher: Trained) -> None:
    reproduction = reproduce_version(matcher.ws, TEST_ADMIN, MODEL, matcher.version)
    assert reproduction.matches, [c for c in reproduction.comparisons if not c.matches]
