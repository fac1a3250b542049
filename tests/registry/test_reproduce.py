"""Reproducing registered versions on real SQLite and PostgreSQL stores and a real MLflow: the default
coder retrains to exactly the recorded metrics, with a dev dataset and with a held-out split; a changed
snapshot is refused before any training; a changed record is reported figure by figure (exit 1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from statops import Workspace
from statops.accounts import Actor, add_user, create_token
from statops.data import get_dataset
from statops.errors import Conflict, Forbidden
from statops.registry.reproduce import reproduce_version
from statops.store import audit
from tests.cli_runner import run_cli
from tests.conftest import BACKENDS, SocFiles, make_workspace

ADMIN = Actor("root", "admin", "local")
ALICE = Actor("alice", "modeller", "token")


@dataclass
class Trained:
    ws: Workspace
    with_dev: str  # calibrated on soc-dev
    held_out: str  # calibrated on a seeded split of its training data


@pytest.fixture(scope="module", params=BACKENDS)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, soc: SocFiles) -> Iterator[Trained]:
    """`occupation` version 1 trained on 2,000 records with soc-dev (500 records), version 2 on the same
    2,000 with a held-out split, non-default options."""
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.registry import train_and_register

    folder = tmp_path_factory.mktemp("reproduce")
    for ws in make_workspace(folder / "ws", request.param):
        add_user(ws, ADMIN, "vic", "viewer")
        add_classification(ws, "soc2010", soc.structure, version="2010")
        for name, path, rows in (("soc-train", soc.train, 2000), ("soc-dev", soc.dev, 500)):
            part = folder / f"{name}.csv"
            pd.read_csv(path, dtype=str, keep_default_na=False).head(rows).to_csv(part, index=False)
            add_dataset(ws, name, part, "text", "soc2010", "soc2010", cycle="2016", gsbpm="5.2")
        ws.acting_user = "alice"
        with_dev = train_and_register(ws, "occupation", "soc-train", "soc-dev").registered.version
        held_out = train_and_register(ws, "occupation", "soc-train", options={
            "seed": 7, "target_accuracy": 0.9, "regularisation": 0.5, "dev_share": 0.2}).registered.version
        ws.acting_user = None
        yield Trained(ws, with_dev, held_out)


def _reproductions(ws: Workspace, version: str) -> list[audit.AuditRecord]:
    with ws.store.session() as session:
        return [r for r in audit.read(session, model="occupation") if r.action == "model.reproduce"
                and r.subject == f"occupation/{version}"]


def test_a_version_calibrated_on_a_dev_dataset_reproduces_exactly(trained: Trained) -> None:
    ws = trained.ws
    run = ws.mlflow.get_run(ws.mlflow.get_model_version("occupation", trained.with_dev).run_id)
    outcome = reproduce_version(ws, ALICE, "occupation", trained.with_dev)
    assert outcome.matches and outcome.packages == []
    metrics = {c.name: (c.recorded, c.reproduced) for c in outcome.comparisons if c.kind == "metric"}
    recorded = {k: v for k, v in run.data.metrics.items() if k.startswith("dev_")}
    assert set(metrics) == set(recorded) and all(a == b for a, b in metrics.values())  # exactly, every one
    assert {c.name for c in outcome.comparisons if c.kind == "param"} >= {"threshold", "temperature", "classes"}
    assert [(d.role, d.ref) for d in outcome.datasets] == [("training", "soc-train@1"), ("calibration", "soc-dev@1")]

    repro = ws.mlflow.get_run(outcome.run_id)
    assert repro.data.tags["statops.kind"] == "reproduction" and repro.data.tags["statops.reproduced"] == "matches"
    assert repro.data.tags["statops.reproduces_run"] == run.info.run_id
    assert {k: v for k, v in repro.data.metrics.items() if k.startswith("dev_")} == recorded
    versions = ws.mlflow.search_model_versions("name='occupation'")
    assert all(v.run_id != outcome.run_id for v in versions) and len(versions) == 2  # not registered
    rows = _reproductions(ws, trained.with_dev)
    assert rows[-1].after == "matches" and rows[-1].actor == "alice" and rows[-1].details["run_id"] == outcome.run_id


def test_a_version_calibrated_on_a_held_out_split_reproduces_exactly_from_the_command_line(
        trained: Trained, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "models", "reproduce", "occupation", trained.held_out,
                             "--home", str(trained.ws.home))
    assert code == 0, out + err
    assert "metrics and parameters match exactly" in out and "dev_accuracy" in out
    assert "soc-dev" not in out  # trained without it
    assert _reproductions(trained.ws, trained.held_out)[-1].after == "matches"


def test_a_changed_record_is_reported_figure_by_figure(trained: Trained, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ws = trained.ws
    run_id = ws.mlflow.get_model_version("occupation", trained.held_out).run_id
    accuracy = ws.mlflow.get_run(run_id).data.metrics["dev_accuracy"]
    ws.mlflow.log_metric(run_id, "dev_accuracy", accuracy + 0.125)  # the record now says otherwise
    try:
        code, out, err = run_cli(capsys, monkeypatch, "models", "reproduce", "occupation", trained.held_out,
                                 "--json", "--home", str(ws.home))
    finally:
        ws.mlflow.log_metric(run_id, "dev_accuracy", accuracy)
    assert code == 1, err
    import json

    outcome = json.loads(out)
    assert not outcome["matches"]
    assert [(c["name"], c["recorded"], c["reproduced"]) for c in outcome["comparisons"] if not c["matches"]] == [
        ("dev_accuracy", accuracy + 0.125, accuracy)]
    assert _reproductions(ws, trained.held_out)[-1].after == "differs"


def test_a_changed_snapshot_is_refused_before_training(trained: Trained, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ws = trained.ws
    info = get_dataset(ws, "soc-dev@1")
    snapshot = ws.home / info.snapshot_path
    original = snapshot.read_bytes()
    frame = pq.read_table(snapshot).to_pandas()
    frame.loc[0, "soc2010"] = "9999" if frame.loc[0, "soc2010"] != "9999" else "1111"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), snapshot)  # same file, other bytes
    runs_before = len(ws.mlflow.search_runs([ws.mlflow.get_experiment_by_name("occupation").experiment_id]))
    audits_before = len(_reproductions(ws, trained.with_dev))
    try:
        with pytest.raises(Conflict, match=r"dataset soc-dev@1 has been altered.*cannot be reproduced"):
            reproduce_version(ws, ALICE, "occupation", trained.with_dev)
        code, out, err = run_cli(capsys, monkeypatch, "models", "reproduce", "occupation", trained.with_dev,
                                 "--home", str(ws.home))
        assert code == 2 and "soc-dev@1 has been altered" in err and "Traceback" not in err
        Path(snapshot).write_bytes(b"not parquet any more")
        with pytest.raises(Conflict, match="snapshot of dataset soc-dev@1 cannot be read"):
            reproduce_version(ws, ALICE, "occupation", trained.with_dev)
    finally:
        snapshot.write_bytes(original)
    assert len(ws.mlflow.search_runs([ws.mlflow.get_experiment_by_name("occupation").experiment_id])) == runs_before
    assert len(_reproductions(ws, trained.with_dev)) == audits_before


def test_reproducing_needs_a_role_that_trains(trained: Trained, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Forbidden, match="may not models train"):
        reproduce_version(trained.ws, Actor("vic", "viewer", "token"), "occupation", trained.with_dev)
    monkeypatch.setenv("STATOPS_TOKEN", create_token(trained.ws, ADMIN, "vic")[1])
    code, out, err = run_cli(capsys, monkeypatch, "models", "reproduce", "occupation", trained.with_dev,
                             "--home", str(trained.ws.home))
    assert code == 2 and "may not models train" in err
    code, out, err = run_cli(capsys, monkeypatch, "models", "reproduce", "occupation", "9",
                             "--home", str(trained.ws.home))
    assert code == 2
