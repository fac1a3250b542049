"""statops monitor MODEL and statops feedback add MODEL FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from statops.cli.common import (
    EncodingOption,
    HomeOption,
    JsonOption,
    SeparatorOption,
    acting,
    console,
    open_workspace,
    parse_moment,
    print_json,
    table,
)

STATUS_STYLE = {"ok": "green", "warn": "yellow", "alert": "bold red", "not enough data": "dim"}
WEBHOOK_WAIT_SECONDS = 10.0  # the most a command waits for its webhook call before it exits


def _value(signal: Any) -> str:
    if signal.value is None:
        return "-"
    text = f"{signal.value:,.0f}" if signal.name == "volume" else f"{signal.value:.3f}"
    return text if signal.reference is None or signal.name == "text_drift" else f"{text} (ref {signal.reference:.3f})"


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def monitor(
    model: Annotated[str, typer.Argument(help="MODEL (its production version, else its latest).")],
    version: Annotated[str | None, typer.Option("--version", help="The version to monitor.",
                                                show_default=False)] = None,
    window: Annotated[str | None, typer.Option(
        "--window", help="day, week, month or quarter (a production cycle), or a number of records "
        "(default STATOPS_MONITOR_WINDOW, else day).",
        show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only predictions from this moment (ISO, UTC).",
                                              show_default=False)] = None,
    reference: Annotated[str | None, typer.Option(
        "--reference", help="Build and keep the version's reference profile from this held-out dataset "
        "(DATASET@N), for versions trained before monitoring existed.", show_default=False)] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write a self-contained HTML report here.",
                                                show_default=False)] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compute the monitoring signals of a model version's prediction log, window by window, against its
    reference profile; open and resolve alerts from the latest window. Run it from cron, or on demand."""
    from statops.files import check_report_path
    from statops.monitoring import monitor as run_monitor
    from statops.monitoring.report import write_report

    report_path = check_report_path(report) if report is not None else None
    moment = parse_moment(since, "--since") if since else None
    ws = open_workspace(home, "monitoring.read")
    result = run_monitor(ws, model, version, window, moment, reference_dataset=reference)
    written = write_report(result, report_path) if report_path else None
    if result.webhook is not None:
        result.webhook.join(WEBHOOK_WAIT_SECONDS)
    if as_json:
        print_json({**result.as_dict(), "report": str(written) if written else None})
        return
    latest = result.latest
    console.print(f"{result.model} version {result.version}, windows {result.window}; reference: "
                  f"{result.reference.source} ({result.reference.records:,} records)", highlight=False)
    if latest is None:
        console.print(f"[dim]not enough data[/]: {result.note}", highlight=False)
    else:
        console.print(table(f"Latest window: {latest.label} ({latest.records:,} records)",
                            ["signal", "value", "threshold", "status"],
                            [[s.name, _value(s), s.threshold, _status(s.status)] for s in latest.signals]))
        older = [w for w in result.windows[:-1] if w.records]
        if older:
            console.print(f"{len(older)} earlier window(s): "
                          + ", ".join(f"{w.label} {w.status}" for w in older[-5:]), highlight=False)
    for alert in result.alerts.opened:
        console.print(f"[bold red]alert opened[/]: {alert.message}", highlight=False)
    for alert in result.alerts.resolved:
        console.print(f"[green]alert resolved[/]: {alert.signal}", highlight=False)
    still = [a for a in result.alerts.open if a not in result.alerts.opened]
    if still:
        console.print("still open: " + ", ".join(f"{a.signal} (since {a.opened_at:%Y-%m-%d %H:%M})" for a in still),
                      highlight=False)
    if written:
        console.print(f"Report written to {written}", highlight=False)


feedback_app = typer.Typer(help="True codes for logged predictions: what monitoring measures realised "
                           "accuracy with.", no_args_is_help=True)


@feedback_app.command("add", epilog="Example: statops feedback add occupation checked.csv --source audit-sample")
def feedback_add(
    model: Annotated[str, typer.Argument(help="The model whose predictions the true codes are for.")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel file: prediction_id (or id) or text, "
                                         "true_code, and source (or --source).")],
    source: Annotated[str | None, typer.Option("--source", help="clerical, audit-sample or expert, for rows "
                                               "without a source column.", show_default=False)] = None,
    encoding: EncodingOption = "utf-8",
    separator: SeparatorOption = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add true codes from a file. Every row is checked first (the prediction id is in the log, the code in
    the model's classification, the source known); a bad row names its line and nothing is written."""
    from statops.monitoring import add_feedback_file
    from statops.tables import TextFormat

    ws, actor = acting(home)
    added = add_feedback_file(ws, actor, model, file, source, TextFormat(encoding, separator))
    if as_json:
        print_json(added.__dict__)
        return
    console.print(f"Added {added.records:,} true codes for {added.model} ("
                  + ", ".join(f"{n:,} {s}" for s, n in sorted(added.by_source.items())) + ")", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("monitor", epilog="Example: statops monitor occupation --window week --report monitoring.html")(
        monitor)
    app.add_typer(feedback_app, name="feedback")
