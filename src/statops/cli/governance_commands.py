"""statops models gates | request-approval | approve | reject | promote | rollback | retire | history."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from statops.cli.common import HomeOption, JsonOption, acting, console, parse_moment, print_json, table
from statops.errors import InvalidInput

if TYPE_CHECKING:
    from statops.registry.governance import ApprovalInfo

ModelArg = Annotated[str, typer.Argument(help="Registered model name.")]
VersionArg = Annotated[str, typer.Argument(help="Version number.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit trail).")]


def _version(version: str) -> str:
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"invalid version '{version}': a version is a number from 1")
    return str(int(version))


def gates(
    model: ModelArg,
    assignments: Annotated[list[str] | None, typer.Option("--set", help="KIND.METRIC=VALUE, e.g. min.accuracy=0.6, "
                                                          "max.ece=0.05, max_drop.accuracy=0.01 (repeatable).",
                                                          show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", help="TOML file of gates (\"min.accuracy\" = 0.6 ...).",
                                              show_default=False)] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Drop a gate (repeatable).",
                                                     show_default=False)] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace all gates instead of adding to them.")] = False,
    json_output: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Show a model's quality gates, or set them (approver or admin). Checked when approval is requested."""
    from statops.registry.gates import GATE_KINDS, get_gates, parse_assignments, read_gate_file, set_gates

    ws, actor = acting(home)
    new = read_gate_file(file) if file is not None else {}
    new |= parse_assignments(assignments or [])
    if new or remove or replace:
        current = set_gates(ws, actor, model, new, replace=replace, remove=tuple(remove or ()))
    else:
        from statops.registry.versions import registered_model

        registered_model(ws, model)
        current = get_gates(ws, model)
    if json_output:
        print_json({"model": model, "gates": current})
        return
    rows = [[key, f"{value:g}", GATE_KINDS[key.split('.', 1)[0]]] for key, value in sorted(current.items())]
    console.print(table(f"Quality gates of {model}", ["gate", "value", "meaning"], rows))
    if not rows:
        console.print("[dim]No gates: set some with --set min.accuracy=0.6 (approver or admin)[/]")


def _print_approval(info: ApprovalInfo) -> None:
    rows = [[g["key"], f"{g['threshold']:g}", "—" if g["value"] is None else f"{g['value']:.4f}",
             "pass" if g["passed"] else "FAIL", g["detail"]] for g in info.gates]
    console.print(table(f"Gates of {info.model} version {info.version} on {info.evaluation['dataset']}",
                        ["gate", "threshold", "value", "result", "detail"], rows))
    if not rows:
        console.print("[dim]The model has no gates (statops models gates MODEL --set ...)[/]")


def request_approval(
    model: ModelArg, version: VersionArg, reason: ReasonOption,
    on: Annotated[str | None, typer.Option("--on", help="Evaluate on this dataset (NAME@N) now, and the "
                                           "production version too where a gate compares them (default: the "
                                           "newest evaluation of the version, else its dev evaluation).",
                                           show_default=False)] = None,
    json_output: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """Put a candidate version up for approval (modeller or admin); its gates are checked and stored."""
    from statops.registry.governance import request_approval as request

    ws, actor = acting(home)
    info = request(ws, actor, model, _version(version), reason, on)
    if json_output:
        print_json(info.as_dict())
        return
    _print_approval(info)
    verdict = "passed its gates" if info.gates_passed else "[red]failed its gates[/]: only an admin may approve it, " \
        "with --override"
    console.print(f"{model} version {version} is pending approval and {verdict}. Another approver decides: "
                  f"statops models approve {model} {version} --reason ...", highlight=False)


def _decide(model: str, version: str, approve: bool, reason: str, override: str | None, json_output: bool,
            home: Path | None) -> None:
    from statops.registry.governance import decide

    ws, actor = acting(home)
    info = decide(ws, actor, model, _version(version), approve, reason, override)
    if json_output:
        print_json(info.as_dict())
        return
    note = " (gates overridden by an admin)" if info.override else ""
    console.print(f"{model} version {version} is {info.decision}{note}.", highlight=False)
    if approve:
        console.print(f"Promote it to production with: statops models promote {model} {version}", highlight=False)


def approve(
    model: ModelArg, version: VersionArg, reason: ReasonOption,
    override: Annotated[str | None, typer.Option("--override", help="Admins only: approve although gates failed, "
                                                 "with this written justification.", show_default=False)] = None,
    json_output: JsonOption = False, home: HomeOption = None,
) -> None:
    """Approve a pending version (approver or admin who neither trained nor requested it)."""
    _decide(model, version, True, reason, override, json_output, home)


def reject(model: ModelArg, version: VersionArg, reason: ReasonOption, json_output: JsonOption = False,
           home: HomeOption = None) -> None:
    """Reject a pending version (approver or admin who neither trained nor requested it)."""
    _decide(model, version, False, reason, None, json_output, home)


def promote(
    model: ModelArg, version: VersionArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in the audit trail).",
                                               show_default=False)] = None,
    home: HomeOption = None,
) -> None:
    """Make an approved version production; the one it replaces keeps alias `previous` (approver or admin)."""
    from statops.registry.governance import promote as do_promote

    ws, actor = acting(home)
    do_promote(ws, actor, model, _version(version), reason)
    console.print(f"{model} version {version} is in production (alias production). A running server follows "
                  "within its alias refresh interval.", highlight=False)


