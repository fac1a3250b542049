"""Fixtures: small real SOC2010 data from the bundled demo files, and real workspaces on SQLite
and PostgreSQL. The PostgreSQL cases run where STATOPS_TEST_POSTGRES_URL is set and are reported
as skipped, with the reason, where it is not."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from statops import Workspace
from statops.demo import bundled_file
from statops.store.database import normalise_url

POSTGRES_URL = os.environ.get("STATOPS_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"]
POSTGRES_SKIP_REASON = "STATOPS_TEST_POSTGRES_URL is not set: PostgreSQL cases skipped"


def sqlite_only(ws: Workspace, why: str) -> None:
    """Skip the PostgreSQL case of a test whose subject does not depend on the store (the suite's time)."""
    if ws.store.engine.dialect.name != "sqlite":
        pytest.skip(f"{why}: run on SQLite only")


def skip_unavailable_backend(backend: str) -> None:
    """Skip the current test, saying why, when `backend` cannot be reached from this run."""
    if backend == "postgresql" and not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)


@pytest.fixture(autouse=True)
def _no_env_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STATOPS_") and name != "STATOPS_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


@dataclass(frozen=True)
class SocFiles:
    """Small, real samples of the SOC2010 coding index, written as CSV files."""

    folder: Path
    structure: Path
    train: Path
    dev: Path
    test: Path


def _sample(name: str, rows: int, seed: int) -> pd.DataFrame:
    frame = pd.read_csv(bundled_file(f"{name}.csv.gz"), dtype=str, keep_default_na=False)
    return frame.sample(n=min(rows, len(frame)), random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="session")
def soc(tmp_path_factory: pytest.TempPathFactory) -> SocFiles:
    folder = tmp_path_factory.mktemp("soc2010")
    structure = folder / "structure.csv"
    pd.read_csv(bundled_file("structure.csv.gz"), dtype=str, keep_default_na=False).to_csv(structure, index=False)
    paths = {}
    for name, rows in (("train", 5000), ("dev", 1000), ("test", 800)):
        paths[name] = folder / f"{name}.csv"
        _sample(name, rows, seed=1).to_csv(paths[name], index=False)
    return SocFiles(folder, structure, paths["train"], paths["dev"], paths["test"])


def _create_postgres_database() -> tuple[str, str]:
    assert POSTGRES_URL
    base = make_url(normalise_url(POSTGRES_URL))
    name = f"statops_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False), name


def _drop_postgres_database(name: str) -> None:
    assert POSTGRES_URL
    base = make_url(normalise_url(POSTGRES_URL))
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def make_workspace(home: Path, backend: str) -> Iterator[Workspace]:
    """A new workspace on `backend`, closed (and its PostgreSQL database dropped) afterwards."""
    skip_unavailable_backend(backend)
    if backend == "postgresql":
        url, name = _create_postgres_database()
        ws = Workspace.init(home, database_url=url)
        try:
            yield ws
        finally:
            ws.close()
            _drop_postgres_database(name)
    else:
        ws = Workspace.init(home)
        yield ws
        ws.close()


@pytest.fixture(params=BACKENDS)
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh, empty workspace on each store backend."""
    yield from make_workspace(tmp_path / "ws", request.param)


@dataclass
class Trained:
    ws: Workspace
    model: str
    version: str
    soc: SocFiles


@pytest.fixture(scope="session", params=BACKENDS)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, soc: SocFiles) -> Iterator[Trained]:
    """A workspace with SOC2010, train/dev/test datasets and one trained, registered model."""
    from statops.classifications import add_classification
    from statops.data import add_dataset
    from statops.registry import train_and_register

    for ws in make_workspace(tmp_path_factory.mktemp("trained") / "ws", request.param):
        add_classification(ws, "soc2010", soc.structure, version="2010")
        for split, path in (("train", soc.train), ("dev", soc.dev), ("test", soc.test)):
            add_dataset(ws, f"soc-{split}", path, "text", "soc2010", "soc2010", cycle="2016", gsbpm="5.2")
        outcome = train_and_register(ws, "occupation", "soc-train", "soc-dev")
        yield Trained(ws, "occupation", outcome.registered.version, soc)
