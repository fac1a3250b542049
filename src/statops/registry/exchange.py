"""Moving a registered version between workspaces (development, test, production): one archive out,
registered as a candidate in the other workspace, where it passes that workspace's own gates and
four eyes.

An export is a gzipped tar file holding one folder, `statops-model/`:

    model/          the version's MLflow model (MLmodel, requirements.txt, artifacts/model/ ...)
    run/            the training run's artifacts (evaluation/, model_card.json, card/ ...)
    card/           the model card, built at export (model_card.md, model_card.html)
    metrics.json    params.json    tags.json (of the run and of the version)
    lineage.json    training run, datasets (NAME@N, sha256, rows), classification, package versions
    governance.json state, approval requests with their gate results, production periods, gates
                    (information: the importing workspace decides afresh)
    MANIFEST.json   the sha256 of every other file
    MANIFEST.sha256 the sha256 of MANIFEST.json (`sha256sum -c` reads it)

An import checks every file against the manifest and the manifest against its digest before it
writes anything, so a changed, missing or extra file is refused with nothing registered. The manifest
detects changes, not forgery: whoever rewrites a file and the manifest and its digest makes a valid
archive. Sign the archive outside statops (e.g. gpg, minisign) where that matters.

Nothing from the archive is executed or unpickled: the model files are loaded by their task (skops
with no untrusted types, numpy without pickle, JSON) and logged again behind statops' own pyfunc
wrapper; the archive's copy of the wrapper's code is never used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
from mlflow.entities import Dataset, DatasetInput, InputTag

from statops.accounts import Actor, require
from statops.errors import InvalidInput, NotFound
from statops.files import check_writable_folder
from statops.hashing import file_sha256
from statops.names import check_name
from statops.provenance import package_version
from statops.registry.card import CARD_HTML, CARD_MARKDOWN, IMPORTED_FROM_TAG, build_card, catalogued, refresh_cards
from statops.registry.gates import get_gates
from statops.registry.governance import approvals, production_history
from statops.registry.lifecycle import STATE_REASON_TAG, STATE_TAG
from statops.registry.quiet import mlflow_prints_off
from statops.registry.runs import log_model_files, provenance_tags
from statops.registry.states import TRAINED_BY_TAG, UNKNOWN_TRAINER, record_registration, version_states
from statops.registry.versions import resolve_model
from statops.tasks import get_task
from statops.workspace import Workspace

ROOT = "statops-model"
MANIFEST = "MANIFEST.json"
DIGEST = "MANIFEST.sha256"
FORMAT = 1
SUFFIXES = (".tar.gz", ".tgz")
METADATA = ("metrics.json", "params.json", "tags.json", "lineage.json", "governance.json")


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    model: str
    version: str
    files: int
    bytes: int
    manifest_sha256: str


@dataclass(frozen=True)
class ImportSummary:
    model: str
    version: str
    run_id: str
    source: str  # MODEL/VERSION in the exporting workspace
    trained_by: str
    manifest_sha256: str
    notes: list[str] = field(default_factory=list)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")


def _lineage(run: Any, ref: Any, model_folder: Path) -> dict[str, Any]:
    requirements = model_folder / "requirements.txt"
    inputs = [{"name": d.dataset.name, "digest": d.dataset.digest, "source_type": d.dataset.source_type,
               "source": d.dataset.source, "schema": d.dataset.schema, "profile": d.dataset.profile,
               "tags": {t.key: t.value for t in d.tags}} for d in (run.inputs.dataset_inputs if run.inputs else [])]
    return {
        "model": ref.name, "version": ref.version, "task": ref.task,
        "training_run": {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                         "started": datetime.fromtimestamp(run.info.start_time / 1000, UTC).isoformat()},
        "dataset": ref.tags.get("dataset"), "dataset_sha256": ref.tags.get("dataset_sha256"),
        "classification": ref.tags.get("classification"), "dataset_inputs": inputs,
        "requirements": [line.strip() for line in requirements.read_text(encoding="utf-8").splitlines()
                         if line.strip()] if requirements.is_file() else [],
    }


def _governance(ws: Workspace, model: str, version: str) -> dict[str, Any]:
    state = version_states(ws, model).get(version)
    return {
        "note": "as recorded in the exporting workspace; an importing workspace checks its own gates and "
                "approvals afresh",
        "state": state.as_dict() if state else None,
        "approvals": [a.as_dict() for a in approvals(ws, model, version)],
        "production_periods": [p.as_dict() for p in production_history(ws, model) if p.version == version],
        "gates": get_gates(ws, model),
    }


def export_version(ws: Workspace, actor: Actor, model: str, version: str, path: str | Path) -> ExportSummary:
    """Write `model` version `version` with its card, metrics, lineage and records into one archive."""
    require(ws, actor, "models.read")
    path = Path(path)
    if not path.name.endswith(SUFFIXES):
        raise InvalidInput(f"the archive's name must end in .tar.gz: {path}")
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder; name the archive file")
    check_writable_folder(path.parent, "the archive")
    ref = resolve_model(ws, f"{model}/{version}")
    assert ref.run_id is not None
    run = ws.mlflow.get_run(ref.run_id)
    card = build_card(ws, model, ref.version)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ROOT
        (folder / "run").mkdir(parents=True)
        ws.mlflow.download_artifacts(ref.run_id, "", str(folder / "run"))
        ws.activate_mlflow()
        mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=str(folder / "model"))
        _write_json(folder / "metrics.json", run.data.metrics)
        _write_json(folder / "params.json", run.data.params)
        _write_json(folder / "tags.json", {"run": run.data.tags, "version": ref.tags})
        _write_json(folder / "lineage.json", _lineage(run, ref, folder / "model"))
        _write_json(folder / "governance.json", _governance(ws, model, ref.version))
        (folder / CARD_MARKDOWN).parent.mkdir(parents=True, exist_ok=True)
        (folder / CARD_MARKDOWN).write_text(card.markdown(), encoding="utf-8")
        (folder / CARD_HTML).write_text(card.html(), encoding="utf-8")
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT, "kind": "statops model version", "model": ref.name, "version": ref.version,
            "task": ref.task, "created": datetime.now(UTC).isoformat(timespec="seconds"), "created_by": actor.name,
            "statops_version": package_version(),
            "files": {p.relative_to(folder).as_posix(): file_sha256(p) for p in files},
        }
        manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
        digest = hashlib.sha256(manifest_bytes).hexdigest()
        (folder / MANIFEST).write_bytes(manifest_bytes)
        (folder / DIGEST).write_text(f"{digest}  {MANIFEST}\n", encoding="utf-8")
        _write_archive(folder, files + [folder / MANIFEST, folder / DIGEST], path)
    return ExportSummary(path, ref.name, ref.version, len(files) + 2, path.stat().st_size, digest)


def _write_archive(folder: Path, files: list[Path], path: Path) -> None:
    """The files as one .tar.gz, written beside `path` and renamed into place (whole or not at all)."""
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for file in files:
                    info = tar.gettarinfo(str(file), f"{ROOT}/{file.relative_to(folder).as_posix()}")
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    info.mode = 0o644
                    with open(file, "rb") as data:
                        tar.addfile(info, data)
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


# -- import ---------------------------------------------------------------------------------------
def _unpack(archive: Path, into: Path) -> Path:
    """Extract the archive's one folder, refusing anything but plain files and folders inside it."""
    name = archive.name
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if PurePosixPath(member.name).is_absolute() or ".." in parts or not parts or parts[0] != ROOT:
                    raise InvalidInput(f"{name} holds {member.name!r}, outside its {ROOT}/ folder: refused, "
                                       "nothing was imported")
                if member.issym() or member.islnk():
                    raise InvalidInput(f"{name} holds a link ({member.name!r}): refused, nothing was imported")
                if not (member.isfile() or member.isdir()):
                    raise InvalidInput(f"{name} holds {member.name!r}, which is not a plain file: refused, "
                                       "nothing was imported")
                tar.extract(member, into, filter="data")
    except tarfile.FilterError as exc:
        raise InvalidInput(f"{name} holds an unsafe entry ({exc}): refused, nothing was imported") from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InvalidInput(f"{name} is not a complete statops model archive (.tar.gz): {exc}") from exc
    return into / ROOT


