from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from statops import InvalidInput, NotFound
from statops.classifications import get_classification
from statops.registry import (
    evaluate_version,
    list_models,
    load_model,
    model_versions,
    resolve_model,
    train_and_register,
)
from tests.plain_mlflow import predict_in_plain_python


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
    assert artifacts == {f"evaluation/dev{suffix}" for suffix in (
        ".json", "_coverage.png", "_per_code.csv", "_confusions.csv", "_worst_codes.csv", "_report.html")}
    per_code = pd.read_csv(ws.mlflow.download_artifacts(mv.run_id, "evaluation/dev_per_code.csv"), dtype={"code": str})
    assert per_code["support"].sum() == int(run.data.params["dev_records"]) == 1000
    local = ws.mlflow.download_artifacts(mv.run_id, "evaluation/dev_coverage.png")
    assert Path(local).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pyfunc_model_loads_in_a_plain_python_session(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = trained.ws
    texts = pd.read_csv(trained.soc.test, dtype=str, keep_default_na=False).text.head(50)
    expected = load_model(ws, resolve_model(ws, f"{trained.model}/{trained.version}")).predict_frame(texts)
    got = predict_in_plain_python(ws, trained.model, trained.version, texts, tmp_path)
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
        f"evaluation/{name}" for name in outcome.files.files}
    [listed] = list_models(ws)
    assert (listed.name, listed.task, listed.latest) == ("occupation", "coding", trained.version)
    versions = model_versions(ws, trained.model)
    assert versions[0].metrics["dev_accuracy_unit"] > 0
    assert versions[0].task == "coding" and versions[0].in_service and versions[0].threshold is not None


def test_training_errors(trained) -> None:  # noqa: ANN001
    with pytest.raises(NotFound, match="unknown dataset"):
        train_and_register(trained.ws, "m2", "no-such-data")
    with pytest.raises(InvalidInput, match="invalid model name"):
        train_and_register(trained.ws, "bad name", "soc-train")


def _evaluation_runs(ws, name: str) -> int:  # noqa: ANN001
    experiment = ws.mlflow.get_experiment_by_name(name)
    return len(ws.mlflow.search_runs([experiment.experiment_id], "tags.`statops.kind` = 'evaluation'"))


def test_evaluation_stores_per_code_tables_and_writes_the_report(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = trained.ws
    outcome = evaluate_version(ws, f"{trained.model}/{trained.version}", "soc-test", tmp_path / "r.html")
    files = outcome.files
    assert files.run_id == outcome.run_id and outcome.report == tmp_path / "r.html"
    if not ws.settings.mlflow_uri:  # the embedded store: a folder the user can open
        assert Path(files.location).is_dir()
        assert sorted(p.name for p in Path(files.location).iterdir()) == sorted(files.files)
    titles = get_classification(ws, "soc2010").hierarchy.titles

    def table(name: str) -> pd.DataFrame:
        local = ws.mlflow.download_artifacts(outcome.run_id, f"evaluation/evaluation_{name}.csv")
        return pd.read_csv(local, dtype={"code": str, "true_code": str, "predicted_code": str,
                                         "confused_with": str}, keep_default_na=False)

    per_code, confusions, worst = table("per_code"), table("confusions"), table("worst_codes")
    assert per_code["support"].sum() == per_code["predicted"].sum() == 800
    assert per_code["correct"].sum() == round(outcome.evaluation.accuracy * 800)
    assert all(per_code["title"] == [titles[c] for c in per_code["code"]])
    assert len(confusions) == 20 and (confusions["true_code"] != confusions["predicted_code"]).all()
    assert list(confusions["count"]) == sorted(confusions["count"], reverse=True)
    assert all(confusions["predicted_title"] == [titles[c] for c in confusions["predicted_code"]])
    assert 0 < len(worst) <= 20 and (worst["support"] >= 10).all()
    assert list(worst["f1"]) == sorted(worst["f1"])
    stored = json.loads(Path(ws.mlflow.download_artifacts(outcome.run_id, "evaluation/evaluation.json")).read_text())
    assert stored["worst_codes"][0]["code"] == worst["code"][0] and len(stored["per_code"]) == len(per_code)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    logged = Path(ws.mlflow.download_artifacts(outcome.run_id, "evaluation/evaluation_report.html")).read_text()
    assert page == logged and outcome.run_id in page and "soc-test@1" in page


def test_a_bad_report_path_is_refused_before_anything_is_logged(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = trained.ws
    before = _evaluation_runs(ws, trained.model)
    with pytest.raises(InvalidInput, match=r"must end in \.html"):
        evaluate_version(ws, trained.model, "soc-test", tmp_path / "r.txt")
    with pytest.raises(NotFound, match="does not exist"):
        evaluate_version(ws, trained.model, "soc-test", tmp_path / "no" / "r.html")
    assert _evaluation_runs(ws, trained.model) == before
    assert list(tmp_path.iterdir()) == []


def test_model_versions_list_every_evaluation(trained) -> None:  # noqa: ANN001
    ws = trained.ws
    outcome = evaluate_version(ws, f"{trained.model}/{trained.version}", "soc-test")
    [detail] = [d for d in model_versions(ws, trained.model) if d.version == trained.version]
    assert (detail.trained_on, detail.classification, detail.cycle) == ("soc-train@1", "soc2010@2010", "2016")
    assert detail.threshold is not None and 0 < detail.threshold <= 1
    dev = detail.dev
    assert dev is not None and (dev.kind, dev.dataset, dev.records) == ("dev", "soc-dev@1", 1000)
    assert dev.run_id == detail.run_id
    mine = [e for e in detail.evaluations if e.run_id == outcome.run_id]
    assert len(mine) == 1 and (mine[0].kind, mine[0].dataset, mine[0].records) == ("evaluation", "soc-test@1", 800)
    assert mine[0].accuracy == pytest.approx(outcome.evaluation.accuracy)
    assert mine[0].auto_coded_share == pytest.approx(outcome.evaluation.auto_coded_share)
    assert detail.evaluations[0] is dev and [e.when for e in detail.evaluations[1:]] == sorted(
        e.when for e in detail.evaluations[1:])
    assert json.loads(json.dumps(detail.as_dict(), default=str))["evaluations"][0]["kind"] == "dev"


def test_mlflow_says_nothing_on_its_own(trained, capfd) -> None:  # noqa: ANN001
    """No "Successfully registered model", "Created version" or advice about type hints: statops
    reports the outcome itself."""
    script = "import warnings; warnings.simplefilter('default'); import statops.registry"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "type hints" not in done.stderr, done.stderr
    capfd.readouterr()
    train_and_register(trained.ws, "quiet", "soc-dev", "soc-test")
    err = capfd.readouterr().err
    for chatter in ("Successfully registered", "Created version", "Validating input example", "type hints"):
        assert chatter not in err, err
    trained.ws.mlflow.delete_registered_model("quiet")
