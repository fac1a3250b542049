"""Four eyes and production: request approval (gates checked), approve or reject, promote, roll back,
retire; and which version was live when.

Every action checks the actor's role with `require` (the one permission check the CLI and the HTTP
API share), takes the audit chain's lock, checks the version's state inside the same transaction
(so two approvers racing cannot both decide), writes the new state, the production periods and the
audit row together, and only then mirrors the result into MLflow (statops.registry.states).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from statops.accounts import Actor, require
from statops.errors import Conflict, Forbidden, InvalidInput, NotFound
from statops.registry.gates import (
    COMPARATIVE,
    EvaluationUsed,
    GateResult,
    check_gate,
    dev_evaluation,
    get_gates,
    latest_evaluation,
    parse_gate_key,
)
from statops.registry.states import VersionState, _record, adopt_versions, mirror_states, version_states
from statops.store.audit import lock_chain
from statops.store.schema import ApprovalRequest, ModelVersionState, ProductionPeriod, aware
from statops.workspace import Workspace

T = TypeVar("T")


@dataclass(frozen=True)
class ApprovalInfo:
    """An approval request with its gate results and decision."""

    id: int
    model: str
    version: str
    requested_by: str
    requested_at: datetime
    reason: str
    evaluation: dict[str, Any]
    gates: list[dict[str, Any]]
    gates_passed: bool
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    override: str | None

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class ProductionSpan:
    """A period a version was in production; `ended` is None while it still is."""

    version: str
    started: datetime
    started_by: str
    ended: datetime | None
    ended_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "started": self.started.isoformat(), "started_by": self.started_by,
                "ended": self.ended.isoformat() if self.ended else None, "ended_by": self.ended_by}


def _approval(row: ApprovalRequest) -> ApprovalInfo:
    return ApprovalInfo(row.id, row.model, row.version, row.requested_by, aware(row.requested_at),
                        row.reason, dict(row.evaluation), list(row.gate_results), row.gates_passed, row.decision,
                        row.decided_by, aware(row.decided_at), row.decision_reason, row.override)


def _reason(reason: str | None, action: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(f"{action} needs a reason (--reason)")
    return text


@contextmanager
def _change(ws: Workspace, model: str) -> Iterator[tuple[Session, dict[str, ModelVersionState]]]:
    """One governance transaction on `model`: serialised with every other change, then mirrored, and
    the model cards of the versions it changed rewritten."""
    from statops.registry.card import refresh_cards  # the card reads this module's records

    mirror_states(ws, model)  # repair first: MLflow agrees with the store before anything is decided
    with ws.store.session() as session:
        lock_chain(session)
        rows = adopt_versions(ws, session, model)
        before = {v: r.state for v, r in rows.items()}
        yield session, rows
        changed = [v for v, r in rows.items() if r.state != before[v]]
    mirror_states(ws, model)
    refresh_cards(ws, model, changed)


def _row(rows: Mapping[str, T], model: str, version: str) -> T:
    """The entry of `version` among a model's versions (rows or states), or NotFound naming them."""
    if version not in rows:
        known = ", ".join(sorted(rows, key=int)) or "none"
        raise NotFound(f"model {model} has no version {version}; versions: {known}")
    return rows[version]


def _set_state(ws: Workspace, session: Session, actor: Actor, row: ModelVersionState, expected: str,
               state: str, action: str, reason: str | None, **details: Any) -> None:
    """Move `row` from `expected` to `state` (refused if another transaction moved it first), audited."""
    moved = cast(CursorResult[Any], session.execute(
        update(ModelVersionState)
        .where(ModelVersionState.model == row.model, ModelVersionState.version == row.version,
               ModelVersionState.state == expected)
        .values(state=state, reason=reason, changed_at=datetime.now(UTC), changed_by=actor.name)
        .execution_options(synchronize_session="fetch")
    )).rowcount
    if moved != 1:
        raise Conflict(f"model {row.model} version {row.version} changed state meanwhile; nothing was done")
    ws.store.audit(session, actor.name, action, f"{row.model}/{row.version}", before=expected, after=state,
                   reason=reason, **details)


def _evaluate_now(ws: Workspace, model: str, version: str, dataset: str) -> EvaluationUsed:
    from statops.registry.training import evaluate_version  # loads the model: only when asked

    outcome = evaluate_version(ws, f"{model}/{version}", dataset)
    return EvaluationUsed("evaluation", outcome.run_id, outcome.dataset.ref, outcome.evaluation.metrics())


def _production_evaluation(ws: Workspace, model: str, version: str,
                           on: EvaluationUsed) -> EvaluationUsed | None:
    """The production version's evaluation on the same dataset version: recorded, or run now."""
    found = latest_evaluation(ws, model, version, on.dataset)
    if found is None and on.kind == "dev":
        dev = dev_evaluation(ws, model, version)
        found = dev if dev.dataset == on.dataset else None
    if found is None and on.catalogued:
        found = _evaluate_now(ws, model, version, on.dataset)
    return found


