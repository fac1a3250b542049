"""The comparison report of a retraining: one JSON document, one self-contained HTML page (no scripts, no
links, no external files) and the model card's section, all from the same figures."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from statops.registry.card import markdown_table, text

STYLE = ("body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b}main{max-width:64rem;margin:0 auto;"
         "padding:1.5rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccc}"
         "table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;"
         "text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}"
         ".yes{color:#0a6b2d;font-weight:600}.no{color:#a4161a;font-weight:600}")


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def signed_points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pts"


def _hours(value: float) -> str:
    return f"{value:,.1f} h"


def level_rows(comparison: dict[str, Any]) -> list[list[str]]:
    """Rows of measure, champion, challenger, change for one paired comparison."""
    champ, chall = comparison["champion"], comparison["challenger"]
    rows = [[f"accuracy ({level})", pct(value), pct(chall["level_accuracy"].get(level)),
             signed_points((chall["level_accuracy"].get(level) or 0.0) - value)]
            for level, value in champ["level_accuracy"].items()]
    rows.append(["auto-coded share at the target", pct(champ["auto_coded_share"]), pct(chall["auto_coded_share"]),
                 signed_points(chall["auto_coded_share"] - champ["auto_coded_share"])])
    rows.append(["accuracy of auto-coded records", pct(champ["auto_coded_accuracy"]),
                 pct(chall["auto_coded_accuracy"]), ""])
    test = comparison["mcnemar"]
    rows.append(["McNemar's test", f"{test['champion_only']} only champion right",
                 f"{test['challenger_only']} only challenger right", f"p = {test['p_value']:.3g} ({test['method']})"])
    return rows


def cost_rows(costs: dict[str, Any]) -> list[list[str]]:
    effort, cycle = costs["effort"], costs["cycle"]
    return [
        ["records in the last cycle", f"{cycle['volume']:,} ({cycle['since'][:10]} to {cycle['until'][:10]})"],
        ["change in auto-coded share", signed_points(costs["auto_share_change"])],
        ["clerical hours saved per cycle", f"{_hours(costs['hours_saved_per_cycle'])} at "
                                           f"{costs['minutes_per_record']:g} min per record"],
        ["expected gain", f"{_hours(costs['expected_gain_hours'])} over {costs['horizon_cycles']:g} cycles"],
        ["labelling and review effort", f"{_hours(effort['hours'])} ({effort['reviewed']:,} reviewed records with "
                                        f"recorded time, {effort['estimated']:,} estimated)"],
        ["overhead of a new version", _hours(costs["overhead_hours"])],
        ["break risk", f"{costs['break_risk']['beyond']} of {costs['break_risk']['aggregates']:,} shares move more "
                       f"than {pct(costs['break_risk']['tolerance'])} on {costs['break_risk']['records']:,} records"],
    ]


def mover_rows(risk: dict[str, Any]) -> list[list[str]]:
    return [[m["level"], m["code"], m["title"], pct(m["published"], 2), pct(m["challenger"], 2),
             signed_points(m["move"])] for m in risk["largest"]]


def code_rows(changes: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [[c["code"], c["title"], f"{c['records']:,}", f"{c['champion_right']:,}", f"{c['challenger_right']:,}",
             f"{c['change']:+,}"] for c in changes]


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th scope=\"col\">{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any]) -> str:
    """The report as one page that opens offline."""
    title = f"Retraining {report['model']}: version {report['champion']['version']} against a challenger"
    costs = report["costs"]
    verdict = "yes" if costs["proposed"] else "no"
    parts = [f"<h1>{html.escape(title)}</h1>",
             _table(["fact", "value"], [[k, v] for k, v in report["facts"].items()]),
             f"<h2>Decision</h2><p class=\"{verdict}\">Worth proposing on cost: {verdict}</p><ul>"
             + "".join(f"<li>{html.escape(r)}</li>" for r in costs["reasons"]) + "</ul>"]
    for comparison in report["comparisons"]:
        parts.append(f"<h2>On {html.escape(comparison['name'])} ({comparison['champion']['records']:,} records)</h2>")
        parts.append(_table(["measure", "champion", "challenger", "change"], level_rows(comparison)))
        for word in ("better", "worse"):
            if comparison[word]:
                parts.append(f"<h3>Codes coded {word}</h3>")
                parts.append(_table(["code", "title", "records", "champion right", "challenger right", "change"],
                                    code_rows(comparison[word])))
    for note in report["notes"]:
        parts.append(f"<p>{html.escape(note)}</p>")
    parts.append("<h2>Cost factors</h2>" + _table(["factor", "value"], cost_rows(costs)))
    risk = costs["break_risk"]
    if risk["largest"]:
        parts.append("<h2>Largest moves of published shares</h2>" + _table(
            ["level", "code", "title", "published", "challenger", "move"], mover_rows(risk)))
    data = report["data"]
    parts.append("<h2>Training data</h2>" + _table(["", "records"], [
        *[[f"read from {ref}", f"{n:,}"] for ref, n in data["records_in"].items()],
        ["duplicates dropped", f"{data['duplicates']:,}"], ["conflicts (newest code kept)", f"{data['conflicts']:,}"],
        ["dropped: text in the held-out data", f"{data['held_out']:,}"], ["new texts", f"{data['new_texts']:,}"],
        ["relabelled texts", f"{data['relabelled']:,}"],
        [f"challenger trained on {data['dataset']}", f"{data['records']:,}"]]))
    if data["conflict_list"]:
        parts.append("<h2>Conflicting labels</h2>" + _table(
            ["text", "kept", "from", "dropped"],
            [[c["text"], c["kept"], c["kept_from"], "; ".join(f"{d['code']} ({d['dataset']})" for d in c["dropped"])]
             for c in data["conflict_list"]]))
    return (f"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}"
            f"</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n" + "\n".join(parts)
            + "\n</main>\n</body>\n</html>\n")


def card_markdown(report: dict[str, Any]) -> str:
    """The model card's section on how this version came about and what it is expected to cost and save."""
    costs, held = report["costs"], report["comparisons"][0]
    data = report["data"]
    out = [f"Trained by retraining run {text(report['run_id'])} as a challenger to version "
           f"{text(report['champion']['version'])}, on {data['records']:,} records ({data['new_texts']:,} new "
           f"texts, {data['conflicts']:,} conflicts resolved newest-first).",
           markdown_table(["measure", "champion", "challenger", "change"], level_rows(held)),
           markdown_table(["cost factor", "value"], cost_rows(costs)),
           ("Worth proposing on cost: **" + ("yes" if costs["proposed"] else "no") + "**. "
            + " ".join(text(r) + "." for r in costs["reasons"]))]
    if costs["break_risk"]["largest"]:
        out.append(markdown_table(["level", "code", "title", "published", "challenger", "move"],
                                  mover_rows(costs["break_risk"])[:5]))
    return "\n\n".join(out)
