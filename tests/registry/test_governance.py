"""Lifecycle, quality gates and four eyes on real SQLite and PostgreSQL stores and a real MLflow
registry: who may do what, what each step changes, and what it refuses (leaving nothing changed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from statops import Workspace
from statops.accounts import Actor
from statops.errors import Conflict, Forbidden, InvalidInput, NotFound
from statops.registry.gates import get_gates, read_gate_file, set_gates
from statops.registry.governance import (
    approvals,
    decide,
    live_at,
    production_history,
    promote,
    request_approval,
    retire,
    rollback,
)
from statops.registry.lifecycle import check_in_service
from statops.registry.states import mirror_states, version_states
from statops.registry.versions import resolve_model
from statops.store import audit
from statops.store.schema import AuditEvent, ModelVersionState
from tests.cli_runner import run_cli
from tests.conftest import BACKENDS, SocFiles, make_workspace
from tests.registry.people import ADMIN, ALICE, BOB, CAROL, VIC, add_people, add_soc_catalogue
from tests.serving.live import copy_version


@dataclass
class Governed:
    ws: Workspace
    tokens: dict[str, str]
    counter: list[int]

    def fresh(self, *sources: str) -> str:
        """A new model whose versions are copies of occupation's versions `sources`, all candidates."""
        self.counter[0] += 1
        name = f"m{self.counter[0]}"
        for source in sources:
            copy_version(self.ws, ("occupation", source), name)
        return name


@pytest.fixture(scope="module", params=BACKENDS)
def governed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, soc: SocFiles) -> Iterator[Governed]:
    """Users of every role; occupation version 1 (5,000 records) and version 2 (a weak 400-record
    model), both trained by alice."""
    from statops.registry import train_and_register

    folder = tmp_path_factory.mktemp("governed")
    for ws in make_workspace(folder / "ws", request.param):
        tokens = add_people(ws, ALICE, BOB, CAROL, VIC, Actor("cody", "coder", "token"), ADMIN)
        small = folder / "small.csv"
        pd.read_csv(soc.train, dtype=str, keep_default_na=False).head(400).to_csv(small, index=False)
        add_soc_catalogue(ws, folder, soc, 5000, {"soc-test": soc.test, "soc-small": small})
        ws.acting_user = "alice"
        train_and_register(ws, "occupation", "soc-train", "soc-dev")
        train_and_register(ws, "occupation", "soc-small", "soc-dev")
        ws.acting_user = None
        yield Governed(ws, tokens, [0])


def _states(ws: Workspace, model: str) -> dict[str, str]:
    return {v: s.state for v, s in version_states(ws, model).items()}


def _audit_rows(ws: Workspace) -> int:
    with ws.store.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def read_audit(ws: Workspace, model: str) -> list[audit.AuditRecord]:
    with ws.store.session() as session:
        return audit.read(session, model=model)


def chain_intact(ws: Workspace) -> bool:
    with ws.store.session() as session:
        return audit.verify(session).ok


def _aliases(ws: Workspace, model: str) -> dict[str, str]:
    return {a: str(v) for a, v in (ws.mlflow.get_registered_model(model).aliases or {}).items()}


def test_registration_records_a_candidate_trained_by_its_user(governed: Governed) -> None:
    ws = governed.ws
    states = version_states(ws, "occupation")
    assert {v: (s.state, s.trained_by) for v, s in states.items()} == {"1": ("candidate", "alice"),
                                                                       "2": ("candidate", "alice")}
    tags = ws.mlflow.get_model_version("occupation", "1").tags
    assert tags["statops.state"] == "candidate" and tags["statops.trained_by"] == "alice"


