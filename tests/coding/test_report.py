"""The HTML evaluation report: self-contained, escaped, written whole or not at all."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from statops.classifications import Hierarchy
from statops.coding import Evaluation, render_report
from statops.coding.metrics import evaluate_predictions
from statops.errors import InvalidInput, NotFound
from statops.files import check_report_path, write_file_atomically

HOSTILE = 'Tricky <script>alert("x")</script> & <b>bold</b>'
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Tags(HTMLParser):
    """Collects start tags, attributes and text; checks that every tag is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _evaluation() -> Evaluation:
    structure = pd.DataFrame({
        "code": ["1", "11", "12", "2", "21"],
        "level": ["major", "unit", "unit", "major", "unit"],
        "title": ["Managers", HOSTILE, "Directors", "Professionals", "Scientists"],
        "parent": ["", "1", "1", "", "2"],
    })
    rng = np.random.default_rng(0)
    truth = list(rng.choice(["11", "12", "21"], size=200))
    predicted = [t if rng.random() < 0.7 else str(rng.choice(["11", "12", "21"])) for t in truth]
    return evaluate_predictions(truth, predicted, rng.random(200), [[p] for p in predicted],
                                Hierarchy.from_structure(structure), threshold=0.5, target_accuracy=0.9)


def test_the_report_is_one_self_contained_page_with_every_table() -> None:
    evaluation = _evaluation()
    page = render_report(evaluation, "occupation version 3 on soc-test@1", [("dataset", "soc-test@1 <&>")])
    parser = Tags()
    parser.feed(page)
    parser.close()
    assert parser.open == []
    # Nothing is fetched: no external scripts, styles, images, fonts or links.
    assert not [tag for tag, _ in parser.starts if tag in ("script", "link", "iframe", "object")]
    for tag, attrs in parser.starts:
        for name in ("src", "href"):
            assert not (attrs.get(name) or "").startswith(("http:", "https:", "//")), (tag, attrs)
    assert not re.search(r"url\(|@import", page)
    images = [attrs["src"] for tag, attrs in parser.starts if tag == "img"]
    assert len(images) == 1 and images[0] and images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(images[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # Titles are text, not markup.
    text = "".join(parser.text)
    assert HOSTILE in text and "soc-test@1 <&>" in text
    assert "<script>" not in page and "&lt;script&gt;" in page
    for heading in ("Summary", "Coverage and accuracy", "Accuracy by level", "Worst-coded codes",
                    "Most frequent confusions", "Every code"):
        assert heading in text
    assert f"{len(evaluation.per_code)} codes" in text
    for level in evaluation.levels:
        assert f"{level.accuracy:.1%}" in text
    for confusion in evaluation.confusions:
        assert confusion.predicted_title in text


def test_a_report_path_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"must end in \.html"):
        check_report_path(tmp_path / "report.pdf")
    with pytest.raises(NotFound, match="does not exist"):
        check_report_path(tmp_path / "missing" / "report.html")
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(InvalidInput, match="is a folder"):
        check_report_path(tmp_path / "folder.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.html"]


def test_a_report_replaces_the_file_whole(tmp_path: Path) -> None:
    target = check_report_path(tmp_path / "Report.HTML")
    target.write_text("old")
    written = write_file_atomically(render_report(_evaluation(), "occupation").encode("utf-8"), target)
    assert written == target
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["Report.HTML"]  # no temporary file left behind
