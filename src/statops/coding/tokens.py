"""The coder's TF-IDF features without scikit-learn's per-text analyser: the same matrix, built
from a cache of each word's n-gram columns.

scikit-learn's `TfidfVectorizer.transform` cuts every text into character and word n-grams in
Python, one text at a time: about 70 µs a text, most of the coder's time where texts do not
repeat. Both of the coder's analysers work inside word boundaries (`char_wb` pads each word with
spaces; words are runs of word characters), so a text's n-grams are its words' n-grams put
together, plus the word bigrams. `TokenFeatures` keeps, per distinct word, the columns of its
character n-grams (statops.ngrams.WordNgrams) and its word tokens, computed once by the fitted
vectorisers' own analysers; a batch is then a list of cached columns, and counting, sublinear tf,
idf and the l2 norm of each block are whole-array numpy operations (statops.ngrams.sublinear_tfidf).
The result equals `FeatureUnion.transform` (to float rounding); `tests/coding/test_tokens.py` checks
it on real and odd texts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import FeatureUnion

from statops.ngrams import CACHE_WORDS, WordNgrams, sublinear_tfidf


def supported(features: FeatureUnion) -> bool:
    """Whether `features` is the coder's union: char_wb n-grams then word n-grams (unigrams and up),
    both TF-IDF with sublinear tf and l2 norm, no stop words, the default preprocessing."""
    names = [name for name, _ in features.transformer_list]
    if names != ["chars", "words"] or features.transformer_weights:
        return False
    chars, words = (features.named_transformers[n] for n in names)
    common = all(v.sublinear_tf and v.use_idf and v.norm == "l2" and v.lowercase and v.strip_accents is None
                 and v.preprocessor is None and v.tokenizer is None and v.stop_words is None
                 and v.input == "content" and v.binary is False for v in (chars, words))
    return bool(common and chars.analyzer == "char_wb" and words.analyzer == "word"
                and words.ngram_range[0] == 1 and words.ngram_range[1] <= 2)


class TokenFeatures:
    """`features.transform(texts)` for the coder's fitted union, from per-word caches."""

    def __init__(self, features: FeatureUnion) -> None:
        chars, words = features.named_transformers["chars"], features.named_transformers["words"]
        self._chars = WordNgrams(chars)
        self._word_tokens = words.build_tokenizer()
        self._word_vocabulary: dict[str, int] = words.vocabulary_
        self._word_idf = np.asarray(words.idf_, dtype=np.float32)
        self._bigrams = words.ngram_range[1] >= 2
        self.n_chars = len(self._chars.idf)
        self.n_features = self.n_chars + len(self._word_idf)
        self._tokens: dict[str, list[str]] = {}

    def _word(self, word: str) -> tuple[list[int], list[str]]:
        """A word's character n-gram columns (repeats kept) and its word tokens."""
        tokens = self._tokens.get(word)
        if tokens is None:
            if len(self._tokens) >= CACHE_WORDS:
                self._tokens.clear()
            tokens = self._tokens[word] = self._word_tokens(word.lower())
        return self._chars.columns(word), tokens

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """The TF-IDF features of `texts` (records x features, float32), as the fitted union gives them."""
        char_columns: list[int] = []
        char_lengths = np.zeros(len(texts), dtype=np.int64)
        word_columns: list[int] = []
        word_lengths = np.zeros(len(texts), dtype=np.int64)
        vocabulary, bigrams, word = self._word_vocabulary, self._bigrams, self._word
        for row, text in enumerate(texts):
            tokens: list[str] = []
            before = len(char_columns)
            for w in text.split():
                columns, its_tokens = word(w)
                char_columns.extend(columns)
                tokens.extend(its_tokens)
            char_lengths[row] = len(char_columns) - before
            before = len(word_columns)
            for token in tokens:
                column = vocabulary.get(token)
                if column is not None:
                    word_columns.append(column)
            if bigrams:
                for first, second in zip(tokens, tokens[1:], strict=False):
                    column = vocabulary.get(first + " " + second)
                    if column is not None:
                        word_columns.append(column)
            word_lengths[row] = len(word_columns) - before
        char_block = sublinear_tfidf(char_columns, char_lengths, self._chars.idf)
        word_block = sublinear_tfidf(word_columns, word_lengths, self._word_idf)
        return sp.hstack([char_block, word_block], format="csr", dtype=np.float32)

    def stats(self) -> dict[str, Any]:
        return {"cached_words": len(self._chars)}

