"""The address parser: a linear-chain CRF (python-crfsuite) labelling each word of a normalised
address with the field it belongs to; trained on strings derived from the reference base."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pycrfsuite

from statops.addresses.derive import Labelled
from statops.addresses.fields import FIELDS
from statops.addresses.normalise import STREET_WORDS, SUB_BUILDING_WORDS, tokens

MAX_ITERATIONS = 60
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_INWARD = re.compile(r"^[0-9][A-Z]{2}$")
_SHAPE = [(re.compile(r"[0-9]+"), "9"), (re.compile(r"[A-Z]+"), "A")]


def shape(word: str) -> str:
    """Runs of digits as 9 and of letters as A: `14A` -> `9A`, `ZZ1` -> `A9`."""
    for pattern, mark in _SHAPE:
        word = pattern.sub(mark, word)
    return word


def _kind(word: str) -> str:
    if word in SUB_BUILDING_WORDS:
        return "sub"
    if word in STREET_WORDS:
        return "street"
    if _INWARD.match(word):
        return "inward"
    if _OUTWARD.match(word) and not word.isdigit():
        return "outward"
    return "digit" if word[:1].isdigit() else "word"


def word_features(words: Sequence[str], segments: Sequence[int]) -> list[list[str]]:
    """Each word's CRF features: the word, its shape and affixes, where it sits in the address and
    its comma segment, and its neighbours."""
    n = len(words)
    if n == 0:
        return []
    last_segment = segments[-1]
    kinds = [_kind(w) for w in words]
    shapes = [shape(w) for w in words]
    out = []
    for i, word in enumerate(words):
        f = [f"w={word}", f"shape={shapes[i]}", f"kind={kinds[i]}", f"p3={word[:3]}", f"s3={word[-3:]}",
             f"len={min(len(word), 8)}", f"i={min(i, 6)}", f"r={min(n - 1 - i, 6)}",
             f"seg={min(segments[i], 4)}", f"rseg={min(last_segment - segments[i], 4)}",
             f"nseg={min(last_segment, 5)}"]
        if i == 0 or segments[i - 1] != segments[i]:
            f.append("segstart")
        if i == n - 1 or segments[i + 1] != segments[i]:
            f.append("segend")
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < n:
                f.extend((f"{offset}w={words[j]}", f"{offset}kind={kinds[j]}", f"{offset}shape={shapes[j]}"))
                if abs(offset) == 1:
                    f.append(f"{offset}same_seg={segments[j] == segments[i]}")
            else:
                f.append(f"{offset}edge")
        f.append(f"kind-1kind={kinds[i]}|{kinds[i - 1] if i else '^'}")
        f.append(f"kind+1kind={kinds[i]}|{kinds[i + 1] if i < n - 1 else '$'}")
        out.append(f)
    return out


class AddressParser:
    """A trained CRF held as crfsuite's own model file (its bytes, opened in memory)."""

    def __init__(self, model_bytes: bytes) -> None:
        self.model_bytes = model_bytes
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open_inmemory(model_bytes)
        self._cache: dict[str, dict[str, str]] = {}

    @classmethod
    def fit(cls, sequences: Sequence[Labelled], seed: int = 0, max_iterations: int = MAX_ITERATIONS) -> AddressParser:
        """Train on labelled sequences (words, segments, labels)."""
        trainer = pycrfsuite.Trainer(verbose=False)
        for words, segments, labels in sequences:
            trainer.append(word_features(words, segments), labels)
        # crfsuite's L-BFGS is deterministic for given data; the seed only drew the data.
        trainer.set_params({"c1": 0.05, "c2": 0.01, "max_iterations": max_iterations,
                            "feature.possible_transitions": True})
        with tempfile.TemporaryDirectory(prefix="statops-crf-") as tmp:
            path = Path(tmp) / "parser.crfsuite"
            trainer.train(str(path))
            return cls(path.read_bytes())

    def label(self, words: Sequence[str], segments: Sequence[int]) -> list[str]:
        """The field of each word."""
        if not words:
            return []
        return list(self._tagger.tag(word_features(words, segments)))

    def parse_normalised(self, normalised: str) -> dict[str, str]:
        """The fields of a normalised address (each field's words in order; "" where none)."""
        cached = self._cache.get(normalised)
        if cached is not None:
            return cached
        words, segments = tokens(normalised)
        found: dict[str, list[str]] = {f: [] for f in FIELDS}
        for word, label in zip(words, self.label(words, segments), strict=True):
            found[label].append(word)
        parsed = {f: " ".join(v) for f, v in found.items()}
        if len(self._cache) > 200_000:  # bounded: a long-running server sees endless new texts
            self._cache.clear()
        self._cache[normalised] = parsed
        return parsed

    def save(self, path: Path) -> None:
        """Write crfsuite's model file."""
        path.write_bytes(self.model_bytes)

    @classmethod
    def load(cls, path: Path) -> AddressParser:
        """Read crfsuite's model file."""
        return cls(path.read_bytes())


def label_quality(parser: AddressParser, sequences: Sequence[Labelled]) -> dict[str, dict[str, float]]:
    """Per-label precision, recall, F1 and support over the words of held-out labelled sequences."""
    counts = {f: [0, 0, 0] for f in FIELDS}  # true positives, predicted, actual
    for words, segments, labels in sequences:
        for truth, guess in zip(labels, parser.label(words, segments), strict=True):
            counts[guess][1] += 1
            counts[truth][2] += 1
            if truth == guess:
                counts[truth][0] += 1
    out = {}
    for field, (hits, predicted, actual) in counts.items():
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[field] = {"precision": precision, "recall": recall, "f1": f1, "support": float(actual)}
    return out
