"""Finding registered models and versions: MODEL, MODEL@ALIAS or MODEL/VERSION."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from statops.errors import InvalidInput, NotFound
from statops.names import check_name
from statops.registry.lifecycle import STATE_TAG, retired_reason
from statops.tasks import DEFAULT_TASK
from statops.workspace import Workspace

PRODUCTION_ALIAS = "production"


@dataclass(frozen=True)
class ModelVersionRef:
    """A resolved model version, and how it was chosen."""

    name: str
    version: str
    alias: str | None
    chosen_by: str  # 'version', 'alias', 'production alias' or 'latest version'
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def task(self) -> str:
        return self.tags.get("task") or DEFAULT_TASK

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def describe(self) -> str:
        how = {"version": "", "alias": f" (alias {self.alias})",
               "production alias": " (its production alias)",
               "latest version": " (latest version; no production alias set)"}[self.chosen_by]
        return f"{self.name} version {self.version}{how}"


def parse_model_ref(ref: str) -> tuple[str, str | None, str | None]:
    """'NAME', 'NAME@ALIAS' or 'NAME/VERSION' -> (name, version, alias)."""
    if "@" in ref:
        name, alias = ref.split("@", 1)
        check_name(name, "model")
        if not alias:
            raise InvalidInput(f"invalid model reference '{ref}': nothing after @")
        return name, None, alias
    if "/" in ref:
        name, version = ref.split("/", 1)
        check_name(name, "model")
        if not version.isdigit() or int(version) < 1:
            raise InvalidInput(f"invalid model reference '{ref}': the part after / must be a version number")
        return name, version, None
    return check_name(ref, "model"), None, None


def _missing_model(ws: Workspace, name: str) -> NotFound:
    known = sorted(m.name for m in ws.mlflow.search_registered_models())
    hint = f"; registered models: {', '.join(known)}" if known else "; train one with `statops train`"
    return NotFound(f"unknown model {name}{hint}")


def registered_model(ws: Workspace, name: str) -> Any:
    from mlflow.exceptions import MlflowException, RestException  # MLflow loads on first use, not on import

    try:
        return ws.mlflow.get_registered_model(name)
    except (MlflowException, RestException) as exc:
        raise _missing_model(ws, name) from exc


def resolve_model(ws: Workspace, ref: str) -> ModelVersionRef:
    """The model version `ref` names; a bare name means its production alias, else its latest version."""
    from mlflow.exceptions import MlflowException, RestException

    name, version, alias = parse_model_ref(ref)
    model = registered_model(ws, name)
    client = ws.mlflow
    if version is not None:
        try:
            mv = client.get_model_version(name, version)
        except (MlflowException, RestException) as exc:
            numbers = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
            raise NotFound(f"model {name} has no version {version}; versions: "
                           + ", ".join(map(str, numbers))) from exc
        return ModelVersionRef(name, str(mv.version), None, "version", dict(mv.tags), mv.run_id)
    aliases = dict(model.aliases or {})
    if alias is not None:
        if alias not in aliases:
            known = ", ".join(sorted(aliases)) or "none"
            raise NotFound(f"model {name} has no alias '{alias}'; its aliases: {known}")
        mv = client.get_model_version(name, aliases[alias])
        return ModelVersionRef(name, str(mv.version), alias, "alias", dict(mv.tags), mv.run_id)
    if PRODUCTION_ALIAS in aliases:
        mv = client.get_model_version(name, aliases[PRODUCTION_ALIAS])
        return ModelVersionRef(name, str(mv.version), PRODUCTION_ALIAS, "production alias", dict(mv.tags), mv.run_id)
    versions = client.search_model_versions(f"name='{name}'")
    if not versions:
        raise NotFound(f"model {name} has no versions yet")
    mv = max(versions, key=lambda v: int(v.version))
    return ModelVersionRef(name, str(mv.version), None, "latest version", dict(mv.tags), mv.run_id)


@dataclass(frozen=True)
class ModelSummary:
    """A registered model: how many versions, the newest, its aliases, and what its newest version does."""

    name: str
    versions: int
    latest: str | None
    aliases: dict[str, str]
    task: str | None
    classification: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_models(ws: Workspace) -> list[ModelSummary]:
    """Registered models with their newest version and aliases."""
    out = []
    for model in ws.mlflow.search_registered_models(order_by=["name ASC"]):
        versions = ws.mlflow.search_model_versions(f"name='{model.name}'")
        latest = max(versions, key=lambda v: int(v.version)) if versions else None
        out.append(ModelSummary(
            name=model.name, versions=len(versions), latest=str(latest.version) if latest else None,
            aliases={alias: str(v) for alias, v in (model.aliases or {}).items()},
            task=latest.tags.get("task") if latest else None,
            classification=latest.tags.get("classification") if latest else None,
        ))
    return out


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation of a version: the dev evaluation of its training run, or an evaluation run."""

    kind: str  # 'dev' (training run, threshold chosen out-of-fold) or 'evaluation'
    dataset: str
    records: int | None
    accuracy: float | None
    top5_accuracy: float | None
    ece: float | None
    auto_coded_share: float | None
    auto_coded_accuracy: float | None
    when: datetime
    run_id: str


