"""Workspace: the folder, our store, the MLflow stores and the artifact root that every command uses."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from statops.errors import InvalidInput, NotFound
from statops.relocation import Relocation, relocate_mlflow_store
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


def _check_folder(root: Path) -> None:
    """A workspace must be a folder: refuse a file, or a path under a file, with one clear message."""
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"cannot use {root} as a workspace: it is not a folder")
    for parent in root.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidInput(f"cannot use {root} as a workspace: {parent} is not a folder")
            break


def _create_folder(root: Path) -> None:
    _check_folder(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create the workspace folder {root}: {exc.strerror or exc}") from exc
    if not os.access(root, os.W_OK | os.X_OK):
        raise InvalidInput(f"cannot use {root} as a workspace: the folder is not writable")


def disable_telemetry() -> None:
    """statops runs air-gapped: MLflow must not phone home. Nor draw its own progress bars when it
    fetches a model's files: statops reports progress itself, and keeps stderr for what went wrong."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@dataclass
class Workspace:
    """An opened workspace. Create one with `Workspace.init`, open one with `Workspace.open`."""

    settings: Settings
    store: Store = field(init=False)
    #: set by `init`: whether the workspace was there already (and only brought up to date)
    existed: bool = field(init=False, default=True)
    #: set by `init` and `open`: what was changed because the folder had moved or been copied
    relocation: Relocation | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        disable_telemetry()
        self.store = Store(self.database_url)
        self._client: MlflowClient | None = None
        #: who acts, once authenticated (statops.accounts.authenticate sets it); else settings.actor
        self.acting_user: str | None = None

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
    def embedded_mlflow(self) -> bool:
        """True when MLflow is the SQLite store in this folder (no tracking server or other URI set)."""
        return not self.settings.mlflow_uri

    @property
    def mlflow_database(self) -> Path | None:
        """The embedded MLflow store's file, or None when MLflow is elsewhere."""
        return self.home / "mlflow.db" if self.embedded_mlflow else None

    @property
    def embedded_store(self) -> bool:
        """True when our store is the SQLite file in this folder (no database URL set)."""
        return not self.settings.database_url

    @property
    def store_database(self) -> Path | None:
        """Our store's file, or None when it is elsewhere (PostgreSQL, or a URL someone set)."""
        return self.home / "statops.db" if self.embedded_store else None

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def snapshot_root(self) -> Path:
        return self.home / "snapshots"

    @property
    def actor(self) -> str:
        """The name recorded in audit rows: the authenticated user, else STATOPS_USER or the OS user."""
        return self.acting_user or self.settings.actor

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def init(cls, home: str | Path | None = None, **overrides: object) -> Workspace:
        """Create (or bring up to date) the workspace folder, our store and the MLflow store.

        An unusable folder (a file, a path under a file, not writable) is an InvalidInput. The
        returned workspace's `existed` says whether there was one already.
        """
        settings = load_settings(home, **overrides)
        root = settings.resolved_home
        _create_folder(root)
        settings_file = root / SETTINGS_FILE
        existed = settings_file.is_file()
        try:
            if not existed:
                settings_file.write_text(_settings_text(settings), encoding="utf-8")
                settings_file.chmod(0o600)  # it may hold a database URL with a password
            workspace = cls(settings)
            workspace.snapshot_root.mkdir(exist_ok=True)
            workspace.artifact_root.mkdir(exist_ok=True)
        except OSError as exc:
            raise InvalidInput(f"cannot set up the workspace in {root}: {exc.strerror or exc}") from exc
        workspace.existed = existed
        workspace.store.upgrade()
        workspace._create_mlflow_store()
        workspace.relocation = workspace._relocate()
        workspace.activate_mlflow()
        return workspace

    @classmethod
    def open(cls, home: str | Path | None = None, **overrides: object) -> Workspace:
        """Open an existing workspace; a missing one is a NotFound that says how to create it."""
        settings = load_settings(home, **overrides)
        root = settings.resolved_home
        _check_folder(root)
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
        workspace.relocation = workspace._relocate()
        return workspace

    def _create_mlflow_store(self) -> None:
        """Create the embedded MLflow store (if new) with its Default experiment's artifacts in this
        folder; left to itself MLflow would put them under ./mlruns of the current directory."""
        if self.mlflow_database is None:
            return
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(self.mlflow_uri, self.artifact_root.as_uri())

    def _relocate(self) -> Relocation | None:
        """Point the embedded MLflow store's artifact locations into this folder if it was moved or copied."""
        database = self.mlflow_database
        if database is None or not database.is_file():
            return None
        return relocate_mlflow_store(database, self.home, self.artifact_root)

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
        location = (self.artifact_root / name).as_uri() if self.embedded_mlflow else None
        return str(client.create_experiment(name, artifact_location=location))

    def close(self) -> None:
        self.store.dispose()
