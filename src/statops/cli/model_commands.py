"""statops train | evaluate | models list | models show."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.padding import Padding
from rich.table import Table

from statops.cli import governance_commands, version_commands
from statops.cli.common import (
    HomeOption,
    JsonOption,
    WideOption,
    console,
    evaluation_table,
    if_interrupted,
    open_workspace,
    pct,
    print_json,
    print_wide,
    progress_bars,
    summary_table,
    table,
)

if TYPE_CHECKING:
    from statops.coding import Evaluation
    from statops.registry import EvaluationFiles, EvaluationRecord, ModelVersionInfo

models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)

SHOWN_IN_TERMINAL = 5  # worst codes and confusions printed; the files and the report hold 20


def _print(rendered: Table, wide: bool = False) -> None:
    """A table at the console's width, or with --wide at the width its columns need."""
    if wide:
        print_wide(rendered)
    else:
        console.print(rendered)


def _files(files: EvaluationFiles) -> None:
    """Where the evaluation's files are; the folder is printed whole (soft-wrapped) so it can be copied."""
    console.print(f"Logged as MLflow run {files.run_id}; its files are in", highlight=False)
    console.print(f"  {files.location}", highlight=False, soft_wrap=True)
    listing = Table.grid(padding=(0, 2))
    listing.add_column(no_wrap=True)
    listing.add_column(overflow="fold")
    for name, about in files.files.items():
        listing.add_row(name, about)
    console.print(Padding(listing, (0, 0, 0, 2)), highlight=False)


def train(
    model: Annotated[str, typer.Argument(help="Registered model name; each training adds a version.")],
    data: Annotated[str, typer.Option("--data", help="Training dataset, NAME or NAME@N.")],
    dev: Annotated[str | None, typer.Option("--dev", help="Dev dataset for calibration and the threshold "
                                            "(default: a seeded 15% split of the training data).")] = None,
    target_accuracy: Annotated[float | None, typer.Option(
        help="Accuracy the automatic answers must reach (codes auto-coded; addresses: matches accepted) "
             "[default: coding 0.95, addresses 0.99].", min=0.01, max=1.0)] = None,
    seed: Annotated[int | None, typer.Option(
        help="Random seed; same seed, same data, same model [default: 0].")] = None,
    regularisation: Annotated[float | None, typer.Option(
        help="Coding: classifier C, larger fits the training data closer [default: 1.0].", min=1e-6)] = None,
    task: Annotated[str, typer.Option(help="What the model does (statops.tasks): coding (free text -> codes of "
                                           "a classification) or addresses (free-text addresses -> ids of a "
                                           "reference base).")] = "coding",
    profile: Annotated[str | None, typer.Option(help="Coder profile: standard (TF-IDF), accurate (sentence "
                                                "encoder and neighbours) or fast (a static embedding "
                                                "distilled from it); the last two need statops[embeddings].")] = None,
    home: HomeOption = None,
) -> None:
    """Train a model (an auto-coder; with --task addresses, an address matcher), evaluate it on dev data,
    log the run to MLflow and register a version."""
    from statops.registry import train_and_register

    ws = open_workspace(home, "models.train")
    if_interrupted(f"no version of {model} was registered (an unfinished MLflow run may remain, marked failed)")
    # only what was given: each task has its own defaults, and refuses an option it does not have
    given = {"target_accuracy": target_accuracy, "seed": seed, "regularisation": regularisation, "profile": profile}
    options: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    with progress_bars() as bars:
        outcome = train_and_register(ws, model, data, dev, options, bars.stages(f"Training {model}"), task=task)
    result, registered = outcome.result, outcome.registered
    calibrated_on = outcome.dev.ref if outcome.dev else "a held-out split"
    console.print(f"Trained on {outcome.train.ref} ({result.train_records:,} records) in {result.fit_seconds:.1f} s; "
                  f"calibrated on {calibrated_on} ({result.dev_records:,} records)")
    from statops.coding import Evaluation

    if isinstance(result.dev_evaluation, Evaluation):
        console.print(evaluation_table("Quality on the dev data (threshold chosen out-of-fold)", result.dev_evaluation))
    else:  # a task without its own rendering here: its summary
        console.print(summary_table("Quality on the dev data", result.dev_evaluation.summary()))
    console.print(f"Registered [bold]{registered.name}[/] version {registered.version} "
                  f"(MLflow run {registered.run_id})")
    if registered.dev_evaluation:
        console.print("The dev evaluation's files and report are in", highlight=False)
        console.print(f"  {registered.dev_evaluation.location}", highlight=False, soft_wrap=True)


