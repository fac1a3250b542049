"""Quality gates: per-model thresholds on a version's evaluation metrics, checked when approval is
requested.

A gate is `KIND.METRIC = VALUE`, over the flat metrics a task's evaluation reports (coding:
`accuracy`, `accuracy_<level>`, `top5_accuracy`, `macro_f1`, `ece`, `auto_coded_share`, ...):

- `min.METRIC`: at least VALUE;
- `max.METRIC`: at most VALUE;
- `max_drop.METRIC`: at most VALUE below the production version, both on the same dataset version
  (for measures where higher is better);
- `max_rise.METRIC`: at most VALUE above the production version (where lower is better, e.g. `ece`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statops.accounts import Actor, require
from statops.errors import InvalidInput, NotFound
from statops.registry.versions import evaluation_runs, registered_model
from statops.store.schema import ModelGates
from statops.workspace import Workspace

GATE_KINDS = {
    "min": "at least",
    "max": "at most",
    "max_drop": "at most this far below the production version",
    "max_rise": "at most this far above the production version",
}
COMPARATIVE = ("max_drop", "max_rise")
HELD_OUT = "held-out split"


@dataclass(frozen=True)
class EvaluationUsed:
    """The evaluation gates were checked on: the training run's dev evaluation, or an evaluation run."""

    kind: str  # 'dev' or 'evaluation'
    run_id: str
    dataset: str  # NAME@N, or a description of the held-out split
    metrics: dict[str, float]

    @property
    def catalogued(self) -> bool:
        """Whether the dataset is a catalogue version (so another version can be evaluated on it)."""
        return "@" in self.dataset and HELD_OUT not in self.dataset

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "dataset": self.dataset}


@dataclass(frozen=True)
class GateResult:
    key: str
    threshold: float
    value: float | None
    production_value: float | None
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_gate_key(key: str) -> tuple[str, str]:
    """'KIND.METRIC' -> (kind, metric), or InvalidInput naming the kinds."""
    kind, _, metric = key.strip().partition(".")
    if kind not in GATE_KINDS or not metric:
        raise InvalidInput(f"unknown gate '{key}': a gate is KIND.METRIC with KIND one of {', '.join(GATE_KINDS)} "
                           "(e.g. min.accuracy=0.6, max.ece=0.05, max_drop.accuracy=0.01)")
    return kind, metric


def _number(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"gate {key}: '{value}' is not a number") from None
    if not math.isfinite(number):
        raise InvalidInput(f"gate {key}: {value} is not a finite number")
    return number


def parse_assignments(pairs: list[str]) -> dict[str, float]:
    """['KEY=VALUE', ...] -> {key: value}."""
    out: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"'{pair}' is not KEY=VALUE (e.g. min.accuracy=0.6)")
        parse_gate_key(key)
        out[key.strip()] = _number(key.strip(), value.strip())
    return out


def read_gate_file(path: Path) -> dict[str, float]:
    """A TOML file of gates: `"min.accuracy" = 0.6` lines, at the top or under `[gates]`."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"gate file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"gate file {path} is not valid TOML: {exc}") from None
    table = document.get("gates", document)
    if not isinstance(table, dict):
        raise InvalidInput(f"gate file {path}: [gates] must be a table of KIND.METRIC = VALUE")
    out: dict[str, float] = {}
    for key, value in _flatten(table).items():
        parse_gate_key(key)
        out[key] = _number(key, value)
    return out


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """TOML reads `min.accuracy = 0.6` (unquoted) as a nested table; both spellings mean the same."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def known_metrics(ws: Workspace, model: str) -> list[str]:
    """The metrics the model's newest version reports for its dev evaluation (what gates can test)."""
    versions = ws.mlflow.search_model_versions(f"name='{model}'")
    if not versions:
        raise NotFound(f"model {model} has no versions yet: gates are checked against a version's metrics")
    newest = max(versions, key=lambda v: int(v.version))
    run = ws.mlflow.get_run(str(newest.run_id))
    return sorted(k.removeprefix("dev_") for k in run.data.metrics if k.startswith("dev_"))


def get_gates(ws: Workspace, model: str) -> dict[str, float]:
    with ws.store.session() as session:
        row = session.get(ModelGates, model)
        return dict(row.gates) if row else {}


