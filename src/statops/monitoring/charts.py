"""The report's charts as inline SVG (matplotlib, no network): a signal over the windows with its
thresholds, and reference-vs-window distributions."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

REFERENCE, WINDOW, WARN_COLOUR, ALERT_COLOUR = "#7f8c8d", "#1f5aa6", "#d68910", "#b03a2e"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, selectable
    return plt


def _svg(figure: Any) -> str:
    plt = _pyplot()
    try:
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    finally:
        plt.close(figure)
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)  # matplotlib's RDF block: names only
    return text[text.index("<svg"):]  # without the XML prolog: it is inlined in HTML


def series_svg(title: str, labels: Sequence[str], values: Sequence[float | None], warn: float | None,
               alert: float | None, reference: float | None = None) -> str:
    """A signal's value in each window, with its warning and alert thresholds (and reference) as lines."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 2.6), dpi=100)
    positions = [i for i, v in enumerate(values) if v is not None]
    axes.plot(positions, [values[i] for i in positions], "o-", color=WINDOW, lw=1.5, ms=3, label="window")
    for level, colour, name in ((warn, WARN_COLOUR, "warn"), (alert, ALERT_COLOUR, "alert"),
                                (reference, REFERENCE, "reference")):
        if level is not None:
            axes.axhline(level, color=colour, ls="--", lw=1, label=f"{name} {level:.3g}")
    step = max(1, len(labels) // 8)
    axes.set_xticks(range(0, len(labels), step), [labels[i] for i in range(0, len(labels), step)], fontsize=7,
                    rotation=20, ha="right")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _svg(figure)


def bars_svg(title: str, categories: Sequence[str], reference: Sequence[float], window: Sequence[float],
             xlabel: str = "") -> str:
    """Reference and window shares side by side, per category (codes, or histogram bins)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 2.8), dpi=100)
    positions = range(len(categories))
    axes.bar([p - 0.2 for p in positions], reference, width=0.4, color=REFERENCE, label="reference")
    axes.bar([p + 0.2 for p in positions], window, width=0.4, color=WINDOW, label="latest window")
    step = max(1, len(categories) // 12)
    axes.set_xticks(range(0, len(categories), step), [categories[i] for i in range(0, len(categories), step)],
                    fontsize=7, rotation=30, ha="right")
    axes.set_ylabel("share", fontsize=8)
    if xlabel:
        axes.set_xlabel(xlabel, fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3, axis="y")
    return _svg(figure)
