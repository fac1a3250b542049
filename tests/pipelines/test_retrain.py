"""statops retrain on real SOC2010 data, real SQLite and PostgreSQL stores and a real MLflow registry: a
champion in production, a logged production cycle, coders' answers exported as labelled data; a retraining
interrupted mid-pipeline and run again (nothing registered before, exactly one version after, finished steps
not repeated); bad new data refused with nothing written; --if-needed without alerts; the schedule."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from statops import Workspace
from statops.errors import InvalidInput
from statops.monitoring.alerts import update_alerts
from statops.monitoring.schedule_lock import schedule_state
from statops.monitoring.signals import Signal
from statops.monitoring.statistics import ALERT
from statops.pipelines import retrain, retrain_scheduler
from statops.registry.card import build_card
from statops.registry.governance import decide, promote, request_approval
from statops.registry.states import version_states
from statops.review import decide_item, export_review, next_item, sync_queue
from tests.cli_runner import run_cli
from tests.conftest import BACKENDS, SocFiles, make_workspace
from tests.monitoring.streams import bundled_test_split, log_texts
from tests.registry.people import ALICE, BOB, add_people

MODEL = "occupation"
CODER = ALICE  # a modeller may code review items too
SECONDS_PER_ITEM = 30.0
EXPORTED, LATER = 40, 15  # review items coded before the export, and after it (the "recent reviewed items")
CONFLICTS = 3


@dataclass
class Setup:
    ws: Workspace
    home: Path
    backend: str


def _code_items(ws: Workspace, truth: dict[str, str], count: int) -> None:
    for _ in range(count):
        item = next_item(ws, CODER, MODEL)
        assert item is not None
        decide_item(ws, CODER, item.id, truth[item.prediction_id], SECONDS_PER_ITEM)


@pytest.fixture(scope="module", params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, soc: SocFiles) -> Iterator[Setup]:
    """SOC2010; a champion (600 records) in production; datasets of new data (600 more records, three of
    them relabelling the champion's texts) and a review export of 40 coded items; 150 records of the last
    cycle in the prediction log, 15 more of them coded after the export."""
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.registry import train_and_register

    folder = tmp_path_factory.mktemp("retrain")
    for ws in make_workspace(folder / "ws", request.param):
        ws.settings.review_double_share, ws.settings.review_sync_seconds = 0.0, 0.0
        add_people(ws, ALICE, BOB)
        add_classification(ws, "soc2010", soc.structure, version="2010")
        train = pd.read_csv(soc.train, dtype=str, keep_default_na=False)
        more = pd.concat([train.iloc[600:1200], train.head(CONFLICTS).assign(soc2010="1115")])
        files = {"soc-base": train.head(600), "soc-more": more,
                 "soc-dev": pd.read_csv(soc.dev, dtype=str, keep_default_na=False).head(300),
                 "soc-test": pd.read_csv(soc.test, dtype=str, keep_default_na=False).head(300)}
        for name, frame in files.items():
            frame.to_csv(folder / f"{name}.csv", index=False)
            add_dataset(ws, name, folder / f"{name}.csv", "text", "soc2010", "soc2010", cycle="2016", gsbpm="5.2")
        train_and_register(ws, MODEL, "soc-base", "soc-dev")
        request_approval(ws, ALICE, MODEL, "1", "first version")
        decide(ws, BOB, MODEL, "1", True, "good enough to start")
        promote(ws, BOB, MODEL, "1")
        held = set(files["soc-test"]["text"])
        cycle = bundled_test_split()
        cycle = cycle[~cycle["text"].isin(held)].head(150)
        ids = log_texts(ws, MODEL, cycle["text"].tolist(), str(uuid.uuid4()))
        truth = dict(zip(ids, cycle["soc2010"], strict=True))
        sync_queue(ws, MODEL)
        _code_items(ws, truth, EXPORTED)
        export_review(ws, ALICE, MODEL, f"{MODEL}-reviewed")
        _code_items(ws, truth, LATER)
        yield Setup(ws, folder / "ws", request.param)


def _versions(ws: Workspace) -> list[str]:
    return sorted(version_states(ws, MODEL), key=int)


def _runs(ws: Workspace, kind: str) -> list:  # type: ignore[type-arg]
    experiment = ws.mlflow.get_experiment_by_name(MODEL)
    return list(ws.mlflow.search_runs([experiment.experiment_id], f"tags.`statops.kind` = '{kind}'"))


def test_a_crash_mid_pipeline_registers_nothing_and_a_rerun_finishes_it(
        setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ws = setup.ws
    new = ["soc-more", f"{MODEL}-reviewed"]

    def power_cut(stage: str, fraction: float) -> None:
        if stage == "compare":
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        retrain(ws, ALICE, MODEL, new, holdout="soc-test", progress=power_cut)
    assert _versions(ws) == ["1"]  # nothing registered
    (parent,) = _runs(ws, "retrain")
    assert parent.info.status == "FAILED" and "power cut" in parent.data.tags["statops.error"]
    steps = {r.data.tags["statops.step"]: r.info.status for r in _runs(ws, "retrain-step")}
    assert steps == {"data": "FINISHED", "train": "FINISHED", "evaluate": "FINISHED", "compare": "FAILED"}

    report = tmp_path / "comparison.html"
    code, out, err = run_cli(capsys, monkeypatch, "retrain", MODEL, "--with", new[0], "--with", new[1],
                             "--holdout", "soc-test", "--report", str(report), "--home", str(setup.home), "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["run_id"] == parent.info.run_id and outcome["resumed"] == ["data", "train", "evaluate"]
    assert outcome["version"] == "2" and _versions(ws) == ["1", "2"]
    assert version_states(ws, MODEL)["2"].state == "pending" and outcome["approval"]["decision"] is None
    steps = [(r.data.tags["statops.step"], r.info.status) for r in _runs(ws, "retrain-step")]
    assert sorted(steps) == [("compare", "FAILED"), ("compare", "FINISHED"), ("data", "FINISHED"),
                             ("evaluate", "FINISHED"), ("register", "FINISHED"), ("train", "FINISHED")]
    assert ws.mlflow.get_run(parent.info.run_id).info.status == "FINISHED"

    data = outcome["report"]["data"]
    assert data["conflicts"] == CONFLICTS and data["new_texts"] == 600 + EXPORTED
    assert all(c["kept"] == "1115" and c["kept_from"] == "soc-more@1" for c in data["conflict_list"])
    held, reviewed = outcome["report"]["comparisons"]
    assert held["name"] == "held-out data soc-test@1" and held["champion"]["records"] == 300
    assert reviewed["name"] == "recent reviewed items" and reviewed["champion"]["records"] == LATER
    assert set(held["champion"]["level_accuracy"]) == {"major", "submajor", "minor", "unit"}
    test = held["mcnemar"]
    assert test["champion_only"] + test["challenger_only"] > 0 and 0 <= test["p_value"] <= 1
    costs = outcome["report"]["costs"]
    assert costs["cycle"]["volume"] == 150 and costs["break_risk"]["records"] == 150
    assert costs["effort"]["reviewed"] == EXPORTED
    assert costs["effort"]["recorded_hours"] == pytest.approx(EXPORTED * SECONDS_PER_ITEM / 3600)
    assert costs["effort"]["estimated"] == len(pd.read_csv(setup.home.parent / "soc-more.csv"))
    assert costs["hours_saved_per_cycle"] == pytest.approx(costs["auto_share_change"] * 150 / 60)
    assert costs["break_risk"]["largest"] and costs["break_risk"]["aggregates"] > 0
    page = report.read_text(encoding="utf-8")
    assert "McNemar" in page and "Largest moves of published shares" in page and "<script" not in page
    assert Path(outcome["report_path"]) == report
    card = build_card(ws, MODEL, "2").markdown()
    assert "Retraining: challenger against champion" in card and "clerical hours saved per cycle" in card

    again = retrain(ws, ALICE, MODEL, new, holdout="soc-test")  # the same retraining: found, not repeated
    assert again.already_done and again.version == "2" and _versions(ws) == ["1", "2"]
    assert len(_runs(ws, "retrain")) == 1


@pytest.mark.parametrize("setup", ["sqlite"], indirect=True)
def test_bad_new_data_is_refused_with_nothing_written(setup: Setup, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from statops.data import add_dataset, list_datasets

    ws = setup.ws
    base = pd.read_csv(setup.home.parent / "soc-base.csv", dtype=str, keep_default_na=False)
    test = pd.read_csv(setup.home.parent / "soc-test.csv", dtype=str, keep_default_na=False)
    bad = {"soc-relabelled": (base.head(5).assign(soc2010="1115"), "soc2010", "every one of the 5 new records conflicts"),
           "soc-again": (base.head(20), "soc2010", "the new data adds nothing"),
           "soc-odd": (base.iloc[:4].assign(soc2010=["9999", "9999", "1115", "0000"]), None,
                       r"2 code\(s\) are not in classification soc2010@2010: 9999 \(2 rows\), 0000 \(1 rows\)"),
           "soc-heldout": (test.head(20), "soc2010", "no records outside the held-out evaluation data")}
    for name, (frame, classification, _) in bad.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        add_dataset(ws, name, tmp_path / f"{name}.csv", "text", "soc2010", classification)
    versions, runs, datasets = _versions(ws), len(_runs(ws, "retrain")), len(list_datasets(ws))
    for name, (_, _, message) in bad.items():
        with pytest.raises(InvalidInput, match=message):
            retrain(ws, ALICE, MODEL, [name], holdout="soc-test")
    with pytest.raises(InvalidInput, match="is what occupation version 1 .* was trained on"):
        retrain(ws, ALICE, MODEL, ["soc-base"])
    code, out, err = run_cli(capsys, monkeypatch, "retrain", MODEL, "--with", "soc-odd", "--home", str(setup.home))
    assert code == 2 and "9999" in err and "Traceback" not in err
    assert _versions(ws) == versions and len(_runs(ws, "retrain")) == runs and len(list_datasets(ws)) == datasets


@pytest.mark.parametrize("setup", ["sqlite"], indirect=True)
def test_if_needed_without_open_alerts_does_nothing_and_says_why(
        setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ws = setup.ws
    runs, versions = len(_runs(ws, "retrain")), _versions(ws)
    outcome = retrain(ws, ALICE, MODEL, ["soc-more"], if_needed=True)
    assert not outcome.ran and not outcome.proposed and outcome.run_id is None
    assert outcome.reasons == [f"not needed: monitoring has no open alerts for {MODEL} version 1 (its production "
                               f"alias) (`statops monitor {MODEL}` updates them)"]
    code, out, err = run_cli(capsys, monkeypatch, "retrain", MODEL, "--with", "soc-more", "--if-needed",
                             "--home", str(setup.home))
    assert code == 0 and "nothing ran" in out and "no open alerts" in out
    assert len(_runs(ws, "retrain")) == runs and _versions(ws) == versions


@pytest.mark.parametrize("setup", ["sqlite"], indirect=True)
def test_the_schedule_retrains_a_model_with_alerts_and_proposes_only_what_pays(
        setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = setup.ws
    update_alerts(ws, MODEL, "1", "last day", [Signal("auto_coded_share", 0.01, ALERT, alert=0.1)])
    versions = _versions(ws)
    monkeypatch.setenv("STATOPS_RETRAIN_SCHEDULE_SECONDS", "0.05")
    scheduled = Workspace.open(setup.home)
    try:
        scheduler = retrain_scheduler(scheduled)
        time.sleep(0.1)  # a process's first interval only catches up on overdue runs
        assert scheduler.tick()
        (entry,) = schedule_state(ws.store, "retrain").snapshot["models"]  # type: ignore[union-attr]
        assert entry["model"] == MODEL and entry["ran"] and not entry["proposed"] and entry["error"] is None
        assert any("does not beat the costs" in r for r in entry["reasons"])
        assert any("not proposed" in r for r in entry["reasons"]) and _versions(ws) == versions
        assert schedule_state(ws.store) is None or schedule_state(ws.store).snapshot != entry  # monitoring's own row
        assert scheduler.tick()  # due again: the same retraining is found finished, nothing is trained twice
        (second,) = schedule_state(ws.store, "retrain").snapshot["models"]  # type: ignore[union-attr]
        assert second["run_id"] == entry["run_id"] and _versions(ws) == versions
    finally:
        scheduled.close()
