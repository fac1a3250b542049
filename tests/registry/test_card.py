"""Model cards on real SQLite and PostgreSQL stores and a real MLflow registry: made at registration,
rewritten after each governance decision, Markdown and a self-contained HTML page, rebuilt on demand."""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
import pytest

from statops import Workspace
from statops.registry.card import CARD_HTML, CARD_MARKDOWN, TRAINING_LABELS, build_card, model_card
from statops.registry.gates import set_gates
from statops.registry.governance import decide, promote, request_approval
from tests.cli_runner import run_cli
from tests.conftest import BACKENDS, SocFiles, make_workspace
from tests.registry.people import ADMIN, ALICE, BOB, VIC, add_people, add_soc_catalogue


@dataclass
class Carded:
    ws: Workspace
    tokens: dict[str, str]
    versions: list[str]
    train_file: Path


@pytest.fixture(scope="module", params=BACKENDS)
def carded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, soc: SocFiles) -> Iterator[Carded]:
    """Users alice (modeller), bob (approver), vic (viewer); `cards` versions 1 and 2, trained by alice
    on 2,000 records with soc-dev for calibration."""
    from statops.registry import train_and_register

    folder = tmp_path_factory.mktemp("cards")
    for ws in make_workspace(folder / "ws", request.param):
        tokens = add_people(ws, ALICE, BOB, VIC)
        train = add_soc_catalogue(ws, folder, soc, 2000)
        ws.acting_user = "alice"
        versions = [train_and_register(ws, "cards", "soc-train", "soc-dev").registered.version for _ in range(2)]
        ws.acting_user = None
        yield Carded(ws, tokens, versions, train)