def _level_table(evaluation: Evaluation) -> Table:
    rows = [[r.level, f"{r.codes:,}", f"{r.records:,}", pct(r.accuracy), pct(r.auto_coded_accuracy)]
            for r in evaluation.levels]
    return table("Accuracy by level", ["level", "codes", "records", "accuracy", "auto-coded accuracy"], rows)


def _coded(code: str | None, title: str) -> str:
    return f"{code} {title}".strip() if code else "-"


def _titles_share(rendered: Table, text_columns: list[int]) -> Table:
    """Code-and-title columns share the width left by the number columns, which stay whole; left to
    itself rich would give the first title its full length and crush the rest."""
    rendered.expand = True
    for index, column in enumerate(rendered.columns):
        column.ratio = 1 if index in text_columns else None
        column.no_wrap = index not in text_columns
    return rendered


def _worst_table(evaluation: Evaluation) -> Table:
    rows = [[_coded(c.code, c.title), f"{c.support:,}", f"{c.f1:.2f}", pct(c.recall),
             _coded(c.confused_with, c.confused_with_title)] for c in evaluation.worst_codes[:SHOWN_IN_TERMINAL]]
    return _titles_share(table(f"Worst-coded codes (lowest F1, at least {evaluation.worst_codes_min_support} records)",
                               ["code", "records", "F1", "recall", "most often coded as"], rows), [0, 4])


def _confusion_table(evaluation: Evaluation) -> Table:
    rows = [[_coded(c.true_code, c.true_title), _coded(c.predicted_code, c.predicted_title), f"{c.count:,}"]
            for c in evaluation.confusions[:SHOWN_IN_TERMINAL]]
    return _titles_share(table("Most frequent confusions", ["true code", "coded as", "records"], rows), [0, 1])


