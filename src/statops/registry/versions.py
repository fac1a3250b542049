"""Finding registered models and versions: MODEL, MODEL@ALIAS or MODEL/VERSION."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlflow.exceptions import MlflowException, RestException

from statops.errors import InvalidInput, NotFound
from statops.names import check_name
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
    try:
        return ws.mlflow.get_registered_model(name)
    except (MlflowException, RestException) as exc:
        raise _missing_model(ws, name) from exc


def resolve_model(ws: Workspace, ref: str) -> ModelVersionRef:
    """The model version `ref` names; a bare name means its production alias, else its latest version."""
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


def list_models(ws: Workspace) -> list[dict[str, Any]]:
    """Registered models with their newest version and aliases."""
    out = []
    for model in ws.mlflow.search_registered_models(order_by=["name ASC"]):
        versions = ws.mlflow.search_model_versions(f"name='{model.name}'")
        latest = max(versions, key=lambda v: int(v.version)) if versions else None
        out.append({
            "name": model.name,
            "versions": len(versions),
            "latest": latest.version if latest else None,
            "aliases": dict(model.aliases or {}),
            "task": latest.tags.get("task") if latest else None,
            "classification": latest.tags.get("classification") if latest else None,
        })
    return out


def model_versions(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """Every version of `name` with its tags, aliases and key metrics from its training run."""
    model = registered_model(ws, name)
    aliases_of: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases_of.setdefault(str(version), []).append(alias)
    out = []
    for mv in sorted(ws.mlflow.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        metrics = ws.mlflow.get_run(mv.run_id).data.metrics if mv.run_id else {}
        out.append({
            "version": str(mv.version), "created": mv.creation_timestamp, "tags": dict(mv.tags),
            "aliases": sorted(aliases_of.get(str(mv.version), [])), "run_id": mv.run_id,
            "metrics": dict(metrics), "status": mv.status,
        })
    return out