def test_four_eyes_promotion_rollback_and_retirement(governed: Governed) -> None:
    ws = governed.ws
    model = governed.fresh("1", "1", "1")
    with pytest.raises(Forbidden, match="may not models request approval"):
        request_approval(ws, VIC, model, "1", "try")
    with pytest.raises(InvalidInput, match="reason"):
        request_approval(ws, ALICE, model, "1", "  ")
    info = request_approval(ws, ALICE, model, "1", "first production model")
    assert info.gates_passed and info.gates == [] and info.evaluation["kind"] == "dev"
    assert _states(ws, model)["1"] == "pending"
    with pytest.raises(Conflict, match="only a candidate"):
        request_approval(ws, ALICE, model, "1", "again")

    # The trainer and the requester may not decide, whatever their role.
    request_approval(ws, ADMIN, model, "2", "admin asks")
    with pytest.raises(Forbidden, match="requested approval of .* four eyes"):
        decide(ws, ADMIN, model, "2", True, "looks fine to me")
    with pytest.raises(Forbidden, match="may not models decide"):
        decide(ws, ALICE, model, "1", True, "mine")
    assert decide(ws, BOB, model, "1", True, "gates pass").decision == "approved"
    with pytest.raises(Conflict, match="is approved, not pending"):
        decide(ws, CAROL, model, "1", False, "too late")
    assert decide(ws, CAROL, model, "2", False, "not needed").decision == "rejected"

    with pytest.raises(Conflict, match="is rejected; only an approved version"):
        promote(ws, BOB, model, "2")
    with pytest.raises(Conflict, match="is candidate"):
        promote(ws, BOB, model, "3")
    with pytest.raises(Forbidden):
        promote(ws, ALICE, model, "1")
    promote(ws, BOB, model, "1", "go live")
    assert _aliases(ws, model) == {"production": "1"}
    assert resolve_model(ws, model).version == "1"

    request_approval(ws, ALICE, model, "3", "retrained")
    decide(ws, CAROL, model, "3", True, "better")
    promote(ws, CAROL, model, "3")
    assert _states(ws, model) == {"1": "approved", "2": "rejected", "3": "production"}
    assert _aliases(ws, model) == {"production": "3", "previous": "1"}

    back = rollback(ws, BOB, model, "auto-coded share fell")
    assert back.version == "1" and _aliases(ws, model) == {"production": "1"}
    assert _states(ws, model)["3"] == "approved"
    with pytest.raises(Conflict, match="no previous production version"):
        rollback(ws, BOB, model, "again")

    retire(ws, BOB, model, "1", "classification replaced")
    assert _states(ws, model)["1"] == "retired"
    assert _aliases(ws, model) == {"production": "1"}  # kept, so a server refuses it loudly
    ref = resolve_model(ws, model)
    with pytest.raises(Conflict, match="retired: classification replaced"):
        check_in_service(ref.name, ref.version, ref.tags)
    with pytest.raises(Conflict, match="retired already"):
        retire(ws, BOB, model, "1", "twice")
    with pytest.raises(Conflict, match="is retired; only an approved"):
        promote(ws, BOB, model, "1")

    spans = production_history(ws, model)
    assert [s.version for s in spans] == ["1", "3", "1"] and all(s.ended is not None for s in spans)
    middle = spans[1].started + (spans[1].ended - spans[1].started) / 2  # type: ignore[operator]
    assert live_at(ws, model, middle).version == "3"  # type: ignore[union-attr]
    assert live_at(ws, model, spans[0].started - timedelta(seconds=1)) is None
    assert live_at(ws, model, datetime.now(UTC)) is None  # retired: nothing live

    actions = [r.action for r in read_audit(ws, model)]
    assert actions == ["model.request_approval", "model.request_approval", "model.approve", "model.reject",
                       "model.promote", "model.request_approval", "model.approve", "model.demote", "model.promote",
                       "model.demote", "model.rollback", "model.retire"]
    assert chain_intact(ws)


