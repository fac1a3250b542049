"""The indexes are artefacts of the reference: built twice from it, they answer the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from statops.addresses.candidates import TextIndex, VectorIndex
from statops.addresses.gazetteer import query_facts
from statops.addresses.model import AddressModel
from statops.addresses.normalise import normalise


def test_text_index_built_twice_answers_the_same(model: AddressModel, demo_bed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    g = model.matcher.gazetteer
    in_ram = TextIndex.build(g)
    TextIndex.build(g, tmp_path / "tantivy")
    on_disk = TextIndex.open(tmp_path / "tantivy")
    for text in demo_bed.test["text"].head(40):
        normalised = normalise(text)
        facts = query_facts(normalised, model.matcher.parser.parse_normalised(normalised))
        assert in_ram.search(facts, g.vocabulary) == on_disk.search(facts, g.vocabulary)


def test_vector_index_built_twice_answers_the_same(model: AddressModel, demo_bed) -> None:  # type: ignore[no-untyped-def]
    vectors = model.matcher.vector_index.vectors
    first, second = VectorIndex.build(vectors), VectorIndex.build(vectors)
    queries = model.matcher.encoder.encode([normalise(t) for t in demo_bed.test["text"].head(40)])
    assert first.search(queries) == second.search(queries)
    np.testing.assert_array_equal(first.vectors, second.vectors)


def test_a_word_the_reference_does_not_know_is_searched_fuzzily(model: AddressModel, demo_bed) -> None:  # type: ignore[no-untyped-def]
    """A one-letter slip in the street still finds the street's addresses by BM25."""
    g = model.matcher.gazetteer
    row = next(r for r in demo_bed.reference.itertuples() if len(r.street.split()[0]) >= 6 and r.building_number)
    word = row.street.split()[0]
    slipped = word[:2] + word[3:]  # one letter dropped
    assert slipped not in g.vocabulary
    text = normalise(f"{row.building_number} {row.street.replace(word, slipped)}, {row.town}")
    facts = query_facts(text, model.matcher.parser.parse_normalised(text))
    rows, _ = model.matcher.text_index.search(facts, g.vocabulary)
    assert g.row_of[row.id] in rows
