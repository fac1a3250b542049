"""Lifecycle states of registered versions: kept in our store, mirrored into MLflow.

A version is `candidate` when registered, `pending` once approval is requested, then `approved` or
`rejected`; an approved version is promoted to `production` (MLflow alias `production`, the one the
server follows), and the one it replaces keeps alias `previous`. Any version can be `retired`.

The store is the truth; MLflow's tags (`statops.state`, `statops.state_reason`) and the
`production`/`previous` aliases mirror it, so the MLflow UI and the serving cache (which reads MLflow)
see it. A change commits its state and its audit row in one transaction first, then the mirror is
updated; `mirror_states` makes MLflow agree with the store again after a crash in between, and every
governance action and `statops serve` start runs it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from statops.errors import NotFound
from statops.registry.lifecycle import STATE_REASON_TAG, STATE_TAG
from statops.registry.versions import PRODUCTION_ALIAS, registered_model
from statops.store.schema import ModelVersionState, ProductionPeriod, aware
from statops.workspace import Workspace

log = logging.getLogger("statops.registry.states")

STATES = ("candidate", "pending", "approved", "production", "retired", "rejected")
PREVIOUS_ALIAS = "previous"
TRAINED_BY_TAG = "statops.trained_by"
UNKNOWN_TRAINER = "unknown (registered before governance)"


@dataclass(frozen=True)
class VersionState:
    """Where one version stands, who trained it, and who last changed its state, when and why."""

    model: str
    version: str
    task: str
    state: str
    trained_by: str
    reason: str | None
    changed_at: datetime
    changed_by: str
    previous: bool  # holds alias `previous`

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "task": self.task, "state": self.state,
                "trained_by": self.trained_by, "reason": self.reason, "changed_at": self.changed_at.isoformat(),
                "changed_by": self.changed_by, "previous": self.previous}


def _record(row: ModelVersionState) -> VersionState:
    return VersionState(row.model, row.version, row.task, row.state, row.trained_by, row.reason,
                        aware(row.changed_at), row.changed_by, row.is_previous)


def record_registration(session: Session, model: str, version: str, task: str, trained_by: str) -> None:
    """A newly registered version starts as a candidate (inside the registration's transaction)."""
    session.add(ModelVersionState(model=model, version=version, task=task, state="candidate",
                                  trained_by=trained_by, reason=None, changed_at=datetime.now(UTC),
                                  changed_by=trained_by, is_previous=False))


def adopt_versions(ws: Workspace, session: Session, model: str) -> dict[str, ModelVersionState]:
    """The state rows of every version of `model`, adding rows for versions registered before
    governance existed (production where MLflow's alias says so, else candidate)."""
    rows = {r.version: r for r in session.scalars(select(ModelVersionState).where(ModelVersionState.model == model))}
    registered = registered_model(ws, model)
    aliases = {str(v): a for a, v in (registered.aliases or {}).items()}
    for mv in ws.mlflow.search_model_versions(f"name='{model}'"):
        version = str(mv.version)
        if version in rows:
            continue
        tags = dict(mv.tags)
        state = "production" if aliases.get(version) == PRODUCTION_ALIAS else "candidate"
        row = ModelVersionState(model=model, version=version, task=tags.get("task") or "coding", state=state,
                                trained_by=tags.get(TRAINED_BY_TAG) or UNKNOWN_TRAINER, reason=None,
                                changed_at=datetime.now(UTC), changed_by="statops", is_previous=False)
        session.add(row)
        rows[version] = row
    session.flush()
    return rows


def version_states(ws: Workspace, model: str) -> dict[str, VersionState]:
    """Version -> its state, for every version of `model`."""
    with ws.store.session() as session:
        return {v: _record(r) for v, r in adopt_versions(ws, session, model).items()}


def mirror_states(ws: Workspace, model: str) -> None:
    """Make MLflow's state tags and `production`/`previous` aliases of `model` agree with the store."""
    states = version_states(ws, model)
    client = ws.mlflow
    registered = registered_model(ws, model)
    aliases = {a: str(v) for a, v in (registered.aliases or {}).items()}
    tags_of = {str(mv.version): dict(mv.tags) for mv in client.search_model_versions(f"name='{model}'")}
    for version, state in states.items():
        tags = tags_of.get(version, {})
        # a reason is written before the state that it explains and cleared after it: a server that
        # reads the tags between the two writes never sees a version retired for 'no reason recorded'
        reason = state.reason or ""
        writes = [(STATE_REASON_TAG, reason, tags.get(STATE_REASON_TAG, "")),
                  (STATE_TAG, state.state, tags.get(STATE_TAG))]
        for tag, value, now in writes if reason else writes[::-1]:
            if now != value:
                client.set_model_version_tag(model, version, tag, value)
    with ws.store.session() as session:
        last_live: str | None = session.scalar(
            select(ProductionPeriod.version).where(ProductionPeriod.model == model)
            .order_by(ProductionPeriod.started_at.desc(), ProductionPeriod.id.desc()).limit(1))
    wanted = {PRODUCTION_ALIAS: _production_holder(states, last_live),
              PREVIOUS_ALIAS: next((v for v, s in states.items() if s.previous), None)}
    for alias, holder in wanted.items():
        if holder is not None and aliases.get(alias) != holder:
            client.set_registered_model_alias(model, alias, holder)
        elif holder is None and alias in aliases:
            client.delete_registered_model_alias(model, alias)


def mirror_all_states(ws: Workspace) -> list[str]:
    """`mirror_states` for every model the store holds states of (a server does this when it starts,
    so a change interrupted between the store and MLflow is finished); returns the models."""
    with ws.store.session() as session:
        models = list(session.scalars(select(ModelVersionState.model).distinct().order_by(ModelVersionState.model)))
    done = []
    for model in models:
        try:
            mirror_states(ws, model)
        except NotFound as exc:  # deleted from MLflow by hand: its states stay as the record of it
            log.warning("lifecycle states of %s not mirrored: %s", model, exc)
        else:
            done.append(model)
    return done


def _production_holder(states: dict[str, VersionState], last_live: str | None) -> str | None:
    """The version in production; else a production version since retired keeps the alias, so a server
    following it refuses it (409, with the reason) instead of falling back to another version."""
    live = next((v for v, s in states.items() if s.state == "production"), None)
    if live is not None:
        return live
    if last_live is not None and last_live in states and states[last_live].state == "retired":
        return last_live
    return None


def production_holder(ws: Workspace, model: str) -> str | None:
    """The version MLflow's `production` alias names now, if any."""
    registered = registered_model(ws, model)
    found = (registered.aliases or {}).get(PRODUCTION_ALIAS)
    return str(found) if found is not None else None