def set_gates(ws: Workspace, actor: Actor, model: str, gates: Mapping[str, float], *, replace: bool = False,
              remove: tuple[str, ...] = ()) -> dict[str, float]:
    """Set (or with `replace`, replace all of) a model's gates; `remove` drops keys. Audited."""
    require(ws, actor, "models.gates")
    registered_model(ws, model)
    metrics = known_metrics(ws, model)
    for key in [*gates, *remove]:
        _, metric = parse_gate_key(key)
        if metric not in metrics:
            raise InvalidInput(f"gate {key}: model {model} reports no metric '{metric}'; its metrics: "
                               + ", ".join(metrics))
    with ws.store.session() as session:
        row = session.get(ModelGates, model)
        before = dict(row.gates) if row else {}
        missing = [k for k in remove if k not in before and k not in gates]
        if missing:
            raise InvalidInput(f"model {model} has no gate {', '.join(missing)}; its gates: "
                               + (", ".join(sorted(before)) or "none"))
        after = ({} if replace else dict(before)) | dict(gates)
        for key in remove:
            after.pop(key, None)
        if row is None:
            session.add(ModelGates(model=model, gates=after, set_by=actor.name, set_at=datetime.now(UTC)))
        else:
            row.gates, row.set_by, row.set_at = after, actor.name, datetime.now(UTC)
        ws.store.audit(session, actor.name, "model.gates", model, before=before, after=after)
    from statops.registry.card import refresh_cards  # the cards show the gates now in force
    from statops.registry.states import version_states

    live = [v for v, s in version_states(ws, model).items() if s.state not in ("retired", "rejected")]
    refresh_cards(ws, model, live)
    return after


def latest_evaluation(ws: Workspace, model: str, version: str, dataset: str | None = None) -> EvaluationUsed | None:
    """The newest evaluation run of the version (on `dataset` when given), if any."""
    runs = evaluation_runs(ws, model).get(version, [])
    for run in reversed(runs):
        if dataset is None or run.data.params.get("dataset") == dataset:
            return EvaluationUsed("evaluation", run.info.run_id, run.data.params.get("dataset", ""),
                                  dict(run.data.metrics))
    return None


def dev_evaluation(ws: Workspace, model: str, version: str) -> EvaluationUsed:
    """The dev evaluation recorded by the version's training run."""
    run_id = str(ws.mlflow.get_model_version(model, version).run_id)
    run = ws.mlflow.get_run(run_id)
    dataset = run.data.params.get("dev_dataset", "")
    if "@" not in dataset:
        dataset = f"{HELD_OUT} of {run.data.params.get('train_dataset', 'the training data')}"
    metrics = {k.removeprefix("dev_"): v for k, v in run.data.metrics.items() if k.startswith("dev_")}
    return EvaluationUsed("dev", run_id, dataset, metrics)


def check_gate(key: str, threshold: float, candidate: EvaluationUsed,
               production: tuple[str, EvaluationUsed | None] | None) -> GateResult:
    """One gate on the candidate's metrics (and, for a comparative gate, the production version's)."""
    kind, metric = parse_gate_key(key)
    value = candidate.metrics.get(metric)
    if value is None:
        return GateResult(key, threshold, None, None, False, f"{candidate.dataset} evaluation has no {metric}")
    if kind == "min":
        return GateResult(key, threshold, value, None, value >= threshold, f"{metric} {value:.4f} >= {threshold:g}?")
    if kind == "max":
        return GateResult(key, threshold, value, None, value <= threshold, f"{metric} {value:.4f} <= {threshold:g}?")
    if production is None:
        return GateResult(key, threshold, value, None, True, "no production version to compare with")
    prod_version, prod_eval = production
    if prod_eval is None or metric not in prod_eval.metrics:
        return GateResult(key, threshold, value, None, False,
                          f"production version {prod_version} has no evaluation on {candidate.dataset}: "
                          "request approval with --on DATASET@N to evaluate both on the same data")
    other = prod_eval.metrics[metric]
    change = other - value if kind == "max_drop" else value - other
    word = "below" if kind == "max_drop" else "above"
    return GateResult(key, threshold, value, other, change <= threshold + 1e-12,
                      f"{metric} {value:.4f} is {abs(change):.4f} {word if change > 0 else 'not ' + word} "
                      f"production version {prod_version} ({other:.4f}) on {candidate.dataset}; allowed {threshold:g}")
