"""statops train | evaluate | models list | models show."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from statops.cli.common import HomeOption, console, evaluation_table, open_workspace, pct, progress_bars, table

models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)


def train(
    model: Annotated[str, typer.Argument(help="Registered model name; each training adds a version.")],
    data: Annotated[str, typer.Option("--data", help="Training dataset, NAME or NAME@N.")],
    dev: Annotated[str | None, typer.Option("--dev", help="Dev dataset for calibration and the threshold "
                                            "(default: a seeded 15% split of the training data).")] = None,
    target_accuracy: Annotated[float, typer.Option(help="Accuracy the auto-coded records must reach.",
                                                   min=0.01, max=1.0)] = 0.95,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data, same model.")] = 0,
    regularisation: Annotated[float, typer.Option(help="Classifier C: larger fits the training data closer.",
                                                  min=1e-6)] = 1.0,
    home: HomeOption = None,
) -> None:
    """Train an auto-coder, evaluate it on dev data, log the run to MLflow and register a version."""
    from statops.coding import TrainingOptions
    from statops.registry import train_and_register

    ws = open_workspace(home)
    options = TrainingOptions(target_accuracy=target_accuracy, seed=seed, regularisation=regularisation)
    with progress_bars() as bars:
        outcome = train_and_register(ws, model, data, dev, options, bars.stages(f"Training {model}"))
    result, registered = outcome.result, outcome.registered
    calibrated_on = outcome.dev.ref if outcome.dev else "a held-out split"
    console.print(f"Trained on {outcome.train.ref} ({result.train_records:,} records) in {result.fit_seconds:.1f} s; "
                  f"calibrated on {calibrated_on} ({result.dev_records:,} records)")
    console.print(evaluation_table("Quality on the dev data (threshold chosen out-of-fold)", result.dev_evaluation))
    console.print(f"Registered [bold]{registered.name}[/] version {registered.version} "
                  f"(MLflow run {registered.run_id})")


def evaluate(
    model: Annotated[str, typer.Argument(help="MODEL (production alias, else latest), MODEL@ALIAS or MODEL/VERSION.")],
    data: Annotated[str, typer.Option("--data", help="Labelled dataset, NAME or NAME@N.")],
    home: HomeOption = None,
) -> None:
    """Evaluate a registered model on a labelled dataset; logged to MLflow."""
    from statops.registry import evaluate_version

    ws = open_workspace(home)
    outcome = evaluate_version(ws, model, data)
    console.print(evaluation_table(f"{outcome.model.describe()} on {outcome.dataset.ref}", outcome.evaluation))
    console.print(f"Logged as MLflow run {outcome.run_id}")


@models_app.command("list", epilog="Example: statops models list")
def models_list(home: HomeOption = None) -> None:
    """List registered models."""
    from statops.registry import list_models

    rows = list_models(open_workspace(home))
    if not rows:
        console.print("No models yet. Train one with: statops train MODEL --data DATASET")
        return
    console.print(table("Models", ["model", "task", "classification", "versions", "latest", "aliases"], [
        [r["name"], r["task"], r["classification"], r["versions"], r["latest"],
         ", ".join(f"{a}={v}" for a, v in sorted(r["aliases"].items()))] for r in rows]))


@models_app.command("show", epilog="Example: statops models show occupation")
def models_show(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    home: HomeOption = None,
) -> None:
    """Show every version of a model: data, threshold, aliases and key quality measures."""
    from statops.registry import model_versions

    versions = model_versions(open_workspace(home), model)
    rows = []
    for v in versions:
        m, tags = v["metrics"], v["tags"]
        created = datetime.fromtimestamp(v["created"] / 1000, UTC)
        rows.append([v["version"], ", ".join(v["aliases"]), tags.get("dataset"), tags.get("classification"),
                     tags.get("cycle"), pct(m.get("dev_accuracy")), pct(m.get("dev_top5_accuracy")),
                     f"{m['dev_ece']:.3f}" if "dev_ece" in m else "-", pct(m.get("dev_auto_coded_share")),
                     tags.get("threshold"), f"{created:%Y-%m-%d %H:%M}"])
    console.print(table(f"Model {model}", ["version", "aliases", "trained on", "classification", "cycle",
                                           "accuracy", "top-5", "ECE", "auto-coded", "threshold", "created"], rows))


def register(app: typer.Typer) -> None:
    app.command("train", epilog="Example: statops train occupation --data soc-train --dev soc-dev "
                "--target-accuracy 0.95")(train)
    app.command("evaluate", epilog="Example: statops evaluate occupation/1 --data soc-test")(evaluate)
    app.add_typer(models_app, name="models")
