"""The frame of the self-contained HTML report pages every task writes: inline style, no network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24;
       margin: 0; background: #f6f7f9; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.15em; margin: 32px 0 8px; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; }
p.note, p.sub { color: #57606a; margin: 4px 0 10px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e6e9ed; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
table.facts th { background: none; font-weight: 600; }
img.chart { max-width: 100%; height: auto; border: 1px solid #e6e9ed; }
"""


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int], code: set[int]) -> str:
    """An HTML table; every cell is escaped."""
    def cell(tag: str, index: int, value: Any) -> str:
        css = "num" if index in numeric else "code" if index in code and tag == "td" else ""
        attribute = f' class="{css}"' if css else ""
        return f"<{tag}{attribute}>{escape('' if value is None else str(value))}</{tag}>"

    head = "".join(cell("th", i, c) for i, c in enumerate(columns))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def facts_table(facts: Sequence[tuple[str, str]]) -> str:
    """What was evaluated, as a two-column table ('' without facts)."""
    if not facts:
        return ""
    return '<table class="facts">\n' + "\n".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts) + "\n</table>"


def report_page(heading: str, sections: Sequence[str]) -> str:
    """A whole page: the heading, when it was written, and the sections (HTML) in order."""
    written = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(s for s in [f"<h1>{escape(heading)}</h1>",
                                 f'<p class="sub">Evaluation report, written {escape(written)}.</p>', *sections] if s)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(heading)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
        "</body>\n</html>\n"
    )
