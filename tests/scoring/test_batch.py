from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from statops import InvalidInput, NotFound
from statops.registry import load_model, resolve_model
from statops.scoring.batch import score_file
from statops.scoring.prediction_log import read_predictions


@pytest.fixture
def survey(trained, tmp_path: Path) -> Path:  # noqa: ANN001
    frame = pd.read_csv(trained.soc.test, dtype=str, keep_default_na=False)[["text", "soc2010"]]
    frame.insert(0, "id", [f"r{i:05d}" for i in range(len(frame))])
    path = tmp_path / "survey.csv"
    frame.to_csv(path, index=False)
    return path


def test_score_csv_in_chunks_matches_the_model(trained, survey: Path, tmp_path: Path) -> None:  # noqa: ANN001
    seen = []
    summary = score_file(trained.ws, trained.model, survey, tmp_path / "out.csv", chunk_rows=300,
                         progress=lambda done, total: seen.append((done, total)))
    assert [rows for rows, _ in seen] == [300, 600, 800]  # progress by the bytes read, without counting rows
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["id", "text", "soc2010", "code", "title", "confidence", "decision", "alternatives"]
    assert out["id"].tolist() == [f"r{i:05d}" for i in range(800)]
    model = load_model(trained.ws, resolve_model(trained.ws, trained.model))
    expected = model.predict_frame(pd.read_csv(survey, dtype=str).text)
    assert out["code"].tolist() == expected["code"].tolist()
    assert summary.rows == 800 and summary.auto_coded == int((out["decision"] == "auto").sum())
    assert json.loads(out.loc[0, "alternatives"])[0]["code"] == out.loc[0, "code"]


def test_score_parquet_keeps_codes_as_text(trained, survey: Path, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / "survey.parquet"
    pd.read_csv(survey, dtype=str).to_parquet(source)
    score_file(trained.ws, f"{trained.model}/{trained.version}", source, tmp_path / "out.parquet", chunk_rows=500)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 800 and out["code"].str.len().eq(4).all()
    assert out["confidence"].between(0, 1).all()


def test_clashing_input_columns_are_kept_under_another_name(trained, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / "with_title.csv"
    pd.DataFrame({"text": ["chartered accountant"], "title": ["Accountant"]}).to_csv(source, index=False)
    summary = score_file(trained.ws, trained.model, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert summary.renamed == {"title": "title_input"}
    assert out.loc[0, "title_input"] == "Accountant" and out.loc[0, "title"] != "Accountant"


def test_scoring_errors_write_nothing(trained, survey: Path, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out.csv"
    with pytest.raises(InvalidInput, match="no column 'answer'"):
        score_file(trained.ws, trained.model, survey, out, text_column="answer")
    with pytest.raises(NotFound, match="unknown model"):
        score_file(trained.ws, "nope", survey, out)
    with pytest.raises(NotFound, match="no version 42"):
        score_file(trained.ws, f"{trained.model}/42", survey, out)
    with pytest.raises(NotFound, match="file not found"):
        score_file(trained.ws, trained.model, tmp_path / "missing.csv", out)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("text\ncaf\u00e9 owner\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        score_file(trained.ws, trained.model, bad, out)
    assert not out.exists() and not list(tmp_path.glob(".*part"))


def test_gzip_csv_in_and_out(trained, survey: Path, tmp_path: Path) -> None:  # noqa: ANN001
    source = tmp_path / "survey.csv.gz"
    pd.read_csv(survey, dtype=str).to_csv(source, index=False)
    summary = score_file(trained.ws, trained.model, source, tmp_path / "out.csv.gz")
    out = pd.read_csv(tmp_path / "out.csv.gz", dtype=str)
    assert summary.rows == len(out) == 800 and out["id"].iloc[0] == "r00000"


def test_logged_batch_predictions_name_the_acting_user(trained, tmp_path: Path) -> None:  # noqa: ANN001
    ws = trained.ws
    source = tmp_path / "clerk.csv"
    pd.DataFrame({"text": ["a clerk's first record", "a clerk's second record"]}).to_csv(source, index=False)
    ws.acting_user = "clerk-ana"  # as `statops score --log` run with clerk-ana's token has it
    try:
        score_file(ws, trained.model, source, tmp_path / "out.csv", log=True)
    finally:
        ws.acting_user = None
    logged = read_predictions(ws.store, trained.model)
    mine = logged[logged["input_text"].str.startswith("a clerk's", na=False)]
    assert sorted(mine["input_text"]) == ["a clerk's first record", "a clerk's second record"]
    assert set(mine["requested_by"]) == {"clerk-ana"} and set(mine["source"]) == {"batch"}