def gate_results(ws: Workspace, model: str, version: str, on: str | None = None,
                 production: str | None = None) -> tuple[EvaluationUsed, list[GateResult]]:
    """The model's gates checked on the version's evaluation (`on` a dataset: evaluated now; else its
    newest evaluation run, else its dev evaluation), against the `production` version where asked."""
    if on is not None:
        candidate = _evaluate_now(ws, model, version, on)
    else:
        candidate = latest_evaluation(ws, model, version) or dev_evaluation(ws, model, version)
    gates = get_gates(ws, model)
    comparison: tuple[str, EvaluationUsed | None] | None = None
    if production is not None and production != version and any(
            parse_gate_key(k)[0] in COMPARATIVE for k in gates):
        comparison = (production, _production_evaluation(ws, model, production, candidate))
    return candidate, [check_gate(key, threshold, candidate, comparison) for key, threshold in sorted(gates.items())]


def request_approval(ws: Workspace, actor: Actor, model: str, version: str, reason: str,
                     on: str | None = None) -> ApprovalInfo:
    """candidate -> pending, with the gate results computed now and stored with their evaluation."""
    require(ws, actor, "models.request_approval")
    reason = _reason(reason, "requesting approval")
    mirror_states(ws, model)
    states = version_states(ws, model)
    state = _row(states, model, version)
    if state.state != "candidate":
        raise Conflict(f"model {model} version {version} is {state.state}; only a candidate can be put up for "
                       "approval")
    production = next((v for v, s in states.items() if s.state == "production"), None)
    evaluation, results = gate_results(ws, model, version, on, production)
    passed = all(r.passed for r in results)
    with _change(ws, model) as (session, rows):
        row = _row(rows, model, version)
        request = ApprovalRequest(model=model, version=version, requested_by=actor.name, requested_at=datetime.now(UTC),
                                  reason=reason, evaluation=evaluation.as_dict(),
                                  gate_results=[r.as_dict() for r in results], gates_passed=passed)
        session.add(request)
        session.flush()
        _set_state(ws, session, actor, row, "candidate", "pending", "model.request_approval", reason,
                   request=request.id, gates_passed=passed, evaluation=evaluation.as_dict(),
                   gates=[r.as_dict() for r in results])
        return _approval(request)


def open_request(session: Session, model: str, version: str) -> ApprovalRequest | None:
    return session.scalar(select(ApprovalRequest).where(
        ApprovalRequest.model == model, ApprovalRequest.version == version, ApprovalRequest.decision.is_(None))
        .order_by(ApprovalRequest.id.desc()).limit(1))


def decide(ws: Workspace, actor: Actor, model: str, version: str, approve: bool, reason: str,
           override: str | None = None) -> ApprovalInfo:
    """pending -> approved or rejected, by someone who neither trained nor requested the version.
    Failing gates block approval unless an admin gives a written `override`."""
    require(ws, actor, "models.decide")
    reason = _reason(reason, "approving" if approve else "rejecting")
    with _change(ws, model) as (session, rows):
        row = _row(rows, model, version)
        if row.state != "pending":
            raise Conflict(f"model {model} version {version} is {row.state}, not pending: nothing to "
                           f"{'approve' if approve else 'reject'}")
        request = open_request(session, model, version)
        assert request is not None, "a pending version has an open approval request"
        if actor.name in (row.trained_by, request.requested_by):
            did = "trained" if actor.name == row.trained_by else "requested approval of"
            raise Forbidden(f"{actor.name} {did} model {model} version {version}, so may not decide on it: "
                            "four eyes means another approver")
        justification = (override or "").strip() or None
        if approve and not request.gates_passed:
            failed = ", ".join(g["key"] for g in request.gate_results if not g["passed"])
            if justification is None:
                raise Conflict(f"model {model} version {version} failed its gates ({failed}); an admin may approve "
                               "it with --override JUSTIFICATION")
            if actor.role != "admin":
                raise Forbidden(f"only an admin may override failed gates ({failed}); {actor.describe()} may not")
        elif justification is not None:
            raise InvalidInput("--override is only for approving a version that failed its gates")
        request.decision = "approved" if approve else "rejected"
        request.decided_by, request.decided_at = actor.name, datetime.now(UTC)
        request.decision_reason, request.override = reason, justification
        _set_state(ws, session, actor, row, "pending", request.decision,
                   "model.approve" if approve else "model.reject", reason, request=request.id,
                   **({"override": justification} if justification else {}))
        session.flush()
        return _approval(request)


