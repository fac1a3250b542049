"""statops classifications add | list | show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from statops.cli.common import (
    EncodingOption,
    HomeOption,
    JsonOption,
    SeparatorOption,
    console,
    if_interrupted,
    open_workspace,
    print_json,
    table,
)

app = typer.Typer(help="Statistical classifications: codes, titles, hierarchy levels, versions.",
                  no_args_is_help=True)


@app.command("add", epilog="Example: statops classifications add soc2010 structure.csv --version 2010")
def add(
    name: Annotated[str, typer.Argument(help="Classification name, e.g. soc2010.")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or Excel with columns code, level, title, parent.")],
    version: Annotated[str | None, typer.Option(help="Version label (default: next number).")] = None,
    encoding: EncodingOption = "utf-8",
    separator: SeparatorOption = None,
    home: HomeOption = None,
) -> None:
    """Load a classification structure (code, level, title, parent)."""
    from statops.classifications import add_classification
    from statops.tables import TextFormat

    text_format = TextFormat(encoding, separator)
    if_interrupted(f"no version of classification {name} was added")
    ws = open_workspace(home, "data.manage")
    info = add_classification(ws, name, file, version, text_format)
    verb = "Added" if info.created else "Already present:"
    console.print(f"{verb} classification [bold]{info.name}[/] version {info.version}: "
                  f"{info.codes} codes on levels {', '.join(info.levels)}")


@app.command("list", epilog="Example: statops classifications list")
def list_(as_json: JsonOption = False, home: HomeOption = None) -> None:
    """List classifications and their versions."""
    from statops.classifications import list_classifications

    rows = list_classifications(open_workspace(home, "data.read"))
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No classifications yet. Add one with: statops classifications add NAME FILE")
        return
    console.print(table("Classifications", ["name", "version", "codes", "levels", "added"],
                        [[r["name"], r["version"], r["codes"], " > ".join(r["levels"]),  # type: ignore[arg-type]
                          f"{r['created_at']:%Y-%m-%d %H:%M} by {r['created_by']}"] for r in rows]))


@app.command("show", epilog="Example: statops classifications show soc2010 --version 2010")
def show(
    name: Annotated[str, typer.Argument(help="Classification name.")],
    version: Annotated[str | None, typer.Option(help="Version (default: newest).")] = None,
    as_json: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Show a classification's levels and its top-level codes (--json: every code)."""
    from statops.classifications import get_classification

    info = get_classification(open_workspace(home, "data.read"), name, version)
    h = info.hierarchy
    counts = [[level, sum(1 for c in h.codes if h.level_of[c] == level)] for level in h.levels]
    if as_json:
        print_json({"name": info.name, "version": info.version, "sha256": info.sha256,
                    "levels": {level: n for level, n in counts}, "codes": h.to_records()})
        return
    console.print(table(f"{info.name} version {info.version}", ["level", "codes"], counts))
    top = [c for c in h.codes if h.parents[c] is None][:30]
    console.print(table("Top-level codes", ["code", "title"], [[c, h.title(c)] for c in top]))
