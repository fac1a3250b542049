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
    summary_table,
)


def demo(
    data: Annotated[Path | None, typer.Option(
        "--data", show_default=False,
        help="Only write the bundled SOC2010 files (with --addresses: the address files) as CSV into this "
             "folder (for the README's tour), with their licence note; run nothing else.")] = None,
    addresses: Annotated[bool, typer.Option(
        "--addresses", help="Run the address-matching flow instead, on a bundled synthetic address base: "
                            "reference base, labelled addresses, train a matcher, evaluate, match a file.")] = False,
    home: HomeOption = None,
) -> None:
    """Run the whole flow offline on the bundled SOC2010 coding index: init, classification,
    datasets, train, evaluate, register, score (with --addresses: the same for address matching)."""
    from statops.coding import Evaluation
    from statops.demo import ADDRESSES, ATTRIBUTION, CODING, run_demo, write_demo_data
    from statops.tasks import get_task

    quiet_libraries()
    if data is not None:
        written = write_demo_data(data, ADDRESSES.folder if addresses else CODING.folder)
        for path in written:
            console.print(f"wrote {path}")
        console.print(f"[dim]{ADDRESSES.attribution if addresses else ATTRIBUTION}[/]")
        first = (f"statops addresses add-reference addressbase {data / 'reference.csv'}" if addresses
                 else f"statops classifications add soc2010 {data / 'structure.csv'}")
        console.print(f"Next: statops init, then {first} (the README's tour)", soft_wrap=True)
        return
    if_interrupted("the workspace keeps the steps the demo finished; run statops demo again with a new --home")
    started = time.perf_counter()
    with progress_bars() as bars:
        report = run_demo(home, step=lambda m: console.print(f"[cyan]>[/] {m}"),
                          training_progress=bars.stages("Training"), scoring_progress=bars.rows("Scoring"),
                          flow=ADDRESSES if addresses else CODING)
    ws, t, e, s, flow = report.workspace, report.training, report.evaluation, report.scoring, report.flow
    console.print()
    heading = f"{e.model.describe()} on the test data ({e.dataset.ref})"
    if isinstance(e.evaluation, Evaluation):
        console.print(evaluation_table(heading, e.evaluation))
    else:
        console.print(summary_table(heading, e.evaluation.summary()))
    console.rule("What the demo did")
    console.print(f"workspace       {ws.home}")
    console.print(f"answers         {report.answers}")
    for info in report.datasets.values():
        console.print(f"dataset         {info.ref} ({info.rows:,} rows, sha256 {info.sha256[:12]}...)")
    console.print(f"model           {t.registered.name} version {t.registered.version} "
                  f"(MLflow run {t.registered.run_id}, trained in {t.result.fit_seconds:.1f} s)")
    decided = get_task(flow.task).decided_auto
    console.print(f"scored          {s.rows:,} rows -> {s.output} ({s.auto_coded_share:.1%} {decided})")
    console.print(f"took            {time.perf_counter() - started:.0f} s")
    console.rule("Try next")
    home_flag = f" --home {ws.home}"
    for command in (f"statops models show {flow.model}{home_flag}",
                    f"statops evaluate {flow.model} --data {flow.folder}-test --report report.html{home_flag}",
                    f"statops data show {flow.folder}-train{home_flag}",
                    f"statops score {flow.model} YOUR_FILE.csv out.csv --text-column text{home_flag}",
                    f"mlflow ui --backend-store-uri {ws.mlflow_uri}"):
        console.print(command, soft_wrap=True, highlight=False)  # whole, to be copied
    console.print(f"\n[dim]{flow.attribution}[/]")


def register(app: typer.Typer) -> None:
    app.command("demo", epilog="Example: statops demo --home /tmp/statops-demo")(demo)
