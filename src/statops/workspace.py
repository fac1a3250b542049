"""Workspace: the folder, our store, the MLflow stores and the artifact root that every command uses."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from statops.errors import NotFound
from statops.settings import SETTINGS_FILE, Settings, load_settings
from statops.store import Store

if TYPE_CHECKING:
    from mlflow import MlflowClient

SETTINGS_TEMPLATE = """\
# statops workspace settings. Environment variables STATOPS_<NAME> override these.
[statops]
# database_url = "postgresql://user@host:5432/statops"   # default: SQLite file in this folder
# mlflow_uri = "http://mlflow.internal:5000"              # default: SQLite file in this folder
# score_chunk_rows = 50000
# log_text = true
"""


def _settings_text(settings: Settings) -> str:
    """The template, with the stores this workspace was created on recorded, so later commands find them."""
    text = SETTINGS_TEMPLATE
    for name in ("database_url", "mlflow_uri"):
        value = getattr(settings, name)
        if value:
            text = text.replace("[statops]\n", f"[statops]\n{name} = {json.dumps(value)}\n", 1)
    return text


def disable_telemetry() -> None:
    """statops runs air-gapped: MLflow must not phone home."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


@dataclass
class Workspace:
    """An opened workspace. Create one with `Workspace.init`, open one with `Workspace.open`."""

    settings: Settings
    store: Store = field(init=False)

    def __post_init__(self) -> None:
        disable_telemetry()
        self.store = Store(self.database_url)
        self._client: MlflowClient | None = None

    # -- locations -------------------------------------------------------------------------
    @property
    def home(self) -> Path:
        return self.settings.resolved_home

    @property
    def database_url(self) -> str:
        return self.settings.database_url or f"sqlite:///{self.home / 'statops.db'}"

    @property
    def mlflow_uri(self) -> str:
        return self.settings.mlflow_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def snapshot_root(self) -> Path:
        return self.home / "snapshots"

    @property
    def actor(self) -> str:
        return self.settings.actor

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def init(cls, home: str | Path | None = None, **overrides: object) -> Workspace:
        """Create (or bring up to date) the workspace folder, our store and the MLflow store."""
        settings = load_settings(home, **overrides)
        root = settings.resolved_home
        root.mkdir(parents=True, exist_ok=True)
        settings_file = root / SETTINGS_FILE
        if not settings_file.exists():
            settings_file.write_text(_settings_text(settings), encoding="utf-8")
            settings_file.chmod(0o600)  # it may hold a database URL with a password
        workspace = cls(settings)
        workspace.snapshot_root.mkdir(exist_ok=True)
        workspace.artifact_root.mkdir(exist_ok=True)
        workspace.store.upgrade()
        workspace.activate_mlflow()  # creates the MLflow schema on first use
        return workspace

    @classmethod
    def open(cls, home: str | Path | None = None, **overrides: object) -> Workspace:
        """Open an existing workspace; a missing one is a NotFound that says how to create it."""
        settings = load_settings(home, **overrides)
        root = settings.resolved_home
        if not (root / SETTINGS_FILE).is_file():
            raise NotFound(
                f"no statops workspace at {root}; create it with `statops init --home {root}` "
                "(or set STATOPS_HOME)"
            )
        workspace = cls(settings)
        if not workspace.store.is_current():
            raise NotFound(
                f"the store at {workspace.store.safe_url} is not initialised or out of date; "
                f"run `statops init --home {root}`"
            )
        return workspace

    # -- MLflow ----------------------------------------------------------------------------
    @property
    def mlflow(self) -> MlflowClient:
        """The MLflow client for this workspace; also points the mlflow module at it."""
        import mlflow

        mlflow.set_tracking_uri(self.mlflow_uri)
        mlflow.set_registry_uri(self.mlflow_uri)
        if self._client is None:
            self._client = mlflow.MlflowClient(self.mlflow_uri, self.mlflow_uri)
        return self._client

    def activate_mlflow(self) -> MlflowClient:
        """Point the mlflow module's fluent API (start_run, load_model) at this workspace."""
        return self.mlflow

    def experiment_id(self, name: str) -> str:
        """The MLflow experiment `name`, created with its artifacts inside the workspace."""
        client = self.mlflow
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = None if self.settings.mlflow_uri else (self.artifact_root / name).as_uri()
        return str(client.create_experiment(name, artifact_location=location))

    def close(self) -> None:
        self.store.dispose()
