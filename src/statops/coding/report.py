"""An evaluation as one self-contained HTML page: inline style, the chart embedded, no network."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from statops.coding.breakdown import CodeQuality
from statops.coding.chart import coverage_png
from statops.coding.metrics import Evaluation
from statops.html_report import facts_table, html_table, report_page


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _number(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _summary(evaluation: Evaluation) -> str:
    rows = [
        ["records", f"{evaluation.records:,}"],
        ["accuracy (finest level)", _pct(evaluation.accuracy)],
        ["top-5 accuracy", _pct(evaluation.top5_accuracy)],
        ["macro-F1", _number(evaluation.macro_f1)],
        ["expected calibration error", _number(evaluation.ece)],
        ["target accuracy of auto-coded records", _pct(evaluation.target_accuracy)],
        ["confidence threshold", _number(evaluation.threshold, 4)],
        ["share auto-coded", _pct(evaluation.auto_coded_share)],
        ["accuracy of auto-coded records", _pct(evaluation.auto_coded_accuracy)],
    ]
    return html_table(["measure", "value"], rows, numeric={1}, code=set())


def _levels(evaluation: Evaluation) -> str:
    rows = [[r.level, f"{r.codes:,}", f"{r.records:,}", _pct(r.accuracy), _pct(r.auto_coded_accuracy)]
            for r in evaluation.levels]
    return html_table(["level", "codes", "records", "accuracy", "accuracy of auto-coded"], rows,
                      numeric={1, 2, 3, 4}, code=set())


CODE_COLUMNS: list[tuple[str, Callable[[CodeQuality], Any]]] = [
    ("code", lambda c: c.code), ("title", lambda c: c.title), ("support", lambda c: f"{c.support:,}"),
    ("precision", lambda c: _pct(c.precision)), ("recall", lambda c: _pct(c.recall)),
    ("F1", lambda c: _number(c.f1)), ("auto-coded", lambda c: _pct(c.auto_coded_share)),
    ("accuracy of auto-coded", lambda c: _pct(c.auto_coded_accuracy)),
    ("most often coded as", lambda c: f"{c.confused_with} {c.confused_with_title}".strip()
     if c.confused_with else ""),
]


def _codes(rows: list[CodeQuality]) -> str:
    return html_table([name for name, _ in CODE_COLUMNS], [[get(r) for _, get in CODE_COLUMNS] for r in rows],
                      numeric={2, 3, 4, 5, 6, 7}, code={0})


def _confusions(evaluation: Evaluation) -> str:
    rows = [[c.true_code, c.true_title, c.predicted_code, c.predicted_title, f"{c.count:,}", _pct(c.share_of_true)]
            for c in evaluation.confusions]
    return html_table(["true code", "title", "coded as", "title", "records", "share of true code"], rows,
                      numeric={4, 5}, code={0, 2})


def render_report(evaluation: Evaluation, heading: str, facts: Sequence[tuple[str, str]] = ()) -> str:
    """The whole page as text."""
    chart = base64.b64encode(coverage_png(evaluation, "", dpi=150)).decode("ascii")
    worst = evaluation.worst_codes
    return report_page(heading, [
        facts_table(facts),
        "<h2>Summary</h2>", _summary(evaluation),
        "<h2>Coverage and accuracy</h2>",
        '<p class="note">Records are auto-coded from the most confident down. The curve shows the accuracy of '
        "the auto-coded records for each share auto-coded; the dashed line is the target accuracy and the dot "
        "is where the model's threshold puts it.</p>",
        f'<img class="chart" alt="Coverage-accuracy curve" src="data:image/png;base64,{chart}">',
        "<h2>Accuracy by level</h2>",
        '<p class="note">A record counts at a level when its predicted code has the same ancestor there as its '
        "true code.</p>", _levels(evaluation),
        "<h2>Worst-coded codes</h2>",
        f'<p class="note">The {len(worst)} codes with the lowest F1 among codes with at least '
        f"{evaluation.worst_codes_min_support} records. Support, recall and the auto-coded figures count records "
        "whose true code is the code; precision counts records coded as it.</p>",
        _codes(worst) if worst else '<p class="note">No code has enough records.</p>',
        "<h2>Most frequent confusions</h2>",
        _confusions(evaluation) if evaluation.confusions else '<p class="note">No record was coded wrongly.</p>',
        "<h2>Every code</h2>",
        f'<p class="note">{len(evaluation.per_code):,} codes, seen as a true or a predicted code, most frequent '
        "first.</p>", _codes(evaluation.per_code),
    ])