def stored(ws: Workspace, model: str, version: str, path: str) -> str:
    run_id = ws.mlflow.get_model_version(model, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        return Path(ws.mlflow.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")


def section(markdown: str, heading: str) -> str:
    """The body of `## heading`, up to the next `## `."""
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start:end if end >= 0 else None]


def test_the_card_is_made_at_registration(carded: Carded) -> None:
    ws, version = carded.ws, carded.versions[0]
    mv = ws.mlflow.get_model_version("cards", version)
    run = ws.mlflow.get_run(mv.run_id)
    markdown = stored(ws, "cards", version, CARD_MARKDOWN)
    assert markdown == build_card(ws, "cards", version).markdown()
    assert markdown.startswith(f"# Model card: cards version {version}\n")

    use = section(markdown, "Intended use")
    assert "soc2010@2010" in use and "GSBPM step 5.2 (Classify and code)" in use and "column `text`" in use
    assert "cycle 2016" in use and "Auto-coding" in use  # the task's own description follows the card's

    data = section(markdown, "Training data")
    sha = mv.tags["dataset_sha256"]
    assert f"| training | soc-train@1 | {sha} | 2,000 | 2016 | yes |" in data
    assert "soc-dev@1" in data and "1,000" in data and "calibrated" in data

    quality = section(markdown, "Quality on the dev data")
    for name, value in run.data.metrics.items():
        if name.startswith("dev_"):
            shown = name.removeprefix("dev_")
            assert f"| {shown} | {value:.4f} |" in quality
    levels = section(markdown, "Accuracy by level (dev data)")
    assert all(f"| {level} |" in levels for level in ("major", "submajor", "minor", "unit"))

    rule = section(markdown, "Threshold and automatic coding")
    assert f"{run.data.metrics['dev_threshold']:.4f}" in rule
    assert f"{run.data.metrics['dev_auto_coded_share']:.1%}" in rule

    limits = section(markdown, "Limitations")
    labels = pd.read_csv(carded.train_file, dtype=str, keep_default_na=False)["soc2010"].value_counts()
    rare = int((labels < 10).sum())
    assert f"{rare:,} of {labels.size:,} codes have fewer than 10 training records" in limits
    assert "F1" in limits
    assert "The model has no quality gates." in section(markdown, "Quality gates")
    assert "No approval has been requested yet." in section(markdown, "Approvals and production")
    model = section(markdown, "Model")
    assert "| state | candidate |" in model and "| trained by | alice |" in model
    assert json.loads(stored(ws, "cards", version, TRAINING_LABELS)) == {str(k): int(v) for k, v in labels.items()}


def test_the_html_card_is_self_contained(carded: Carded) -> None:
    page = stored(carded.ws, "cards", carded.versions[0], CARD_HTML)
    assert page.startswith("<!doctype html>") and "<table>" in page and "<style>" in page
    assert "<h2>Limitations</h2>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page and "<link" not in page and "<img" not in page and "@import" not in page


def test_decisions_rewrite_the_cards_of_the_versions_they_change(carded: Carded) -> None:
    ws, (first, second) = carded.ws, carded.versions
    set_gates(ws, ADMIN, "cards", {"min.accuracy": 0.05})
    before = stored(ws, "cards", second, CARD_MARKDOWN)
    request_approval(ws, ALICE, "cards", first, "first | production *model*")
    pending = stored(ws, "cards", first, CARD_MARKDOWN)
    assert r"| state | pending (first \| production \*model\*) |" in pending
    assert r"alice asked for approval" in pending and r"first \| production \*model\*" in pending
    assert "| min.accuracy | 0.05 |" in pending and "| pass |" in pending
    assert "Not decided yet." in pending
    decide(ws, BOB, "cards", first, True, "gates pass")
    promote(ws, BOB, "cards", first, "first release")
    markdown = stored(ws, "cards", first, CARD_MARKDOWN)
    assert "| state | production (first release) |" in markdown
    assert "**Approved** by bob" in markdown and "gates pass" in markdown
    assert "### In production" in markdown and "(by bob) until now" in markdown
    page = stored(ws, "cards", first, CARD_HTML)
    assert "<strong>Approved</strong> by bob" in page
    assert stored(ws, "cards", second, CARD_MARKDOWN) == before  # only the versions a decision changes


def _artifact_folder(ws: Workspace, model: str, version: str) -> Path:
    run = ws.mlflow.get_run(ws.mlflow.get_model_version(model, version).run_id)
    return Path(url2pathname(urlparse(run.info.artifact_uri).path))


def test_a_card_that_cannot_be_written_leaves_the_decision_and_is_rebuilt(
        carded: Carded, caplog: pytest.LogCaptureFixture) -> None:
    ws, version = carded.ws, carded.versions[1]
    target = _artifact_folder(ws, "cards", version) / CARD_MARKDOWN
    target.unlink()
    target.mkdir()  # a folder where the card goes: writing it fails, whoever runs the test
    try:
        with caplog.at_level(logging.WARNING, logger="statops.registry.card"):
            info = request_approval(ws, ALICE, "cards", version, "second")
        assert info.gates_passed
        assert any("was not updated" in r.getMessage() and "statops models card cards" in r.getMessage()
                   for r in caplog.records)
    finally:
        shutil.rmtree(target)
    card = model_card(ws, VIC, "cards", version)  # a viewer may read it; the stale copy is rewritten
    assert "| state | pending (second) |" in card.markdown()
    assert stored(ws, "cards", version, CARD_MARKDOWN) == card.markdown()


def test_the_card_command(carded: Carded, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                          tmp_path: Path) -> None:
    home, version = str(carded.ws.home), carded.versions[0]
    monkeypatch.setenv("STATOPS_TOKEN", carded.tokens["vic"])
    code, out, err = run_cli(capsys, monkeypatch, "models", "card", "cards", version, "--home", home)
    assert code == 0, err
    assert out == build_card(carded.ws, "cards", version).markdown()
    page = tmp_path / "card.html"
    code, out, err = run_cli(capsys, monkeypatch, "models", "card", "cards", version, "--html", str(page),
                             "--home", home)
    assert code == 0 and page.read_text(encoding="utf-8").startswith("<!doctype html>")
    code, out, err = run_cli(capsys, monkeypatch, "models", "card", "cards", version, "--html",
                             str(tmp_path / "card.txt"), "--home", home)
    assert code == 2 and "must end in .html" in err and not (tmp_path / "card.txt").exists()
    code, out, err = run_cli(capsys, monkeypatch, "models", "card", "cards", "99", "--home", home)
    assert code == 2 and "has no version 99" in err and "Traceback" not in err
