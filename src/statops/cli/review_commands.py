"""statops review stats MODEL and statops review export MODEL --as DATASET."""

from __future__ import annotations

from typing import Annotated

import typer

from statops.cli.common import HomeOption, JsonOption, acting, console, print_json, table

app = typer.Typer(help="The clerical review queue: progress, agreement, and coded items as labelled data.",
                  no_args_is_help=True)


def _num(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


@app.command("stats", epilog="Example: statops review stats occupation --json")
def stats(
    model: Annotated[str, typer.Argument(help="MODEL whose review queue to describe.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Items done and left, each coder's answers and pace, time per item, and agreement (Cohen's kappa)
    at each level of the classification on items coded twice."""
    from statops.review import review_stats

    ws, actor = acting(home)
    try:
        result = review_stats(ws, actor, model)
    finally:
        ws.close()
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"{model}: {result.done:,} item(s) done, {result.left:,} left of {result.items:,} "
                  f"({result.audit_items:,} audit, {result.double_items:,} coded twice); "
                  f"{_num(result.seconds_per_item)} s per item (median {_num(result.median_seconds)} s)",
                  highlight=False)
    if result.coders:
        console.print(table("Coders", ["coder", "coded", "uncodable", "skipped", "s per item"],
                            [[c.coder, c.coded, c.uncodable, c.skipped, _num(c.seconds_per_item)]
                             for c in result.coders]))
    if result.agreement:
        console.print(table("Agreement on items coded twice", ["level", "pairs", "agreement", "kappa"],
                            [[a.level, a.pairs, _num(a.agreement, ".3f"), _num(a.kappa, ".3f")]
                             for a in result.agreement]))


@app.command("export", epilog="Example: statops review export occupation --as soc-reviewed")
def export(
    model: Annotated[str, typer.Argument(help="MODEL whose coded review items to export.")],
    dataset: Annotated[str, typer.Option("--as", help="Dataset to add the coded items to, as its next version.")],
    cycle: Annotated[str | None, typer.Option("--cycle", help="Production cycle of the data (e.g. 2024Q1).",
                                              show_default=False)] = None,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add the coded review items as a new version of a dataset (text, code, and provenance columns:
    prediction_id, model_version, model_code, audit, coders, coded_at), ready to train on."""
    from statops.review import export_review

    ws, actor = acting(home)
    try:
        result = export_review(ws, actor, model, dataset, cycle)
    finally:
        ws.close()
    if as_json:
        print_json({"dataset": result.dataset.as_dict(), "records": result.records,
                    "disagreements": result.disagreements, "without_text": result.without_text})
        return
    made = "added" if result.dataset.created else "unchanged (identical to)"
    console.print(f"{result.records:,} coded item(s) {made} dataset {result.dataset.ref}", highlight=False)
    if result.disagreements:
        console.print(f"{result.disagreements:,} item(s) coded twice had different codes; the later code "
                      "is exported", highlight=False)
    if result.without_text:
        console.print(f"{result.without_text:,} coded item(s) left out: the log kept no text for them",
                      highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="review")