def test_gates_block_approval_unless_an_admin_overrides(governed: Governed) -> None:
    ws = governed.ws
    model = governed.fresh("1", "1")
    with pytest.raises(Forbidden):
        set_gates(ws, ALICE, model, {"min.accuracy": 0.99})
    before = _audit_rows(ws)
    for bad, message in (({"min.accuracy": 0.5, "best.accuracy": 1}, "unknown gate 'best.accuracy'"),
                         ({"min.accurasy": 0.5}, "reports no metric 'accurasy'; its metrics: .*accuracy")):
        with pytest.raises(InvalidInput, match=message):
            set_gates(ws, BOB, model, bad)
    assert get_gates(ws, model) == {} and _audit_rows(ws) == before
    assert set_gates(ws, BOB, model, {"min.accuracy": 0.99, "max.ece": 0.5}) == {"min.accuracy": 0.99, "max.ece": 0.5}

    info = request_approval(ws, ALICE, model, "1", "try it")
    assert not info.gates_passed
    results = {g["key"]: g for g in info.gates}
    assert not results["min.accuracy"]["passed"] and results["max.ece"]["passed"]
    assert 0 < results["min.accuracy"]["value"] < 0.99
    assert approvals(ws, model, "1")[0].gates == info.gates
    with pytest.raises(Conflict, match=r"failed its gates \(min.accuracy\); an admin may approve it with --override"):
        decide(ws, BOB, model, "1", True, "fine")
    with pytest.raises(Forbidden, match="only an admin may override"):
        decide(ws, BOB, model, "1", True, "fine", override="we need it")
    assert _states(ws, model)["1"] == "pending"
    approved = decide(ws, ADMIN, model, "1", True, "accepted for the pilot", override="pilot only; reviewed by hand")
    assert approved.decision == "approved" and approved.override == "pilot only; reviewed by hand"
    row = read_audit(ws, model)[-1]
    assert row.action == "model.approve" and row.details["override"] == "pilot only; reviewed by hand"

    set_gates(ws, BOB, model, {}, remove=("min.accuracy",))
    assert get_gates(ws, model) == {"max.ece": 0.5}
    with pytest.raises(InvalidInput, match="has no gate min.accuracy"):
        set_gates(ws, BOB, model, {}, remove=("min.accuracy",))


def test_a_comparative_gate_evaluates_both_versions_on_the_same_dataset(governed: Governed) -> None:
    ws = governed.ws
    model = governed.fresh("1", "2")  # version 2 is the weak 400-record model
    request_approval(ws, ALICE, model, "1", "first")
    decide(ws, BOB, model, "1", True, "ok")
    promote(ws, BOB, model, "1")
    set_gates(ws, BOB, model, {"max_drop.accuracy": 0.01, "max_rise.ece": 1.0})
    info = request_approval(ws, ALICE, model, "2", "smaller model", on="soc-test")
    assert info.evaluation["dataset"] == "soc-test@1" and info.evaluation["kind"] == "evaluation"
    drop = next(g for g in info.gates if g["key"] == "max_drop.accuracy")
    assert not drop["passed"] and drop["production_value"] > drop["value"] + 0.01
    assert "production version 1" in drop["detail"] and "soc-test@1" in drop["detail"]
    # both evaluations are MLflow runs on the same dataset version
    runs = ws.mlflow.search_runs([ws.experiment_id(model)], filter_string="tags.`statops.kind` = 'evaluation'")
    assert sorted((r.data.tags["statops.model_version"], r.data.params["dataset"]) for r in runs) == [
        ("1", "soc-test@1"), ("2", "soc-test@1")]