def _verify(folder: Path, name: str) -> tuple[dict[str, Any], str]:
    """The manifest and its sha256, once every file matches it and it matches its digest."""
    if not (folder / MANIFEST).is_file() or not (folder / DIGEST).is_file():
        raise InvalidInput(f"{name} is not a statops model archive: it has no {MANIFEST} or {DIGEST}")
    recorded = (folder / DIGEST).read_text(encoding="utf-8", errors="replace").split()
    digest = file_sha256(folder / MANIFEST)
    if not recorded or recorded[0] != digest:
        raise InvalidInput(f"{name}: its {MANIFEST} was changed (sha256 {digest} differs from {DIGEST}); "
                           "nothing was imported")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{name}: its {MANIFEST} cannot be read ({exc}); nothing was imported") from exc
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{name} is a model archive in format {manifest.get('format')}; this statops reads "
                           f"format {FORMAT}")
    found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST, DIGEST}
    for extra in sorted(found - set(listed)):
        raise InvalidInput(f"{name} holds {extra}, which its manifest does not list; nothing was imported")
    for missing in sorted(set(listed) - found):
        raise InvalidInput(f"{name} lacks {missing}, which its manifest lists; nothing was imported")
    for path, sha in sorted(listed.items()):
        if file_sha256(folder / path) != sha:
            raise InvalidInput(f"{name}: {path} was changed (its sha256 differs from the manifest's); nothing "
                               "was imported")
    return manifest, digest


