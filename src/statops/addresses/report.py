"""An address matcher's evaluation as one self-contained HTML page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from statops.addresses.evaluation import AddressEvaluation
from statops.html_report import facts_table, html_table, report_page

SHARES = ("accuracy", "share", "precision", "recall", "f1")
ABOUT = (
    '<p class="note">Top-1 accuracy and recall count the addresses that are in the reference base. A match is '
    "accepted when its confidence reaches the threshold; the accepted share is of the addresses in the base, the "
    "precision is of all accepted matches, and an address that is not in the base counts as wrong whenever a "
    "match of it is accepted.</p>"
)


def _shown(name: str, value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1%}" if any(word in name for word in SHARES) else f"{value:.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _figures(values: Mapping[str, Any]) -> str:
    rows = [[name.replace("_", " "), _shown(name, value)] for name, value in values.items()
            if not isinstance(value, Mapping | list)]
    return html_table(["measure", "value"], rows, numeric={1}, code=set())


def _per_row_tables(values: Mapping[str, Any]) -> list[str]:
    """Each nested table of the evaluation (e.g. the parser's quality per field), as a section."""
    sections = []
    for name, table in values.items():
        if isinstance(table, Mapping) and table and all(isinstance(v, Mapping) for v in table.values()):
            columns = list(dict.fromkeys(k for row in table.values() for k in row))
            rows: list[Sequence[Any]] = [[key, *(_shown(c, row.get(c, "")) for c in columns)]
                                         for key, row in table.items()]
            sections += [f"<h2>{name.replace('_', ' ').capitalize()}</h2>",
                         html_table(["", *columns], rows, numeric=set(range(1, len(columns) + 1)), code={0})]
    return sections


def render_report(evaluation: AddressEvaluation, heading: str, facts: Sequence[tuple[str, str]] = ()) -> str:
    """The whole page as text."""
    return report_page(heading, [facts_table(facts), "<h2>Summary</h2>", ABOUT, _figures(evaluation.summary()),
                                 *_per_row_tables(evaluation.as_dict())])
