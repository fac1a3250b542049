"""statops demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from statops.cli.common import (
    HomeOption,
    console,
    evaluation_table,
    if_interrupted,
    progress_bars,
    quiet_libraries,
)


def demo(
    data: Annotated[Path | None, typer.Option(
        "--data", show_default=False,
        help="Only write the bundled SOC2010 files as CSV into this folder (for the README's tour), "
             "with their licence note; run nothing else.")] = None,
    home: HomeOption = None,
) -> None:
    """Run the whole flow offline on the bundled SOC2010 coding index: init, classification,
    datasets, train, evaluate, register, score."""
    from statops.demo import ATTRIBUTION, MODEL_NAME, run_demo, write_demo_data

    quiet_libraries()
    if data is not None:
        written = write_demo_data(data)
        for path in written:
            console.print(f"wrote {path}")
        console.print(f"[dim]{ATTRIBUTION}[/]")
        console.print(f"Next: statops init, then statops classifications add soc2010 {data / 'structure.csv'} "
                      "(the README's tour)")
        return
    if_interrupted("the workspace keeps the steps the demo finished; run statops demo again with a new --home")
    started = time.perf_counter()
    with progress_bars() as bars:
        report = run_demo(home, step=lambda m: console.print(f"[cyan]>[/] {m}"),
                          training_progress=bars.stages("Training"), scoring_progress=bars.rows("Scoring"))
    ws, t, e, s = report.workspace, report.training, report.evaluation, report.scoring
    console.print()
    console.print(evaluation_table(f"{e.model.describe()} on the test data ({e.dataset.ref})", e.evaluation))
    console.rule("What the demo did")
    console.print(f"workspace       {ws.home}")
    console.print(f"classification  soc2010 version {report.classification.version} "
                  f"({report.classification.codes} codes)")
    for info in report.datasets.values():
        console.print(f"dataset         {info.ref} ({info.rows:,} rows, sha256 {info.sha256[:12]}...)")
    console.print(f"model           {t.registered.name} version {t.registered.version} "
                  f"(MLflow run {t.registered.run_id}, trained in {t.result.fit_seconds:.1f} s)")
    console.print(f"scored          {s.rows:,} rows -> {s.output} ({s.auto_coded_share:.1%} auto-coded)")
    console.print(f"took            {time.perf_counter() - started:.0f} s")
    console.rule("Try next")
    home_flag = f" --home {ws.home}"
    for command in (f"statops models show {MODEL_NAME}{home_flag}",
                    f"statops evaluate {MODEL_NAME} --data soc2010-test --report report.html{home_flag}",
                    f"statops data show soc2010-train{home_flag}",
                    f"statops score {MODEL_NAME} YOUR_FILE.csv coded.csv --text-column text{home_flag}",
                    f"mlflow ui --backend-store-uri {ws.mlflow_uri}"):
        console.print(command, soft_wrap=True, highlight=False)  # whole, to be copied
    console.print(f"\n[dim]{ATTRIBUTION}[/]")


def register(app: typer.Typer) -> None:
    app.command("demo", epilog="Example: statops demo --home /tmp/statops-demo")(demo)