def rollback(model: ModelArg, reason: ReasonOption, home: HomeOption = None) -> None:
    """Put the version with alias `previous` back into production (approver or admin)."""
    from statops.registry.governance import rollback as do_rollback

    ws, actor = acting(home)
    state = do_rollback(ws, actor, model, reason)
    console.print(f"{model} version {state.version} is back in production.", highlight=False)


def retire(model: ModelArg, version: VersionArg, reason: ReasonOption, home: HomeOption = None) -> None:
    """Retire a version: servers and batch scoring refuse it from then on, with the reason (approver or admin)."""
    from statops.registry.governance import retire as do_retire

    ws, actor = acting(home)
    was = do_retire(ws, actor, model, _version(version), reason)
    console.print(f"{model} version {was.version} is retired.", highlight=False)


def history(
    model: ModelArg,
    at: Annotated[str | None, typer.Option("--at", help="Which version was live at this moment (ISO, UTC).",
                                           show_default=False)] = None,
    json_output: JsonOption = False, home: HomeOption = None,
) -> None:
    """The periods each version was in production, or with --at the version live at a moment."""
    from statops.accounts import require
    from statops.registry.governance import live_at, production_history
    from statops.registry.versions import registered_model

    ws, actor = acting(home)
    require(ws, actor, "models.read")
    registered_model(ws, model)
    if at is not None:
        moment = parse_moment(at, "--at")
        span = live_at(ws, model, moment)
        if json_output:
            print_json({"model": model, "at": moment.isoformat(), "live": span.as_dict() if span else None})
        elif span is None:
            console.print(f"No version of {model} was in production at {moment:%Y-%m-%d %H:%M:%S} UTC.")
        else:
            console.print(f"{model} version {span.version} was in production at {moment:%Y-%m-%d %H:%M:%S} UTC "
                          f"(from {span.started:%Y-%m-%d %H:%M:%S}, promoted by {span.started_by}).", highlight=False)
        return
    spans = production_history(ws, model)
    if json_output:
        print_json({"model": model, "periods": [s.as_dict() for s in spans]})
        return
    console.print(table(f"Production history of {model} (UTC)", ["version", "from", "until", "by"],
                        [[s.version, f"{s.started:%Y-%m-%d %H:%M:%S}",
                          f"{s.ended:%Y-%m-%d %H:%M:%S}" if s.ended else "now", s.started_by] for s in spans]))


def register(models_app: typer.Typer) -> None:
    models_app.command("gates", epilog="Example: statops models gates occupation --set min.accuracy_unit_group=0.55 "
                       "--set max_drop.accuracy=0.01")(gates)
    models_app.command("request-approval", epilog="Example: statops models request-approval occupation 2 "
                       "--reason 'cycle 2024 retrain' --on soc-test")(request_approval)
    models_app.command("approve", epilog="Example: statops models approve occupation 2 --reason 'gates pass, "
                       "reviewed the worst codes'")(approve)
    models_app.command("reject", epilog="Example: statops models reject occupation 2 --reason 'worse on "
                       "nursing codes'")(reject)
    models_app.command("promote", epilog="Example: statops models promote occupation 2")(promote)
    models_app.command("rollback", epilog="Example: statops models rollback occupation --reason "
                       "'auto-coded share fell'")(rollback)
    models_app.command("retire", epilog="Example: statops models retire occupation 1 --reason 'classification "
                       "replaced'")(retire)
    models_app.command("history", epilog="Example: statops models history occupation --at "
                       "2025-06-30T12:00")(history)
