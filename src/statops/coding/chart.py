"""The coverage-accuracy chart of an evaluation, as a PNG."""

from __future__ import annotations

import io
from pathlib import Path

from statops.coding.metrics import Evaluation


def coverage_png(evaluation: Evaluation, title: str = "", dpi: int = 110) -> bytes:
    """Accuracy of the auto-coded records against the share auto-coded, with the target marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=dpi)
    try:
        axes.plot(evaluation.curve.coverage, evaluation.curve.accuracy, color="#1f5aa6", lw=2,
                  label="accuracy of auto-coded records")
        axes.axhline(evaluation.target_accuracy, color="#b03a2e", ls="--", lw=1,
                     label=f"target {evaluation.target_accuracy:.0%}")
        if evaluation.auto_coded_accuracy is not None:
            axes.plot([evaluation.auto_coded_share], [evaluation.auto_coded_accuracy], "o", color="#b03a2e",
                      label=f"at threshold: {evaluation.auto_coded_share:.1%} auto-coded")
        axes.set_xlabel("share of records auto-coded (most confident first)")
        axes.set_ylabel("accuracy")
        axes.set_xlim(0, 1)
        axes.set_ylim(max(0.0, min(evaluation.curve.accuracy, default=0.0) - 0.05), 1.0)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left", fontsize=8)
        axes.set_title(title or "Coverage-accuracy curve", fontsize=10)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()


def coverage_chart(evaluation: Evaluation, path: str | Path, title: str = "") -> Path:
    """The coverage-accuracy chart written to `path` as a PNG."""
    path = Path(path)
    path.write_bytes(coverage_png(evaluation, title))
    return path
