"""Export and import of model versions between workspaces, on real SQLite and PostgreSQL stores and real
MLflow registries: the archive and its manifest, a round trip that answers the same, the importing
workspace's own gates, and tampered archives refused with nothing registered."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from statops import Workspace
from statops.accounts import Actor, add_user, create_token
from statops.errors import Forbidden, InvalidInput
from statops.registry import load_model, resolve_model
from statops.registry.card import build_card, recorded_datasets
from statops.registry.exchange import ROOT, export_version, import_version
from statops.registry.gates import set_gates
from statops.registry.governance import decide, request_approval
from statops.registry.states import version_states
from statops.store import audit
from statops.store.schema import AuditEvent, ModelVersionState
from tests.cli_runner import run_cli
from tests.conftest import BACKENDS, SocFiles, make_workspace
from tests.registry.people import ADMIN, ALICE, BOB, add_soc_catalogue


@dataclass
class Source:
    ws: Workspace
    version: str
    archive: Path
    test: pd.DataFrame
    test_file: Path


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, soc: SocFiles) -> Iterator[Source]:
    """A workspace where alice trained `occupation` (2,000 records), which bob approved; exported."""
    from statops.registry import train_and_register

    folder = tmp_path_factory.mktemp("exchange")
    for ws in make_workspace(folder / "source", "sqlite"):
        add_soc_catalogue(ws, folder, soc, 2000)
        ws.acting_user = "alice"
        version = train_and_register(ws, "occupation", "soc-train", "soc-dev").registered.version
        ws.acting_user = None
        set_gates(ws, ADMIN, "occupation", {"min.accuracy": 0.05})
        request_approval(ws, ALICE, "occupation", version, "ready")
        decide(ws, BOB, "occupation", version, True, "gates pass")
        archive = export_version(ws, Actor("vic", "viewer", "token"), "occupation", version,
                                 folder / "occupation.tar.gz").path
        test = pd.read_csv(soc.test, dtype=str, keep_default_na=False).head(300)
        yield Source(ws, version, archive, test, soc.test)


@pytest.fixture(scope="module", params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """Another, empty workspace (the production environment), with a viewer `vic`."""
    for ws in make_workspace(tmp_path_factory.mktemp("target") / "ws", request.param):
        add_user(ws, ADMIN, "vic", "viewer")
        yield ws


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_the_archive_holds_the_version_its_records_and_a_manifest(source: Source) -> None:
    files = members(source.archive)
    assert all(name.startswith(f"{ROOT}/") for name in files)
    inside = {name.removeprefix(f"{ROOT}/"): data for name, data in files.items()}
    for expected in ("model/MLmodel", "model/requirements.txt", "model/artifacts/model/weights.npy",
                     "model/artifacts/model/features.skops", "card/model_card.md", "card/model_card.html",
                     "run/evaluation/dev.json", "run/model_card.json", "run/card/training_labels.json",
                     "metrics.json", "params.json", "tags.json", "lineage.json", "governance.json"):
        assert expected in inside, expected
    manifest = json.loads(inside["MANIFEST.json"])
    assert set(manifest["files"]) == set(inside) - {"MANIFEST.json", "MANIFEST.sha256"}
    assert all(hashlib.sha256(inside[p]).hexdigest() == sha for p, sha in manifest["files"].items())
    assert inside["MANIFEST.sha256"].decode() == f"{hashlib.sha256(inside['MANIFEST.json']).hexdigest()}  MANIFEST.json\n"

    mv = source.ws.mlflow.get_model_version("occupation", source.version)
    lineage = json.loads(inside["lineage.json"])
    assert lineage["training_run"]["run_id"] == mv.run_id
    assert lineage["dataset"] == "soc-train@1" and lineage["dataset_sha256"] == mv.tags["dataset_sha256"]
    assert {(d["name"], d["tags"]["sha256"]) for d in lineage["dataset_inputs"]} >= {
        ("soc-train@1", mv.tags["dataset_sha256"])}
    assert "mlflow==3.17.2" in lineage["requirements"] and lineage["classification"] == "soc2010@2010"
    governance = json.loads(inside["governance.json"])
    assert governance["state"]["state"] == "approved" and governance["gates"] == {"min.accuracy": 0.05}
    assert [a["decision"] for a in governance["approvals"]] == ["approved"]
    assert json.loads(inside["metrics.json"]) == source.ws.mlflow.get_run(mv.run_id).data.metrics
    card = inside["card/model_card.md"].decode()
    assert "**Approved** by bob" in card


def _rows(ws: Workspace) -> tuple[list[str], int, int]:
    with ws.store.session() as session:
        states = int(session.scalar(select(func.count()).select_from(ModelVersionState)) or 0)
        audits = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    versions = sorted(f"{v.name}/{v.version}" for m in ws.mlflow.search_registered_models()
                      for v in ws.mlflow.search_model_versions(f"name='{m.name}'"))
    return versions, states, audits


def test_an_imported_version_answers_the_same_and_starts_as_a_candidate(source: Source, target: Workspace) -> None:
    summary = import_version(target, ADMIN, source.archive, as_name="occ-imported")
    assert (summary.model, summary.source, summary.trained_by) == ("occ-imported", f"occupation/{source.version}",
                                                                  "alice")
    states = version_states(target, "occ-imported")
    assert {v: (s.state, s.trained_by) for v, s in states.items()} == {summary.version: ("candidate", "alice")}
    with target.store.session() as session:
        rows = [r for r in audit.read(session, model="occ-imported") if r.action == "model.import"]
    assert len(rows) == 1 and rows[0].actor == "root" and rows[0].after == "candidate"
    assert rows[0].details["source"] == f"occupation/{source.version}"
    assert rows[0].details["manifest_sha256"] == summary.manifest_sha256

    original = load_model(source.ws, resolve_model(source.ws, f"occupation/{source.version}"))
    imported = load_model(target, resolve_model(target, f"occ-imported/{summary.version}"))
    pd.testing.assert_frame_equal(imported.predict_frame(source.test.text), original.predict_frame(source.test.text))

    mv = target.mlflow.get_model_version("occ-imported", summary.version)
    run = target.mlflow.get_run(mv.run_id)
    source_run = source.ws.mlflow.get_run(source.ws.mlflow.get_model_version("occupation", source.version).run_id)
    assert run.data.metrics == source_run.data.metrics and run.data.params == source_run.data.params
    assert run.data.tags["statops.kind"] == "import" and mv.tags["statops.state"] == "candidate"
    assert recorded_datasets(run) == recorded_datasets(source_run)  # the lineage, as the source recorded it
    assert "imported from" in build_card(target, "occ-imported", summary.version).markdown()


def test_the_importing_workspace_checks_its_own_gates_on_the_imported_metrics(source: Source,
                                                                             target: Workspace) -> None:
    summary = import_version(target, ADMIN, source.archive, as_name="occ-gated")
    accuracy = target.mlflow.get_run(target.mlflow.get_model_version("occ-gated", summary.version).run_id) \
        .data.metrics["dev_accuracy"]
    set_gates(target, ADMIN, "occ-gated", {"min.accuracy": round(accuracy + 0.01, 4)})
    info = request_approval(target, ADMIN, "occ-gated", summary.version, "from development")
    assert not info.gates_passed and info.gates[0]["value"] == accuracy  # approved there, not here
    with pytest.raises(Forbidden, match="four eyes"):
        decide(target, Actor("alice", "admin", "token"), "occ-gated", summary.version, True, "mine", "override")


def test_the_imported_version_scores_from_the_command_line(source: Source, target: Workspace,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, monkeypatch, "models", "import", str(source.archive), "--as", "occ-cli",
                             "--home", str(target.home))
    assert code == 0, err
    assert "as occ-cli version 1 (candidate; trained by alice)" in " ".join(out.split())
    inputs = tmp_path / "in.csv"
    source.test[["text"]].to_csv(inputs, index=False)
    code, out, err = run_cli(capsys, monkeypatch, "score", "occ-cli/1", str(inputs), str(tmp_path / "out.csv"),
                             "--home", str(target.home))
    assert code == 0, err
    coded = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    original = load_model(source.ws, resolve_model(source.ws, f"occupation/{source.version}"))
    assert coded["code"].tolist() == original.predict_frame(source.test.text)["code"].tolist()


def _retar(folder: Path, path: Path, extra: Callable[[tarfile.TarFile], None] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            tar.add(file, f"{ROOT}/{file.relative_to(folder).as_posix()}")
        if extra:
            extra(tar)
    return path


def _add(name: str, data: bytes = b"x", kind: bytes = tarfile.REGTYPE, link: str = "") -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return add


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_manifest(path: Path) -> None:
    manifest = json.loads(path.read_text())
    manifest["created_by"] = "mallory"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


TAMPERING = {  # what is done to the unpacked archive, what is added to the tar, the error expected
    "a model byte": (lambda f: _flip(f / "model/artifacts/model/weights.npy"), None,
                     "model/artifacts/model/weights.npy was changed"),
    "an edited manifest": (lambda f: _edit_manifest(f / "MANIFEST.json"), None, "its MANIFEST.json was changed"),
    "an extra file": (lambda f: (f / "model/artifacts/model/extra.json").write_text("{}"), None,
                      "holds model/artifacts/model/extra.json, which its manifest does not list"),
    "a missing file": (lambda f: (f / "card/model_card.html").unlink(), None,
                       "lacks card/model_card.html, which its manifest lists"),
    "a path out of its folder": (None, _add(f"{ROOT}/../escaped.txt"), "outside its statops-model/ folder"),
    "an absolute path": (None, _add("/tmp/statops-escaped.txt"), "outside its statops-model/ folder"),
    "a symbolic link": (None, _add(f"{ROOT}/model/link", kind=tarfile.SYMTYPE, link="/etc/passwd"), "holds a link"),
    "a hard link": (None, _add(f"{ROOT}/model/hard", kind=tarfile.LNKTYPE, link=f"{ROOT}/MANIFEST.json"),
                    "holds a link"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_a_changed_archive_is_refused_and_nothing_is_registered(source: Source, target: Workspace, case: str,
                                                                tmp_path: Path) -> None:
    change, extra, expected = TAMPERING[case]
    with tarfile.open(source.archive, "r:gz") as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    folder = tmp_path / "unpacked" / ROOT
    if change:
        change(folder)
    archive = _retar(folder, tmp_path / "changed.tar.gz", extra)
    before = _rows(target)
    with pytest.raises(InvalidInput, match=expected.replace("(", r"\(")):
        import_version(target, ADMIN, archive, as_name="tampered")
    assert _rows(target) == before
    assert target.mlflow.search_registered_models(filter_string="name='tampered'") == []
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/statops-escaped.txt").exists()


def test_the_command_line_refuses_in_one_line_and_checks_roles(source: Source, target: Workspace, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive at all")
    code, out, err = run_cli(capsys, monkeypatch, "models", "import", str(tmp_path / "junk.tar.gz"),
                             "--home", str(target.home))
    assert code == 2 and "junk.tar.gz is not a complete statops model archive" in err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    monkeypatch.setenv("STATOPS_TOKEN", create_token(target, ADMIN, "vic")[1])
    code, out, err = run_cli(capsys, monkeypatch, "models", "import", str(source.archive), "--home", str(target.home))
    assert code == 2 and "may not models train" in err
    monkeypatch.delenv("STATOPS_TOKEN")
    code, out, err = run_cli(capsys, monkeypatch, "models", "export", "occupation", source.version,
                             str(tmp_path / "out.tar"), "--home", str(source.ws.home))
    assert code == 2 and "must end in .tar.gz" in err and not (tmp_path / "out.tar").exists()
