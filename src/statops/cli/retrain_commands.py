"""statops retrain MODEL --with DATASET [--with ...] [--holdout DATASET@N] [--if-needed]."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from statops.cli.common import (
    HomeOption,
    JsonOption,
    acting,
    console,
    if_interrupted,
    print_json,
    progress_bars,
    table,
)


def _comparison(comparison: dict[str, Any]) -> None:
    from statops.pipelines.report import level_rows

    console.print(table(f"On {comparison['name']} ({comparison['champion']['records']:,} records)",
                        ["measure", "champion", "challenger", "change"], level_rows(comparison)))
    for word in ("better", "worse"):
        if comparison[word]:
            codes = ", ".join(f"{c['code']} ({c['change']:+})" for c in comparison[word][:8])
            console.print(f"  codes coded {word}: {codes}", highlight=False)


def _render(outcome: Any) -> None:
    from statops.pipelines.report import cost_rows, mover_rows

    if not outcome.ran:
        console.print(f"{outcome.model}: nothing ran.", highlight=False)
    report = outcome.report
    if report:
        if outcome.already_done:
            console.print(f"This retraining finished before (MLflow run {outcome.run_id}); nothing was run again.",
                          highlight=False)
        elif outcome.resumed:
            console.print(f"Resumed MLflow run {outcome.run_id}: steps {', '.join(outcome.resumed)} were done "
                          "already", highlight=False)
        data = report["data"]
        console.print(f"Challenger trained on {data['dataset']}: {data['records']:,} records "
                      f"({data['new_texts']:,} new texts, {data['duplicates']:,} duplicates dropped, "
                      f"{data['conflicts']:,} conflicts resolved "
                      "newest-first)", highlight=False)
        for conflict in data["conflict_list"][:10]:
            dropped = "; ".join(f"{d['code']} from {d['dataset']}" for d in conflict["dropped"])
            console.print(f"  conflict: '{conflict['text']}' -> {conflict['kept']} (from {conflict['kept_from']}), "
                          f"dropped {dropped}", highlight=False, soft_wrap=True)
        for comparison in report["comparisons"]:
            _comparison(comparison)
        costs = report["costs"]
        console.print(table("Cost factors", ["factor", "value"], cost_rows(costs)))
        if costs["break_risk"]["largest"]:
            console.print(table("Largest moves of published shares (last cycle)",
                                ["level", "code", "title", "published", "challenger", "move"],
                                mover_rows(costs["break_risk"])[:8]))
    for reason in outcome.reasons:
        console.print(f"- {reason}", highlight=False, soft_wrap=True)
    if outcome.version:
        state = (outcome.approval or {}).get("gates_passed")
        gates = "" if state is None else (" (gates passed)" if state else " (gates FAILED)")
        console.print(f"Registered [bold]{outcome.model}[/] version {outcome.version} as a candidate and requested "
                      f"approval{gates}; an approver decides with `statops models approve {outcome.model} "
                      f"{outcome.version} --reason ...`")
    if outcome.report_path:
        console.print("The comparison report is at", highlight=False)
        console.print(f"  {outcome.report_path}", highlight=False, soft_wrap=True)


def retrain_command(
    model: Annotated[str, typer.Argument(help="MODEL to retrain; its production version (else latest) is the "
                                               "champion.")],
    with_datasets: Annotated[list[str], typer.Option(
        "--with", help="New labelled data, DATASET or DATASET@N (e.g. a review export); repeat for more.",
        show_default=False)],
    holdout: Annotated[str | None, typer.Option(
        "--holdout", help="Held-out labelled data both models are compared on (default: the champion's newest "
        "evaluation dataset, else its dev dataset).", show_default=False)] = None,
    if_needed: Annotated[bool, typer.Option(
        "--if-needed", help="Only when monitoring has open alerts for the champion; propose the challenger only "
        "when it pays (gain beats costs, no published share moves past the tolerance).")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the comparison report (HTML) here.",
                                                show_default=False)] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a challenger on the champion's training data plus new labelled data (deduplicated, conflicts
    resolved newest-first), compare both on the same held-out data and recent reviewed items (accuracy by
    level, auto-coded share, McNemar's test, clerical hours, break risk), register it as a candidate and
    request approval. One MLflow run with a child run per step; running the same command again after a
    failure resumes it."""
    from statops.pipelines import retrain

    ws, actor = acting(home)
    if_interrupted(f"no version of {model} was registered; the same command resumes the retraining")
    try:
        with progress_bars() as bars:
            outcome = retrain(ws, actor, model, with_datasets, holdout, if_needed, report,
                              None if as_json else bars.stages(f"Retraining {model}"))
    finally:
        ws.close()
    if as_json:
        print_json(outcome.as_dict())
    else:
        _render(outcome)


def register(root: typer.Typer) -> None:
    root.command("retrain", epilog="Example: statops retrain occupation --with occupation-reviewed "
                 "--holdout soc-test@1")(retrain_command)
