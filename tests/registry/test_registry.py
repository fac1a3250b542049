from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from statops import InvalidInput, NotFound
from statops.registry import (
    evaluate_version,
    list_models,
    load_coding_model,
    model_versions,
    resolve_model,
    train_and_register,
)


def test_training_run_logs_params_metrics_inputs_and_artifacts(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    mv = ws.mlflow.get_model_version(trained.model, trained.version)
    tags = mv.tags
    assert tags["task"] == "coding" and tags["classification"] == "soc2010@2010"
    assert (tags["cycle"], tags["gsbpm"], tags["dataset"]) == ("2016", "5.2", "soc-train@1")
    assert len(tags["dataset_sha256"]) == 64 and 0 < float(tags["threshold"]) <= 1
    run = ws.mlflow.get_run(mv.run_id)
    assert run.data.params["train_dataset"] == "soc-train@1" and run.data.params["dev_dataset"] == "soc-dev@1"
    for level in ("major", "submajor", "minor", "unit"):
        assert f"dev_accuracy_{level}" in run.data.metrics
    for name in ("dev_top5_accuracy", "dev_macro_f1", "dev_ece", "dev_auto_coded_share", "fit_seconds"):
        assert name in run.data.metrics
    assert run.data.tags["statops.version"]
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"soc-train@1", "soc-dev@1"}
    assert {t.key: t.value for t in inputs["soc-train@1"].tags}["sha256"] == tags["dataset_sha256"]
    artifacts = {a.path for a in ws.mlflow.list_artifacts(mv.run_id, "evaluation")}
    assert artifacts == {"evaluation/dev.json", "evaluation/dev_coverage.png"}
    local = ws.mlflow.download_artifacts(mv.run_id, "evaluation/dev_coverage.png")
    assert Path(local).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pyfunc_model_loads_in_a_plain_python_session(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = trained.ws
    texts = pd.read_csv(trained.soc.test, dtype=str, keep_default_na=False).text.head(50)
    expected = load_coding_model(ws, resolve_model(ws, f"{trained.model}/{trained.version}")).predict_frame(texts)
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    script = (
        "import mlflow, pandas as pd, sys\n"
        f"mlflow.set_tracking_uri({ws.mlflow_uri!r})\n"
        f"m = mlflow.pyfunc.load_model('models:/{trained.model}/{trained.version}')\n"
        f"df = pd.read_csv({str(tmp_path / 'in.csv')!r}, dtype=str, keep_default_na=False)\n"
        f"m.predict(df).to_json({str(tmp_path / 'out.json')!r}, orient='records')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=180, cwd=tmp_path)
    got = pd.DataFrame(json.loads((tmp_path / "out.json").read_text()))
    assert list(got.columns) == ["code", "title", "confidence", "decision", "alternatives"]
    assert got["code"].tolist() == expected["code"].tolist()
    assert got["decision"].tolist() == expected["decision"].tolist()
    assert (got["confidence"] - expected["confidence"]).abs().max() < 1e-9


def test_model_files_hold_no_pickle(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    mv = ws.mlflow.get_model_version(trained.model, trained.version)
    import mlflow

    root = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source))
    files = {p.name for p in root.rglob("*") if p.is_file()}
    assert "features.skops" in files and "python_model.pkl" not in files
    assert not [n for n in files if n.endswith((".pkl", ".pickle", ".joblib"))]


def test_resolving_model_references(trained) -> None:  # noqa: ANN001
    ws, name = trained.ws, trained.model
    assert resolve_model(ws, name).chosen_by == "latest version"
    assert resolve_model(ws, f"{name}/{trained.version}").version == trained.version
    ws.mlflow.set_registered_model_alias(name, "production", trained.version)
    try:
        ref = resolve_model(ws, name)
        assert (ref.chosen_by, ref.alias, ref.version) == ("production alias", "production", trained.version)
        assert resolve_model(ws, f"{name}@production").version == trained.version
    finally:
        ws.mlflow.delete_registered_model_alias(name, "production")
    with pytest.raises(NotFound, match="unknown model nope; registered models: occupation"):
        resolve_model(ws, "nope")
    with pytest.raises(NotFound, match="has no version 99"):
        resolve_model(ws, f"{name}/99")
    with pytest.raises(NotFound, match="no alias 'staging'"):
        resolve_model(ws, f"{name}@staging")
    with pytest.raises(InvalidInput, match="version number"):
        resolve_model(ws, f"{name}/latest")


def test_evaluate_logs_a_run_and_listing_shows_the_model(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    outcome = evaluate_version(ws, trained.model, "soc-test")
    assert outcome.evaluation.records == 800
    run = ws.mlflow.get_run(outcome.run_id)
    assert run.data.metrics["accuracy_unit"] == pytest.approx(outcome.evaluation.level_accuracy["unit"])
    assert run.data.tags["statops.kind"] == "evaluation"
    assert {a.path for a in ws.mlflow.list_artifacts(outcome.run_id, "evaluation")} == {
        "evaluation/evaluation.json", "evaluation/evaluation_coverage.png"}
    assert [m["name"] for m in list_models(ws)] == ["occupation"]
    versions = model_versions(ws, trained.model)
    assert versions[0]["metrics"]["dev_accuracy_unit"] > 0


def test_training_errors(trained) -> None:  # noqa: ANN001
    with pytest.raises(NotFound, match="unknown dataset"):
        train_and_register(trained.ws, "m2", "no-such-data")
    with pytest.raises(InvalidInput, match="invalid model name"):
        train_and_register(trained.ws, "bad name", "soc-train")
