"""statops addresses add-reference | parse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from statops.cli.common import EncodingOption, HomeOption, SeparatorOption, console, if_interrupted, open_workspace

app = typer.Typer(help="Address matching (task addresses): reference bases, and what a matcher reads in an address.",
                  no_args_is_help=True)


@app.command(
    "add-reference",
    epilog="Example: statops addresses add-reference addressbase reference.csv --id-column uprn "
    "--address-columns sub_building=subname,building_name=name,building_number=number,street=streetname,"
    "town=townname,postcode",
)
def add_reference(
    name: Annotated[str, typer.Argument(help="Dataset name of the reference base; new content becomes NAME@2, ...")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8), Parquet or Excel file, one row per address.")],
    id_column: Annotated[str, typer.Option(help="Column with each address's unique id (e.g. a UPRN).")] = "id",
    address_columns: Annotated[str | None, typer.Option(
        help="FIELD=COLUMN,... for the fields organisation, sub_building, building_name, building_number, street, "
             "locality, town, postcode (a bare COLUMN when it is named like its field; default: the columns "
             "named like fields).")] = None,
    cycle: Annotated[str | None, typer.Option(help="Production cycle, e.g. 2024Q1.")] = None,
    gsbpm: Annotated[str | None, typer.Option(help="GSBPM sub-process, e.g. 5.1 (Integrate data).")] = None,
    encoding: EncodingOption = "utf-8",
    separator: SeparatorOption = None,
    home: HomeOption = None,
) -> None:
    """Check a reference address base (ids unique and present, every row an address) and store it as a
    versioned, content-hashed dataset that address matchers are trained on."""
    from statops.addresses.reference_table import ADDRESS_COLUMN, reference_table
    from statops.data.catalogue import add_reference_base
    from statops.tables import TextFormat, read_table

    if_interrupted(f"no version of reference base {name} was added")
    ws = open_workspace(home, "data.manage")
    frame = reference_table(read_table(file, TextFormat(encoding, separator)), id_column, address_columns)
    info = add_reference_base(ws, name, frame, file, ADDRESS_COLUMN, "id", cycle, gsbpm)
    if info.created:
        console.print(f"Added reference base [bold]{info.ref}[/]: {info.rows:,} addresses, "
                      f"sha256 {info.sha256[:16]}...")
    else:
        console.print(f"Identical content is already reference base [bold]{info.ref}[/] "
                      f"(sha256 {info.sha256[:16]}...); nothing added")
    console.print(f"Add records labelled with its ids with: statops data add NAME FILE --label-column ID "
                  f"--reference {info.ref}", highlight=False)