def _read(folder: Path, file: str, name: str) -> dict[str, Any]:
    try:
        data = json.loads((folder / file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{name}: {file} cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{name}: {file} is not a JSON object")
    return data


def import_version(ws: Workspace, actor: Actor, archive: str | Path, as_name: str | None = None) -> ImportSummary:
    """Register the version in an export archive as a new candidate version here (models.train)."""
    require(ws, actor, "models.train")
    archive = Path(archive)
    if not archive.is_file():
        raise NotFound(f"no model archive at {archive}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = _unpack(archive, Path(tmp))
        manifest, digest = _verify(folder, archive.name)
        meta = {file: _read(folder, file, archive.name) for file in METADATA}
        source = f"{manifest.get('model')}/{manifest.get('version')}"
        name = check_name(as_name or str(manifest.get("model", "")), "model")
        version_tags = {str(k): str(v) for k, v in dict(meta["tags.json"].get("version", {})).items()}
        task = get_task(version_tags.get("task") or str(manifest.get("task", "")))
        model_files = folder / "model" / "artifacts" / "model"
        try:
            model = task.load(model_files)
        except InvalidInput:
            raise
        except Exception as exc:  # damaged files that still match their manifest
            raise InvalidInput(f"{archive.name}: the model files cannot be loaded ({exc}); nothing was "
                               "imported") from exc
        state = dict(meta["governance.json"].get("state") or {})
        trained_by = version_tags.get(TRAINED_BY_TAG) or str(state.get("trained_by") or UNKNOWN_TRAINER)
        run_id, version = _register(ws, name, task, model, folder, meta, version_tags, {
            TRAINED_BY_TAG: trained_by, STATE_TAG: "candidate",
            IMPORTED_FROM_TAG: f"{source} (training run {meta['lineage.json'].get('training_run', {}).get('run_id')}"
                               f", archive manifest sha256 {digest})"})
    try:
        with ws.store.session() as session:
            record_registration(session, name, version, task.name, trained_by)
            ws.store.audit(session, actor.name, "model.import", f"{name}/{version}", after="candidate",
                           source=source, archive=archive.name, manifest_sha256=digest, run_id=run_id,
                           trained_by=trained_by)
    except BaseException:
        ws.mlflow.delete_model_version(name, version)  # no version without its state row and audit row
        raise
    refresh_cards(ws, name, [version])
    elsewhere = [str(d.get("name")) for d in meta["lineage.json"].get("dataset_inputs", [])
                 if catalogued(ws, str(d.get("name")), str(d.get("tags", {}).get("sha256"))) is None]
    notes = [f"this catalogue does not hold the data of {', '.join(elsewhere)} (same name and sha256), so gates "
             "comparing with the production version need an evaluation here: request approval with --on "
             "DATASET@N"] if elsewhere else []
    return ImportSummary(name, version, run_id, source, trained_by, digest, notes)


def _register(ws: Workspace, name: str, task: Any, model: Any, folder: Path, meta: dict[str, dict[str, Any]],
              version_tags: dict[str, str], overrides: dict[str, str]) -> tuple[str, str]:
    """One MLflow run holding the imported model, its metrics, params and files; registered as `name`."""
    client = ws.activate_mlflow()
    with mlflow.start_run(experiment_id=ws.experiment_id(name), run_name=f"import {name}") as run:
        mlflow.set_tags({"statops.kind": "import", "statops.model": name, "task": task.name, **provenance_tags(),
                         IMPORTED_FROM_TAG: overrides[IMPORTED_FROM_TAG]})
        mlflow.log_params({str(k): str(v) for k, v in meta["params.json"].items()})
        mlflow.log_metrics({str(k): float(v) for k, v in meta["metrics.json"].items()})
        inputs = [DatasetInput(Dataset(str(d["name"]), str(d["digest"]), str(d["source_type"]), str(d["source"]),
                                       d.get("schema"), d.get("profile")),
                               [InputTag(str(k), str(v)) for k, v in dict(d.get("tags", {})).items()])
                  for d in meta["lineage.json"].get("dataset_inputs", [])]
        if inputs:
            client.log_inputs(run.info.run_id, datasets=inputs)
        for stale in (CARD_MARKDOWN, CARD_HTML):  # the card is rebuilt here, with this workspace's records
            (folder / "run" / stale).unlink(missing_ok=True)
        mlflow.log_artifacts(str(folder / "run"))
        for file in (*METADATA, MANIFEST, DIGEST, CARD_MARKDOWN, CARD_HTML):
            mlflow.log_artifact(str(folder / file), str(PurePosixPath("import") / PurePosixPath(file).parent))
        info = log_model_files(task, model, folder / "model" / "artifacts" / "model")
        tags = {k: v for k, v in version_tags.items() if k not in (STATE_TAG, STATE_REASON_TAG)} | overrides
        with mlflow_prints_off():
            registered = mlflow.register_model(info.model_uri, name, tags=tags)
    return run.info.run_id, str(registered.version)