@dataclass(frozen=True)
class ModelVersionInfo:
    """A registered version, read once from MLflow: what it does, where it came from, its aliases,
    whether it is in service, its training run's metrics, and every evaluation of it. The CLI and
    the HTTP API render this; neither reads MLflow's tags itself."""

    name: str
    version: str
    task: str
    aliases: tuple[str, ...]
    created: datetime
    status: str
    state: str  # lifecycle: candidate, pending, approved, production, retired or rejected
    run_id: str | None
    trained_on: str | None
    classification: str | None
    cycle: str | None
    threshold: float | None
    target_accuracy: float | None
    retired: str | None  # why it is retired; None while in service
    metrics: dict[str, float]
    evaluations: tuple[EvaluationRecord, ...]
    tags: dict[str, str]

    @property
    def in_service(self) -> bool:
        return self.retired is None

    @property
    def dev(self) -> EvaluationRecord | None:
        return next((e for e in self.evaluations if e.kind == "dev"), None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _moment(milliseconds: int | None) -> datetime:
    return datetime.fromtimestamp((milliseconds or 0) / 1000, UTC)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _evaluation_record(run: Any, kind: str) -> EvaluationRecord:
    metrics, params = run.data.metrics, run.data.params
    prefix = "dev_" if kind == "dev" else ""
    return EvaluationRecord(
        kind=kind,
        dataset=params.get("dev_dataset" if kind == "dev" else "dataset", ""),
        records=_int(params.get("dev_records" if kind == "dev" else "records")),
        accuracy=metrics.get(f"{prefix}accuracy"),
        top5_accuracy=metrics.get(f"{prefix}top5_accuracy"),
        ece=metrics.get(f"{prefix}ece"),
        auto_coded_share=metrics.get(f"{prefix}auto_coded_share"),
        auto_coded_accuracy=metrics.get(f"{prefix}auto_coded_accuracy"),
        when=_moment(run.info.start_time),
        run_id=run.info.run_id,
    )


def evaluation_runs(ws: Workspace, name: str) -> dict[str, list[Any]]:
    """The evaluation runs of model `name`, oldest first, by version."""
    experiment = ws.mlflow.get_experiment_by_name(name)
    if experiment is None:
        return {}
    found: dict[str, list[Any]] = {}
    token = None
    while True:
        page = ws.mlflow.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`statops.kind` = 'evaluation' AND tags.`statops.model` = '{name}'",
            order_by=["attributes.start_time ASC"], page_token=token,
        )
        for run in page:
            found.setdefault(run.data.tags.get("statops.model_version", ""), []).append(run)
        token = page.token
        if not token:
            return found


def model_versions(ws: Workspace, name: str) -> list[ModelVersionInfo]:
    """Every version of `name`, oldest first, each with its training metrics and all its evaluations."""
    model = registered_model(ws, name)
    aliases_of: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases_of.setdefault(str(version), []).append(alias)
    evaluations = evaluation_runs(ws, name)
    out = []
    for mv in sorted(ws.mlflow.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        version, tags = str(mv.version), dict(mv.tags)
        training = ws.mlflow.get_run(mv.run_id) if mv.run_id else None
        records = [_evaluation_record(training, "dev")] if training else []
        records += [_evaluation_record(run, "evaluation") for run in evaluations.get(version, [])]
        out.append(ModelVersionInfo(
            name=name, version=version, task=tags.get("task") or DEFAULT_TASK,
            aliases=tuple(sorted(aliases_of.get(version, []))),
            created=_moment(mv.creation_timestamp), status=str(mv.status),
            state=tags.get(STATE_TAG) or "candidate", run_id=mv.run_id,
            trained_on=tags.get("dataset"), classification=tags.get("classification"),
            cycle=tags.get("cycle") or None, threshold=_float(tags.get("threshold")),
            target_accuracy=_float(tags.get("target_accuracy")), retired=retired_reason(tags),
            metrics=dict(training.data.metrics) if training else {}, evaluations=tuple(records), tags=tags,
        ))
    return out
