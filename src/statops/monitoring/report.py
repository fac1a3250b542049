"""`statops monitor --report`: one self-contained HTML page (charts inlined as SVG, no network): the
latest window's signals, each signal over the windows with its thresholds, reference vs latest
distributions, and the alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

from statops.files import write_file_atomically
from statops.monitoring.charts import bars_svg, series_svg
from statops.monitoring.monitor import MonitoringResult
from statops.monitoring.signals import Signal

STYLE = """body{font-family:system-ui,sans-serif;margin:0;color:#222}main{max-width:960px;margin:auto;padding:1rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.ok{color:#1e8449}.warn{color:#b9770e;font-weight:bold}
.alert{color:#b03a2e;font-weight:bold}.chart svg{max-width:100%;height:auto}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:.5rem}"""


def _value(signal: Signal) -> str:
    return "-" if signal.value is None else f"{signal.value:.4g}"


def _status(status: str) -> str:
    return f'<span class="{escape(status.replace(" ", "-"))}">{escape(status)}</span>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(svg: str) -> str:
    return f'<div class="chart">{svg}</div>'


def render_report(result: MonitoringResult) -> str:
    """The page, as text."""
    latest = result.latest
    title = f"Monitoring: {result.model} version {result.version}"
    parts = [f"<h1>{escape(title)}</h1>",
             f"<p>Windows {escape(result.window)}; {len(result.windows)} window(s); latest status "
             f"{_status(result.status)}. Reference: {escape(result.reference.source)} "
             f"({result.reference.records:,} records). Made {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>"]
    if result.note:
        parts.append(f"<p><strong>{escape(result.note)}</strong></p>")
    if latest is not None:
        parts.append(f"<h2>Latest window: {escape(latest.label)} ({latest.records:,} records)</h2>")
        parts.append(_table(["signal", "value", "reference", "threshold", "status", "note"], [
            [escape(s.name), _value(s), "-" if s.reference is None else f"{s.reference:.4g}", escape(s.threshold),
             _status(s.status), escape(s.note)] for s in latest.signals]))
    alerts = result.history
    parts.append("<h2>Alerts</h2>")
    parts.append(_table(["signal", "version", "state", "opened (UTC)", "resolved (UTC)", "message"], [
        [escape(a.signal), escape(a.version), _status("alert" if a.state == "open" else "ok") + f" {a.state}",
         f"{a.opened_at:%Y-%m-%d %H:%M}", f"{a.resolved_at:%Y-%m-%d %H:%M}" if a.resolved_at else "",
         escape(a.message)] for a in alerts]) if alerts else "<p>No alerts.</p>")
    parts.append("<h2>Signals over time</h2><div class='charts'>")
    labels = [w.label for w in result.windows]
    names = list(dict.fromkeys(s.name for w in result.windows for s in w.signals))
    for name in names:
        found = [w.signal(name) for w in result.windows]
        values = [s.value if s is not None else None for s in found]
        if all(v is None for v in values):
            continue
        last = next(s for s in reversed(found) if s is not None)
        parts.append(_chart(series_svg(name, labels, values, last.warn, last.alert, last.reference)))
    parts.append("</div>")
    d = result.distributions
    if d:
        parts.append("<h2>Reference and latest window</h2><div class='charts'>")
        parts.append(_chart(bars_svg("Top predicted codes", [c["code"] for c in d["codes"]],
                                     [c["reference"] for c in d["codes"]], [c["window"] for c in d["codes"]])))
        conf = d["confidence"]
        parts.append(_chart(bars_svg("Confidence", [f"{b:.2f}" for b in conf["bins"][:-1]], conf["reference"],
                                     conf["window"], "confidence (bin start)")))
        length = d["text_length"]
        if length["window"]:
            parts.append(_chart(bars_svg("Text length", [f"{b:.0f}" for b in length["bins"][:-1]],
                                         length["reference"], length["window"], "characters (bin start)")))
        parts.append("</div>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


def write_report(result: MonitoringResult, path: Path) -> Path:
    """The report page written to `path` atomically."""
    return write_file_atomically(render_report(result).encode("utf-8"), path)
