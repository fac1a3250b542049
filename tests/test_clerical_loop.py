"""The clerical loop end to end, on real SOC2010 data, a real MLflow registry and a real server: a champion
trained on half of the train split is in production; the other half is scored through the API; coders
(eight test clients at once) answer the review queue over HTTP with the true codes; their answers are
exported as a dataset; a retraining makes a challenger that beats the champion on the test split and
waits for approval; an approver promotes it, and the running server serves it within its alias refresh.
One store (SQLite): the store-specific parts are tested on both elsewhere."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from statops.classifications import add_classification
from statops.data import add_dataset
from statops.pipelines import retrain
from statops.registry import train_and_register
from statops.registry.governance import decide, promote, request_approval
from statops.registry.states import version_states
from statops.review import export_review
from tests.conftest import SocFiles, make_workspace
from tests.registry.people import ALICE, BOB, add_people
from tests.serving.live import api_token, bearer, live_server, server_settings, wait_for

MODEL = "occupation"
CODERS = 8
BATCH = 250


def _code_until_empty(url: str, token: str, truth: dict[str, str], answered: list[int], errors: list[str]) -> None:
    with httpx.Client(base_url=url, headers=bearer(token), timeout=60) as client:
        while True:
            response = client.get("/v1/review/next", params={"model": MODEL})
            if response.status_code == 204:
                return
            if response.status_code != 200:
                errors.append(response.text)
                return
            item = response.json()
            sent = client.post(f"/v1/review/{item['id']}", json={"answer": truth[item["prediction_id"]],
                                                                   "seconds": 20.0})
            if sent.status_code != 200:
                errors.append(sent.text)
                return
            answered.append(item["id"])


def test_reviewed_records_train_a_challenger_that_is_promoted_and_served(tmp_path: Path, soc: SocFiles) -> None:
    train = pd.read_csv(soc.train, dtype=str, keep_default_na=False).sample(frac=1.0, random_state=3)
    first, second = train.iloc[: len(train) // 2], train.iloc[len(train) // 2:]
    first.to_csv(tmp_path / "first-half.csv", index=False)
    for ws in make_workspace(tmp_path / "ws", "sqlite"):
        add_people(ws, ALICE, BOB)
        add_classification(ws, "soc2010", soc.structure, version="2010")
        add_dataset(ws, "soc-first-half", tmp_path / "first-half.csv", "text", "soc2010", "soc2010", cycle="2016")
        add_dataset(ws, "soc-dev", soc.dev, "text", "soc2010", "soc2010", cycle="2016")
        add_dataset(ws, "soc-test", soc.test, "text", "soc2010", "soc2010", cycle="2016")
        train_and_register(ws, MODEL, "soc-first-half", "soc-dev")
        request_approval(ws, ALICE, MODEL, "1", "the first version")
        decide(ws, BOB, MODEL, "1", True, "good enough to start")
        promote(ws, BOB, MODEL, "1")

        settings = server_settings(ws, monitor_schedule_seconds=0, review_sync_seconds=0.5,
                                   review_double_share=0.0, serve_refresh_seconds=0.5)
        with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=120) as client:
            # the production cycle: the other half, scored through the API
            truth: dict[str, str] = {}
            auth = bearer(api_token(ws, "coder", "scorer"))
            for start in range(0, len(second), BATCH):
                part = second.iloc[start:start + BATCH]
                response = client.post(f"/v1/models/{MODEL}/predict", headers=auth,
                                       json={"records": [{"text": t} for t in part["text"]]})
                assert response.status_code == 200, response.text
                assert response.json()["model"]["version"] == "1"
                answers = response.json()["predictions"]
                truth.update(zip((a["id"] for a in answers), part["soc2010"], strict=True))
            # eight coders answer the queue over HTTP with the true codes
            answered: list[int] = []
            errors: list[str] = []
            coders = [threading.Thread(target=_code_until_empty, args=(
                server.url, api_token(ws, "coder", f"coder-{n}"), truth, answered, errors)) for n in range(CODERS)]
            for coder in coders:
                coder.start()
            for coder in coders:
                coder.join(900)
            assert not errors, errors[:3]
            assert len(answered) == len(set(answered)) > len(second) // 2  # nobody coded an item twice

            export = export_review(ws, ALICE, MODEL, "soc-reviewed", cycle="2017")
            assert export.records == len(answered)
            outcome = retrain(ws, ALICE, MODEL, [export.dataset.ref], holdout="soc-test@1")
            assert outcome.proposed and outcome.version == "2"
            assert version_states(ws, MODEL)["2"].state == "pending"
            report: dict[str, Any] = outcome.report or {}
            held = report["comparisons"][0]
            champion, challenger = held["champion"], held["challenger"]
            unit = "unit group" if "unit group" in champion["level_accuracy"] else list(champion["level_accuracy"])[-1]
            assert challenger["level_accuracy"][unit] >= champion["level_accuracy"][unit] + 0.02, held
            assert challenger["auto_coded_share"] > champion["auto_coded_share"], held
            costs = report["costs"]
            print(f"\nclerical loop: {len(answered)} items coded over HTTP; {unit} accuracy "
                  f"{champion['level_accuracy'][unit]:.3f} -> {challenger['level_accuracy'][unit]:.3f}, auto-coded "
                  f"share {champion['auto_coded_share']:.3f} -> {challenger['auto_coded_share']:.3f}, hours saved per "
                  f"cycle {costs['hours_saved_per_cycle']}, largest move {costs['break_risk']['largest_move']}")
            assert costs["hours_saved_per_cycle"] is not None and costs["cycle"]["volume"] == len(second)
            assert costs["break_risk"]["largest"], costs["break_risk"]

            # the human step: an approver promotes it; the running server serves it within its refresh
            decide(ws, BOB, MODEL, "2", True, "better on the test split, hours saved")
            promote(ws, BOB, MODEL, "2")

            def serves_version_2(auth: dict[str, str] = auth, client: httpx.Client = client) -> bool:
                response = client.post(f"/v1/models/{MODEL}/predict", headers=auth,
                                       json={"records": [{"text": "nurse"}]})
                return bool(response.status_code == 200 and response.json()["model"]["version"] == "2")

            wait_for(serves_version_2, 30, "the server did not serve the promoted challenger")
