"""statops models card | export | import | reproduce."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from statops.cli.governance_commands import ModelArg, VersionArg, _version

if TYPE_CHECKING:
    from statops.registry.reproduce import Reproduction

DIFFERENT = 1  # `models reproduce`: some figure differs (a user error is 2)


def card(
    model: ModelArg, version: VersionArg,
    html: Annotated[Path | None, typer.Option("--html", help="Write the card as one self-contained HTML page "
                                              "(FILE.html; opens offline) instead of printing it.",
                                              show_default=False)] = None,
    home: HomeOption = None,
) -> None:
    """Print a version's model card (Markdown): intended use, data, quality, limitations, gates, approvals."""
    from statops.files import check_report_path, write_file_atomically
    from statops.registry.card import model_card

    path = check_report_path(html) if html is not None else None  # refused before any work
    ws, actor = acting(home)
    built = model_card(ws, actor, model, _version(version))
    if path is None:
        sys.stdout.write(built.markdown())
        return
    write_file_atomically(built.html().encode("utf-8"), path)
    console.print(f"Model card of {model} version {built.version} written to {path}", highlight=False,
                  soft_wrap=True)


def export(
    model: ModelArg, version: VersionArg,
    file: Annotated[Path, typer.Argument(help="The archive to write (FILE.tar.gz).")],
    json_output: JsonOption = False, home: HomeOption = None,
) -> None:
    """Write a version into one archive for another workspace: model files, card, metrics, lineage, records."""
    from statops.registry.exchange import export_version

    ws, actor = acting(home)
    if_interrupted("no archive was written")
    summary = export_version(ws, actor, model, _version(version), file)
    if json_output:
        print_json(summary.__dict__)
        return
    console.print(f"Exported {model} version {summary.version} ({summary.files} files, "
                  f"{summary.bytes / 1e6:.1f} MB) to", highlight=False)
    console.print(f"  {summary.path}", highlight=False, soft_wrap=True)
    console.print(f"Manifest sha256: {summary.manifest_sha256}", highlight=False, soft_wrap=True)
    console.print("[dim]The manifest detects changes, not forgery: sign archives where it matters.[/]")


def import_(
    file: Annotated[Path, typer.Argument(help="An archive written by `statops models export`.")],
    as_name: Annotated[str | None, typer.Option("--as", help="Register under this model name (default: "
                                                "the exported model's name).", show_default=False)] = None,
    json_output: JsonOption = False, home: HomeOption = None,
) -> None:
    """Register an exported version here as a candidate; it then passes this workspace's gates and four eyes."""
    from statops.registry.exchange import import_version

    ws, actor = acting(home)
    if_interrupted("nothing was registered (an unfinished MLflow run may remain, marked failed)")
    summary = import_version(ws, actor, file, as_name)
    if json_output:
        print_json(summary.__dict__)
        return
    console.print(f"Imported {summary.source} as [bold]{summary.model}[/] version {summary.version} "
                  f"(candidate; trained by {summary.trained_by}).", highlight=False)
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"Next: statops models request-approval {summary.model} {summary.version} --reason ...",
                  highlight=False)


def _comparison_table(outcome: Reproduction) -> list[list[str]]:
    def shown(value: object) -> str:
        return "missing" if value is None else repr(value) if isinstance(value, float) else str(value)

    return [[c.name, shown(c.recorded), shown(c.reproduced), "yes" if c.matches else "NO"]
            for c in outcome.comparisons if c.kind == "metric" or not c.matches]


def reproduce(model: ModelArg, version: VersionArg, json_output: JsonOption = False,
              home: HomeOption = None) -> None:
    """Train a version again from its recorded data, parameters and seed; exit 1 if any metric differs."""
    from statops.registry.reproduce import reproduce_version

    ws, actor = acting(home)
    if_interrupted("nothing was recorded (an unfinished MLflow run may remain, marked failed)")
    if json_output:
        outcome = reproduce_version(ws, actor, model, _version(version))
        print_json(outcome.as_dict())
    else:
        with progress_bars() as bars:
            outcome = reproduce_version(ws, actor, model, _version(version),
                                        bars.stages(f"Reproducing {model} {version}"))
        _print_reproduction(outcome)
    if not outcome.matches:
        raise typer.Exit(DIFFERENT)


def _print_reproduction(outcome: Reproduction) -> None:
    for d in outcome.datasets:
        console.print(f"{d.role} data {d.ref}: sha256 {d.sha256[:16]}… as recorded", highlight=False)
    if all(d.role != "calibration" for d in outcome.datasets):
        console.print("dev data: the seeded held-out split of the training data, as recorded", highlight=False)
    for p in outcome.packages:
        console.print(f"[yellow]package {p.package}[/]: recorded {p.recorded}, installed "
                      f"{p.installed or 'none'}", highlight=False)
    console.print(table(f"{outcome.model} version {outcome.version}: recorded and reproduced",
                        ["figure", "recorded", "reproduced", "same"], _comparison_table(outcome)))
    differing = outcome.differing
    if differing:
        console.print(f"[red]{len(differing)} of {len(outcome.comparisons)} figures differ[/] "
                      f"(MLflow run {outcome.run_id})", highlight=False)
    else:
        console.print(f"Reproduced: all {len(outcome.comparisons)} metrics and parameters match exactly "
                      f"(MLflow run {outcome.run_id})", highlight=False)


def register(models_app: typer.Typer) -> None:
    models_app.command("card", epilog="Example: statops models card occupation 2 --html "
                       "occupation-2-card.html")(card)
    models_app.command("export", epilog="Example: statops models export occupation 2 "
                       "occupation-2.tar.gz")(export)
    models_app.command("import", epilog="Example: statops models import occupation-2.tar.gz "
                       "--as occupation")(import_)
    models_app.command("reproduce", epilog="Example: statops models reproduce occupation 2")(reproduce)
