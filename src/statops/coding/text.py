"""Text normalisation applied identically at training and prediction."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_one(text: str) -> str:
    """Unicode-compatible lower case, punctuation to spaces, single spaces."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NON_WORD.sub(" ", text).strip()


def normalise(texts: pd.Series | list[str] | np.ndarray) -> list[str]:
    """Normalise many texts (missing values become empty strings)."""
    return [normalise_one(t) if isinstance(t, str) else "" for t in texts]