def evaluate(
    model: Annotated[str, typer.Argument(help="MODEL (production alias, else latest), MODEL@ALIAS or MODEL/VERSION.")],
    data: Annotated[str, typer.Option("--data", help="Labelled dataset, NAME or NAME@N.")],
    report: Annotated[Path | None, typer.Option(
        "--report", help="Also write the evaluation as one self-contained HTML page (FILE.html; opens offline).",
        show_default=False)] = None,
    json_output: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Evaluate a registered model on a labelled dataset (an auto-coder: accuracy by level, per-code quality,
    confusions, worst-coded codes; a matcher: top-1, accepted share and precision); logged to MLflow with
    its tables and report."""
    from statops.registry import evaluate_version

    ws = open_workspace(home, "models.evaluate")
    if_interrupted("no evaluation was recorded (an unfinished MLflow run may remain, marked failed) "
                   "and no report written")
    outcome = evaluate_version(ws, model, data, report)
    if json_output:
        print_json(outcome.summary())
        return
    from statops.coding import Evaluation

    evaluation = outcome.evaluation
    if not isinstance(evaluation, Evaluation):  # a task without its own rendering here: its summary
        console.print(summary_table(f"{outcome.model.describe()} on {outcome.dataset.ref}", evaluation.summary()))
        _files(outcome.files)
        if outcome.report:
            console.print(f"Report written to {outcome.report}", highlight=False, soft_wrap=True)
        return
    console.print(f"[bold]{outcome.model.describe()}[/] on {outcome.dataset.ref}: "
                  f"{pct(evaluation.accuracy)} of {evaluation.records:,} records coded right")
    console.print(_level_table(evaluation))
    console.print(evaluation_table("Overall", evaluation, levels=False))
    if evaluation.worst_codes:
        console.print(_worst_table(evaluation))
    if evaluation.confusions:
        console.print(_confusion_table(evaluation))
    _files(outcome.files)
    if outcome.report:
        console.print(f"Report written to {outcome.report}", highlight=False, soft_wrap=True)


@models_app.command("list", epilog="Example: statops models list")
def models_list(json_output: JsonOption = False, wide: WideOption = False, home: HomeOption = None) -> None:
    """List registered models."""
    from statops.registry import list_models

    rows = list_models(open_workspace(home, "models.read"))
    if json_output:
        print_json([r.as_dict() for r in rows])
        return
    if not rows:
        console.print("No models yet. Train one with: statops train MODEL --data DATASET")
        return
    columns = ["model", "classification", "versions", "latest", "aliases"] + (["task"] if wide else [])
    _print(table("Models", columns, [
        [r.name, r.classification, r.versions, r.latest,
         ", ".join(f"{a}={v}" for a, v in sorted(r.aliases.items()))] + ([r.task] if wide else [])
        for r in rows]), wide)


def _state(v: ModelVersionInfo) -> str:
    """The lifecycle state, with any alias beyond the `production` one the state already says."""
    others = [a for a in v.aliases if a != "production"]
    return v.state + (f" ({', '.join(others)})" if others else "")


def _version_row(v: ModelVersionInfo, wide: bool) -> list[Any]:
    dev = v.dev
    accuracy, auto = (pct(dev.accuracy), pct(dev.auto_coded_share)) if dev else ("-", "-")
    if not wide:
        return [v.version, _state(v), v.trained_on, accuracy, auto, f"{v.created:%Y-%m-%d}"]
    return [v.version, v.state, ", ".join(v.aliases), v.trained_on, v.classification, v.cycle, accuracy,
            pct(dev.top5_accuracy) if dev else "-", f"{dev.ece:.3f}" if dev and dev.ece is not None else "-",
            auto, pct(dev.auto_coded_accuracy) if dev else "-",
            f"{v.threshold:.4f}" if v.threshold is not None else "-",
            v.retired or "",
            f"{v.created:%Y-%m-%d %H:%M}", v.run_id]


VERSION_COLUMNS = ["version", "state", "trained on", "accuracy", "auto-coded", "created"]
VERSION_COLUMNS_WIDE = ["version", "state", "aliases", "trained on", "classification", "cycle", "accuracy", "top-5",
                        "ECE", "auto-coded", "auto-coded accuracy", "threshold", "why retired", "created",
                        "MLflow run"]


def _evaluation_row(version: str, e: EvaluationRecord, wide: bool) -> list[Any]:
    dataset = f"{e.dataset} (dev)" if e.kind == "dev" else e.dataset
    if not wide:
        return [version, dataset, pct(e.accuracy), pct(e.auto_coded_share), f"{e.when:%Y-%m-%d %H:%M}"]
    return [version, dataset, f"{e.records:,}" if e.records is not None else "-", pct(e.accuracy),
            pct(e.top5_accuracy), pct(e.auto_coded_share), pct(e.auto_coded_accuracy),
            f"{e.when:%Y-%m-%d %H:%M}", e.run_id]


EVALUATION_COLUMNS = ["version", "data", "accuracy", "auto-coded", "when"]
EVALUATION_COLUMNS_WIDE = ["version", "data", "records", "accuracy", "top-5", "auto-coded", "auto-coded accuracy",
                           "when", "MLflow run"]


@models_app.command("show", epilog="Example: statops models show occupation")
def models_show(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    json_output: JsonOption = False,
    wide: WideOption = False,
    home: HomeOption = None,
) -> None:
    """Show every version of a model (data, aliases, dev quality) and every evaluation of each."""
    from statops.registry import model_versions

    versions = model_versions(open_workspace(home, "models.read"), model)
    if json_output:
        print_json({"name": model, "versions": [v.as_dict() for v in versions]})
        return
    _print(table(f"Model {model} (accuracy and auto-coded share on its dev data)",
                 VERSION_COLUMNS_WIDE if wide else VERSION_COLUMNS,
                 [_version_row(v, wide) for v in versions]), wide)
    evaluations = [_evaluation_row(v.version, e, wide) for v in versions for e in v.evaluations]
    _print(table("Evaluations (dev: the training run's own, threshold chosen out-of-fold)",
                 EVALUATION_COLUMNS_WIDE if wide else EVALUATION_COLUMNS, evaluations), wide)
    if not wide:
        console.print("[dim]More columns: --wide; everything for scripts: --json[/]")


def register(app: typer.Typer) -> None:
    app.command("train", epilog="Example: statops train occupation --data soc-train --dev soc-dev "
                "--target-accuracy 0.95")(train)
    app.command("evaluate", epilog="Example: statops evaluate occupation/1 --data soc-test "
                "--report occupation-1.html")(evaluate)
    governance_commands.register(models_app)
    version_commands.register(models_app)
    app.add_typer(models_app, name="models")