def test_two_approvers_racing_decide_once(governed: Governed) -> None:
    ws = governed.ws
    model = governed.fresh("1")
    request_approval(ws, ALICE, model, "1", "race")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def attempt(actor: Actor, approve: bool) -> None:
        barrier.wait()
        try:
            outcomes.append(decide(ws, actor, model, "1", approve, "racing").decision or "")
        except Conflict as exc:
            outcomes.append(f"conflict: {exc}")

    threads = [threading.Thread(target=attempt, args=(BOB, True)), threading.Thread(target=attempt, args=(CAROL, False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decided = [o for o in outcomes if not o.startswith("conflict")]
    assert len(decided) == 1 and len(outcomes) == 2, outcomes
    assert _states(ws, model)["1"] == decided[0]
    decisions = [r.action for r in read_audit(ws, model) if r.action in ("model.approve", "model.reject")]
    assert len(decisions) == 1 and chain_intact(ws)


def test_mlflow_is_repaired_from_the_store_after_a_crash_between_them(governed: Governed) -> None:
    ws = governed.ws
    model = governed.fresh("1", "1")
    for version in ("1", "2"):
        request_approval(ws, ALICE, model, version, "go")
        decide(ws, BOB, model, version, True, "ok")
    promote(ws, BOB, model, "1")
    # As if the process died after the store committed a promotion of version 2 but before MLflow moved:
    ws.mlflow.set_registered_model_alias(model, "production", "1")
    ws.mlflow.set_model_version_tag(model, "2", "statops.state", "approved")
    with ws.store.session() as session:
        row = session.get(ModelVersionState, (model, "1"))
        assert row is not None
        row.state = "approved"
        session.get(ModelVersionState, (model, "2")).state = "production"  # type: ignore[union-attr]
    mirror_states(ws, model)
    assert _aliases(ws, model)["production"] == "2"
    assert ws.mlflow.get_model_version(model, "2").tags["statops.state"] == "production"


def test_unknown_model_or_version(governed: Governed) -> None:
    with pytest.raises(NotFound, match="unknown model nope"):
        request_approval(governed.ws, ALICE, "nope", "1", "x")
    with pytest.raises(NotFound, match="has no version 9; versions: 1, 2"):
        promote(governed.ws, BOB, "occupation", "9")


def test_gate_files(tmp_path: Path) -> None:
    good = tmp_path / "gates.toml"
    good.write_text('[gates]\n"min.accuracy_unit_group" = 0.55\nmax.ece = 0.05\n')
    assert read_gate_file(good) == {"min.accuracy_unit_group": 0.55, "max.ece": 0.05}
    bad = tmp_path / "bad.toml"
    bad.write_text('"minimum.accuracy" = 0.5\n')
    with pytest.raises(InvalidInput, match="unknown gate 'minimum.accuracy'"):
        read_gate_file(bad)
    bad.write_text('"min.accuracy" = "high"\n')
    with pytest.raises(InvalidInput, match="'high' is not a number"):
        read_gate_file(bad)


def test_the_cli_acts_as_the_token_user_and_says_what_went_wrong_in_one_line(
        governed: Governed, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    ws = governed.ws
    model = governed.fresh("1")
    home = str(ws.home)
    monkeypatch.setenv("STATOPS_HOME", home)

    def as_user(user: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("STATOPS_TOKEN", governed.tokens[user])
        return run_cli(capsys, monkeypatch, *args)

    code, _, err = as_user("vic", "models", "request-approval", model, "1", "--reason", "x")
    assert code == 2 and "vic (viewer) may not models request approval" in err and len(err.strip().splitlines()) == 1
    code, out, err = as_user("alice", "models", "request-approval", model, "1", "--reason", "cycle 2016")
    assert code == 0, err
    assert "pending approval" in out
    code, _, err = as_user("alice", "models", "approve", model, "1", "--reason", "mine")
    assert code == 2 and "may not models decide" in err
    code, out, err = as_user("bob", "models", "approve", model, "1", "--reason", "ok")
    assert code == 0 and "is approved" in out, err
    code, _, err = as_user("carol", "models", "approve", model, "1", "--reason", "ok")
    assert code == 2 and "is approved, not pending" in err
    code, out, err = as_user("bob", "models", "promote", model, "1")
    assert code == 0 and "in production" in out, err
    code, out, _ = as_user("vic", "models", "history", model, "--json")
    assert code == 0 and '"version": "1"' in out
    code, out, _ = as_user("vic", "models", "show", model)
    assert code == 0 and "production" in out
    gates = Path(home) / "gates.toml"
    gates.write_text('"min.acuracy" = 0.5\n')
    rows = _audit_rows(ws)
    code, _, err = as_user("bob", "models", "gates", model, "--file", str(gates))
    assert code == 2 and "reports no metric 'acuracy'" in err and _audit_rows(ws) == rows
    code, _, err = as_user("cody", "train", "x", "--data", "soc-small")
    assert code == 2 and "cody (coder) may not models train" in err


def test_a_server_start_mirrors_every_model_and_skips_one_deleted_from_mlflow(governed: Governed) -> None:
    from statops.registry.states import mirror_all_states

    ws = governed.ws
    kept, gone = governed.fresh("1"), governed.fresh("1")
    version_states(ws, kept), version_states(ws, gone)  # adopted: state rows exist for both
    ws.mlflow.delete_registered_model(gone)
    ws.mlflow.delete_model_version_tag(kept, "1", "statops.state")
    done = mirror_all_states(ws)
    assert kept in done and gone not in done
    assert ws.mlflow.get_model_version(kept, "1").tags["statops.state"] == "candidate"