def _start_period(session: Session, model: str, version: str, actor: Actor, now: datetime) -> None:
    session.add(ProductionPeriod(model=model, version=version, started_at=now, started_by=actor.name))


def _end_period(session: Session, model: str, actor: Actor, now: datetime) -> None:
    session.execute(update(ProductionPeriod)
                    .where(ProductionPeriod.model == model, ProductionPeriod.ended_at.is_(None))
                    .values(ended_at=now, ended_by=actor.name))


def _clear_previous(session: Session, model: str) -> None:
    session.execute(update(ModelVersionState).where(ModelVersionState.model == model)
                    .values(is_previous=False).execution_options(synchronize_session="fetch"))


def promote(ws: Workspace, actor: Actor, model: str, version: str, reason: str | None = None) -> VersionState:
    """approved -> production; the version it replaces goes back to approved with alias `previous`."""
    require(ws, actor, "models.promote")
    with _change(ws, model) as (session, rows):
        row = _row(rows, model, version)
        if row.state != "approved":
            raise Conflict(f"model {model} version {version} is {row.state}; only an approved version can be "
                           "promoted")
        _replace_production(ws, session, actor, rows, row, "approved", "model.promote", reason)
        return _record(row)


def _replace_production(ws: Workspace, session: Session, actor: Actor, rows: dict[str, ModelVersionState],
                        row: ModelVersionState, expected: str, action: str, reason: str | None) -> None:
    now = datetime.now(UTC)
    live = next((r for r in rows.values() if r.state == "production"), None)
    _clear_previous(session, row.model)
    if live is not None:
        _set_state(ws, session, actor, live, "production", "approved", "model.demote", reason, replaced_by=row.version)
        live.is_previous = action == "model.promote"  # a rollback leaves no `previous` to go back to
    _end_period(session, row.model, actor, now)
    _set_state(ws, session, actor, row, expected, "production", action, reason,
               replaces=live.version if live is not None else None)
    row.is_previous = False
    _start_period(session, row.model, row.version, actor, now)


def rollback(ws: Workspace, actor: Actor, model: str, reason: str) -> VersionState:
    """The version with alias `previous` back to production; the current one goes back to approved."""
    require(ws, actor, "models.promote")
    reason = _reason(reason, "a rollback")
    with _change(ws, model) as (session, rows):
        previous = next((r for r in rows.values() if r.is_previous), None)
        if previous is None:
            raise Conflict(f"model {model} has no previous production version to roll back to")
        if previous.state != "approved":
            raise Conflict(f"the previous version {previous.version} of model {model} is {previous.state}; "
                           "it cannot go back to production")
        _replace_production(ws, session, actor, rows, previous, "approved", "model.rollback", reason)
        return _record(previous)


def retire(ws: Workspace, actor: Actor, model: str, version: str, reason: str) -> VersionState:
    """Any version -> retired; the server refuses it from then on (409 with the reason). A retired
    production version keeps the `production` alias, so requests fail loudly until a rollback or
    promotion, rather than silently reaching another version."""
    require(ws, actor, "models.retire")
    reason = _reason(reason, "retiring")
    with _change(ws, model) as (session, rows):
        row = _row(rows, model, version)
        if row.state == "retired":
            raise Conflict(f"model {model} version {version} is retired already")
        if row.state == "production":
            _end_period(session, model, actor, datetime.now(UTC))
        was = row.state
        _set_state(ws, session, actor, row, was, "retired", "model.retire", reason)
        row.is_previous = False
        return _record(row)


def approvals(ws: Workspace, model: str, version: str | None = None) -> list[ApprovalInfo]:
    """Approval requests of `model` (or one version), oldest first."""
    with ws.store.session() as session:
        query = select(ApprovalRequest).where(ApprovalRequest.model == model)
        if version is not None:
            query = query.where(ApprovalRequest.version == version)
        return [_approval(r) for r in session.scalars(query.order_by(ApprovalRequest.id))]


def production_history(ws: Workspace, model: str) -> list[ProductionSpan]:
    """The periods each version of `model` was in production, oldest first."""
    with ws.store.session() as session:
        rows = session.scalars(select(ProductionPeriod).where(ProductionPeriod.model == model)
                               .order_by(ProductionPeriod.started_at, ProductionPeriod.id))
        return [ProductionSpan(r.version, aware(r.started_at), r.started_by, aware(r.ended_at),
                               r.ended_by) for r in rows]


def live_at(ws: Workspace, model: str, moment: datetime) -> ProductionSpan | None:
    """The production period of `model` that covers `moment` (UTC), if any."""
    moment = aware(moment)
    for span in production_history(ws, model):
        if span.started <= moment and (span.ended is None or moment < span.ended):
            return span
    return None
