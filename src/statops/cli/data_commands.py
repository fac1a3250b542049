"""statops data add | list | show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from statops.cli.common import (
    EncodingOption,
    HomeOption,
    JsonOption,
    SeparatorOption,
    WideOption,
    console,
    if_interrupted,
    open_workspace,
    print_json,
    print_wide,
    table,
)
from statops.data.catalogue import DatasetInfo
from statops.data.gsbpm import SUBPROCESSES

app = typer.Typer(help="The dataset catalogue: versioned, hashed snapshots of coded records.",
                  no_args_is_help=True)


@app.command(
    "add",
    epilog="Example: statops data add soc-train train.csv --text-column text --label-column soc2010 "
    "--classification soc2010 --cycle 2024Q1 --gsbpm 5.2",
)
def add(
    name: Annotated[str, typer.Argument(help="Dataset name; a new content becomes NAME@2, NAME@3, ...")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8), Parquet or Excel file.")],
    text_column: Annotated[str, typer.Option(help="Column with the free text to code.")] = "text",
    label_column: Annotated[str | None, typer.Option(help="Column with the codes (labels).")] = None,
    classification: Annotated[
        str | None, typer.Option(help="Check codes against this classification.")
    ] = None,
    cycle: Annotated[str | None, typer.Option(help="Production cycle, e.g. 2024Q1.")] = None,
    gsbpm: Annotated[str | None, typer.Option(help="GSBPM sub-process, e.g. 5.2 (Classify and code).")] = None,
    allow_unknown_codes: Annotated[
        bool, typer.Option("--allow-unknown-codes", help="Accept codes not in the classification.")
    ] = False,
    reference: Annotated[str | None, typer.Option(
        help="The labels are ids of this reference base (NAME or NAME@N, e.g. an address base added with "
             "`statops addresses add-reference`); an empty label says the record is not in it.")] = None,
    encoding: EncodingOption = "utf-8",
    separator: SeparatorOption = None,
    home: HomeOption = None,
) -> None:
    """Validate a file and store it as an immutable, content-hashed snapshot."""
    from statops.data import add_dataset
    from statops.tables import TextFormat

    text_format = TextFormat(encoding, separator)
    if_interrupted(f"no version of dataset {name} was added")
    ws = open_workspace(home, "data.manage")
    info = add_dataset(ws, name, file, text_column, label_column, classification, cycle, gsbpm,
                       allow_unknown_codes, text_format, reference)
    for note in info.notes:
        console.print(f"[yellow]note:[/] {note}")
    if info.created:
        console.print(f"Added dataset [bold]{info.ref}[/]: {info.rows:,} rows, sha256 {info.sha256[:16]}...")
    else:
        console.print(f"Identical content is already dataset [bold]{info.ref}[/] "
                      f"(sha256 {info.sha256[:16]}...); nothing added")


@app.command("list", epilog="Example: statops data list")
def list_(wide: WideOption = False, as_json: JsonOption = False, home: HomeOption = None) -> None:
    """List every dataset version."""
    from statops.data import list_datasets

    rows = list_datasets(open_workspace(home, "data.read"))
    if as_json:
        print_json([d.as_dict() for d in rows])
        return
    if not rows:
        console.print("No datasets yet. Add one with: statops data add NAME FILE --text-column ... --label-column ...")
        return
    if wide:
        print_wide(table("Datasets", ["dataset", "rows", "classification", "cycle", "GSBPM", "sha256", "added"], [
            [d.ref, f"{d.rows:,}", _answers(d), d.cycle, d.gsbpm, d.sha256,
             f"{d.created_at:%Y-%m-%d %H:%M} by {d.created_by}"] for d in rows]))
        return
    console.print(table("Datasets", ["dataset", "rows", "classification", "cycle", "added"], [
        [d.ref, f"{d.rows:,}", _answers(d), d.cycle, f"{d.created_at:%Y-%m-%d}"] for d in rows]))


def _answers(info: DatasetInfo) -> str | None:
    """What the dataset's labels are (its classification, its reference base), or that it is a reference base."""
    if info.kind == "reference":
        return "(reference base)"
    return info.classification or (f"ids of {info.reference}" if info.reference else None)


@app.command("show", epilog="Example: statops data show soc-train@1")
def show(
    ref: Annotated[str, typer.Argument(help="NAME (newest version) or NAME@N.")],
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Show a dataset version: provenance, columns and the distribution of its codes."""
    from statops.data import get_dataset, label_summary, load_dataset

    ws = open_workspace(home, "data.read")
    info = get_dataset(ws, ref)
    if as_json:
        summary = label_summary(ws, info, load_dataset(ws, info)) if info.label_column else None
        print_json({**info.as_dict(), "labels": summary})
        return
    gsbpm = f"{info.gsbpm} {SUBPROCESSES[info.gsbpm]}" if info.gsbpm else None
    console.print(table(f"Dataset {info.ref}", ["field", "value"], [
        ["rows", f"{info.rows:,}"], ["sha256", info.sha256], ["text column", info.text_column],
        ["kind", "reference base" if info.kind == "reference" else "records"],
        ["label column", info.label_column], ["classification",
         f"{info.classification} {info.classification_version}" if info.classification else None],
        ["reference base", info.reference],
        ["cycle", info.cycle], ["GSBPM", gsbpm],
        ["source file", f"{info.source_file} (sha256 {info.source_sha256[:16]}...)"],
        ["added", f"{info.created_at:%Y-%m-%d %H:%M:%S %Z} by {info.created_by}"],
        ["columns", ", ".join(c["name"] for c in info.columns)],
    ]))
    if not info.label_column or info.kind == "reference":
        return
    summary = label_summary(ws, info, load_dataset(ws, info))
    per_code = summary["records_per_code"]
    console.print(f"{summary['distinct_codes']} distinct codes; records per code: min {per_code['min']}, "
                  f"median {per_code['median']:g}, max {per_code['max']}; "
                  f"{summary['codes_with_one_record']} codes with a single record")
    console.print("Codes per level: " + ", ".join(f"{k} {v}" for k, v in summary["codes_per_level"].items()))
    console.print(table("Most frequent codes", ["code", "title", "records", "share"], [
        [m["code"], m["title"], m["records"], f"{m['share']:.1%}"] for m in summary["most_frequent"]]))
