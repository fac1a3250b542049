"""Codes are text: a classification whose codes start with 0 (SIC 2007's agriculture, forestry and
fishing) keeps its leading zeros through the catalogue, training, the registry and batch scoring.
Were a code turned into a number anywhere (01110 -> 1110), these assertions would fail."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from statops import Workspace
from statops.classifications import add_classification, get_classification
from statops.data import add_dataset, get_dataset, load_dataset
from statops.registry import train_and_register
from statops.scoring.batch import score_file

# A small part of SIC 2007 (sections left out): divisions and the classes under them.
STRUCTURE = [
    ("01", "division", "Crop and animal production, hunting and related service activities", ""),
    ("01110", "class", "Growing of cereals (except rice), leguminous crops and oil seeds", "01"),
    ("01130", "class", "Growing of vegetables and melons, roots and tubers", "01"),
    ("01410", "class", "Raising of dairy cattle", "01"),
    ("02", "division", "Forestry and logging", ""),
    ("02100", "class", "Silviculture and other forestry activities", "02"),
    ("02200", "class", "Logging", "02"),
    ("03", "division", "Fishing and aquaculture", ""),
    ("03110", "class", "Marine fishing", "03"),
    ("03210", "class", "Marine aquaculture", "03"),
]
CLASS_WORDS = {
    "01110": ["wheat", "barley", "oats", "oilseed rape", "field beans"],
    "01130": ["potatoes", "carrots", "onions", "cabbages", "lettuces"],
    "01410": ["dairy cows", "milking herd", "dairy heifers", "milk cattle", "friesian cows"],
    "02100": ["tree planting", "forest nursery", "woodland management", "conifer plantation", "forest thinning"],
    "02200": ["timber felling", "logging", "log hauling", "tree felling", "roundwood harvesting"],
    "03110": ["sea fishing", "trawler", "deep sea trawling", "fishing boat", "mackerel fishing"],
    "03210": ["salmon farm", "mussel farming", "oyster beds", "sea cage fish farm", "marine fish farming"],
}
TEMPLATES = ["{}", "{} business", "self employed {}", "manager {}", "worker in {}"]
CLASSES = set(CLASS_WORDS)
# Records to score, each with the class it plainly belongs to (kept as an input column too).
SURVEY = [
    ("growing wheat", "01110"), ("potatoes and onions", "01130"), ("dairy cows", "01410"),
    ("forest nursery", "02100"), ("timber felling", "02200"), ("trawler", "03110"), ("salmon farm", "03210"),
]


def is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _write_inputs(folder: Path) -> dict[str, Path]:
    paths = {name: folder / f"{name}.csv" for name in ("structure", "train", "survey")}
    pd.DataFrame(STRUCTURE, columns=["code", "level", "title", "parent"]).to_csv(paths["structure"], index=False)
    records = [(template.format(words), code) for code, phrases in CLASS_WORDS.items()
               for words in phrases for template in TEMPLATES]
    pd.DataFrame(records, columns=["text", "sic2007"]).to_csv(paths["train"], index=False)
    pd.DataFrame(SURVEY, columns=["text", "expected"]).to_csv(paths["survey"], index=False)
    paths["survey_parquet"] = folder / "survey.parquet"
    pd.DataFrame(SURVEY, columns=["text", "expected"]).astype("string").to_parquet(paths["survey_parquet"])
    return paths


def _check_answers(table: pd.DataFrame) -> None:
    expected = [code for _, code in SURVEY]
    assert table["expected"].tolist() == expected  # an input column of codes comes back untouched
    assert table["code"].tolist() == expected
    assert all(isinstance(code, str) and len(code) == 5 and code.startswith("0") for code in table["code"])
    for text in table["alternatives"]:
        alternatives = json.loads(text)
        assert alternatives and all(isinstance(a["code"], str) for a in alternatives)
        assert {a["code"] for a in alternatives} <= CLASSES


def test_codes_with_leading_zeros_stay_text_from_catalogue_to_scored_files(workspace: Workspace,
                                                                           tmp_path: Path) -> None:
    ws = workspace
    paths = _write_inputs(tmp_path)
    classification = add_classification(ws, "sic2007", paths["structure"], version="2007")
    assert set(get_classification(ws, "sic2007", "2007").hierarchy.codes) == \
        {code for code, *_ in STRUCTURE} == set(classification.hierarchy.codes)

    add_dataset(ws, "farms", paths["train"], "text", "sic2007", "sic2007", cycle="2024Q1", gsbpm="5.2")
    info = get_dataset(ws, "farms")
    snapshot = pq.read_table(ws.home / info.snapshot_path)
    assert is_text(snapshot.schema.field("sic2007").type)
    assert set(snapshot.column("sic2007").to_pylist()) == CLASSES
    assert set(load_dataset(ws, info)["sic2007"]) == CLASSES

    outcome = train_and_register(ws, "industry", "farms")
    assert outcome.classification == "sic2007@2007"

    csv_out = tmp_path / "scored.csv"
    summary = score_file(ws, "industry", paths["survey"], csv_out)
    assert summary.rows == len(SURVEY)
    with csv_out.open(encoding="utf-8", newline="") as file:  # the file as written, without pandas
        assert [row["code"] for row in csv.DictReader(file)] == [code for _, code in SURVEY]
    _check_answers(pd.read_csv(csv_out, dtype=str, keep_default_na=False))

    parquet_out = tmp_path / "scored.parquet"
    score_file(ws, "industry", paths["survey_parquet"], parquet_out)
    schema = pq.read_schema(parquet_out)
    assert is_text(schema.field("code").type) and is_text(schema.field("expected").type)
    _check_answers(pd.read_parquet(parquet_out))
