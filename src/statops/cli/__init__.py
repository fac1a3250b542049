"""The statops command line (typer + rich). Thin: parse, call the library, render."""
