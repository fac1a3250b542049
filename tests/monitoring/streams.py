"""Logged prediction streams for the monitoring tests: the SOC2010 test split as it is (no drift) and
shifted (one major group only; the qualifiers removed; texts from another classification's index)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from statops.demo import bundled_file
from statops.registry import load_model, resolve_model
from statops.scoring import prediction_rows, write_rows
from statops.workspace import Workspace

WINDOW = 2000
# Products, as a COICOP-style index would list them: nothing like an occupation
_PRODUCTS = ["frozen peas", "semi-skimmed milk", "white sliced bread", "cheddar cheese", "tinned tomatoes",
             "orange juice", "instant coffee", "tea bags", "washing powder", "toilet rolls", "olive oil",
             "basmati rice", "dried pasta", "chicken breast", "minced beef", "salted butter", "free range eggs",
             "bananas", "apples", "potatoes", "carrots", "lager", "red wine", "cigarettes", "petrol",
             "diesel", "electricity tariff", "mobile phone contract", "bus fare", "cinema ticket"]
_SIZES = ["500g", "1kg", "2 pints", "pack of 6", "750ml", "large", "own brand", "organic", "per litre", "x4"]


def bundled_test_split() -> pd.DataFrame:
    """The whole bundled test split, shuffled (the file is sorted by title, a drift of its own)."""
    frame = pd.read_csv(bundled_file("test.csv.gz"), dtype=str, keep_default_na=False)
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)


def stream(kind: str, size: int = WINDOW, seed: int = 0) -> list[str]:
    """`size` texts: 'none' (the test split), 'one_major_group', 'no_qualifiers' or 'products'."""
    frame = bundled_test_split()
    rng = np.random.default_rng(seed)
    if kind == "none":
        return frame["text"].head(size).tolist()
    if kind == "one_major_group":
        texts = frame.loc[frame["soc2010"].str[0] == "5", "text"].tolist()
        return [texts[i] for i in rng.integers(0, len(texts), size)]
    if kind == "no_qualifiers":
        return frame["title"].head(size).tolist()
    if kind == "products":
        return [f"{_PRODUCTS[i]} {_SIZES[j]}" for i, j in zip(rng.integers(0, len(_PRODUCTS), size),
                                                             rng.integers(0, len(_SIZES), size), strict=True)]
    raise ValueError(kind)


def log_texts(ws: Workspace, model: str, texts: Sequence[str], request_id: str, keep_text: bool = True,
              codes: Sequence[str] | None = None) -> list[str]:
    """Predict `texts` with `model` and write them to the log as one batch; returns their ids."""
    ref = resolve_model(ws, model)
    answers = load_model(ws, ref).predict_frame(pd.Series(list(texts), dtype=object))
    if codes is not None:
        answers["code"] = list(codes)
    rows = prediction_rows(ref, list(texts), answers, source="batch", request_id=request_id, keep_text=keep_text,
                           requested_by="tester")
    write_rows(ws.store, rows)
    return [row["id"] for row in rows]


def now() -> datetime:
    return datetime.now(UTC)
