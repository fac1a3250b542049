"""Model cards: what a registered version is for, what it learnt from, how good it is, where it falls
short, and every decision taken on it; Markdown and one self-contained HTML page, stored with the
version as artifacts of its training run (`card/model_card.md`, `card/model_card.html`).

The card is built from what is recorded, never typed in: the version's MLflow tags, params, metrics
and dataset inputs, the catalogue's entries for its datasets, the store's state, approval and
production records, and the sections its task writes (statops.tasks.Task.card_sections). It is
made at registration and rebuilt after every governance change; `statops models card` rebuilds it
whenever a stored one is missing or stale.
"""

from __future__ import annotations

import html
import json
import logging
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statops.accounts import Actor, require
from statops.data import DatasetInfo, get_dataset
from statops.data.gsbpm import SUBPROCESSES
from statops.errors import StatopsError
from statops.registry.gates import GATE_KINDS, get_gates
from statops.registry.governance import ApprovalInfo, approvals, production_history
from statops.registry.lifecycle import STATE_TAG
from statops.registry.states import TRAINED_BY_TAG, VersionState, version_states
from statops.registry.versions import ModelVersionRef, resolve_model
from statops.tasks import get_task
from statops.workspace import Workspace

CARD_MARKDOWN = "card/model_card.md"
CARD_HTML = "card/model_card.html"
TRAINING_LABELS = "card/training_labels.json"  # training records per label, written at training
TASK_CARD = "model_card.json"  # the task's own card sections (statops.tasks.ModelDescription.card)
DEV_EVALUATION = "evaluation/dev.json"
IMPORTED_FROM_TAG = "statops.imported_from"
IMPORTED_LINEAGE = "import/lineage.json"  # an imported version's lineage, as the exporting workspace wrote it
RETRAINING = "card/retraining.json"  # {"markdown": ...}: how a retrained version compared, and its cost factors
CONTEXTS = {"training": "training", "calibration": "dev (calibration and threshold)"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordedDataset:
    """A dataset a training run recorded as an MLflow input: its role, NAME@N, sha256 and rows."""

    role: str  # 'training' or 'calibration'
    ref: str
    sha256: str
    rows: int | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def recorded_datasets(run: Any) -> list[RecordedDataset]:
    """The training and calibration datasets of an MLflow run, as its dataset inputs record them."""
    out = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        tags = {t.key: t.value for t in item.tags}
        role = tags.get("mlflow.data.context", "")
        if role not in CONTEXTS:
            continue
        try:
            rows = json.loads(item.dataset.profile or "{}").get("num_rows")
        except ValueError:
            rows = None
        out.append(RecordedDataset(role, item.dataset.name, tags.get("sha256", item.dataset.digest),
                                   int(rows) if rows is not None else None, item.dataset.source))
    return sorted(out, key=lambda d: list(CONTEXTS).index(d.role))


def read_artifact_json(ws: Workspace, run_id: str, path: str) -> Any:
    """A JSON artifact of a run, or None when the run has none there."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = ws.mlflow.download_artifacts(run_id, path, tmp)
            return json.loads(Path(local).read_text(encoding="utf-8"))
        except (MlflowException, OSError, ValueError):
            return None


def catalogued(ws: Workspace, ref: str, sha256: str) -> DatasetInfo | None:
    """The catalogue's entry for `ref`, when this workspace holds exactly that data (same sha256)."""
    try:
        info = get_dataset(ws, ref)
    except StatopsError:
        return None
    return info if info.sha256 == sha256 else None


# -- Markdown pieces ------------------------------------------------------------------------------
def text(value: Any) -> str:
    """Free text (a reason, a name) safe inside Markdown: it stays text, on one line."""
    marked = re.sub(r"([\\`*\[\]<>|~#])", r"\\\1", " ".join(str(value).split()))
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", marked)  # snake_case stays as it is


def markdown_table(columns: list[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("-" if v is None or v == "" else text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class ModelCard:
    """A version's card as sections (heading, Markdown body)."""

    model: str
    version: str
    sections: tuple[tuple[str, str], ...]

    @property
    def title(self) -> str:
        return f"Model card: {self.model} version {self.version}"

    def markdown(self) -> str:
        parts = [f"# {text(self.title)}"] + [f"## {heading}\n\n{body.strip()}" for heading, body in self.sections]
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        """One page that opens offline: no scripts, no links, no external styles or images."""
        from markdown_it import MarkdownIt

        renderer = MarkdownIt("commonmark", {"html": False}).enable("table").disable(["link", "image", "autolink"])
        return (f"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"<title>{html.escape(self.title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
                f"<body>\n<main>\n{renderer.render(self.markdown())}</main>\n</body>\n</html>\n")


_STYLE = ("body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff}"
          "main{max-width:60rem;margin:0 auto;padding:1.5rem}h1{font-size:1.6rem}"
          "h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}"
          "table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;"
          "text-align:left;vertical-align:top}th{background:#f2f2f2}code{font-size:.9em}"
          "@media print{main{max-width:none}}")


# -- building -------------------------------------------------------------------------------------
def _intended_use(ref: ModelVersionRef, data: DatasetInfo | None, task_text: str | None) -> str:
    tags = ref.tags
    classification = tags.get("classification") or "code prefixes"
    column = f" (column `{text(data.text_column)}`)" if data else ""
    gsbpm = tags.get("gsbpm") or ""
    step = f", GSBPM step {gsbpm} ({SUBPROCESSES.get(gsbpm, 'unknown step')})" if gsbpm else ""
    cycle = f", trained on production cycle {text(tags['cycle'])}" if tags.get("cycle") else ""
    into = "codes read from code prefixes" if classification == "code prefixes" else text(classification)
    body = (f"Task **{text(ref.task)}**: free-text records{column} into {into}{step}{cycle}. It is meant for the "
            "records of the survey or register it was trained for; a new classification version or a change of "
            "questionnaire needs a new version.")
    return body + (f"\n\n{task_text}" if task_text else "")


def _model_facts(ws: Workspace, ref: ModelVersionRef, run: Any, state: VersionState | None) -> str:
    tags, run_tags = ref.tags, run.data.tags
    where = state.state + (f" ({state.reason})" if state.reason else "") if state else tags.get(STATE_TAG)
    logged = _when(datetime.fromtimestamp(run.info.start_time / 1000, UTC))
    rows: list[tuple[str, Any]] = [
        ("task", ref.task), ("state", where or "candidate"),
        ("trained by", state.trained_by if state else tags.get(TRAINED_BY_TAG)),
    ]
    if run_tags.get("statops.kind") == "import":
        origin = (read_artifact_json(ws, run.info.run_id, IMPORTED_LINEAGE) or {}).get("training_run", {})
        rows += [("trained", origin.get("started")), ("training run (there)", origin.get("run_id")),
                 ("imported from", tags.get(IMPORTED_FROM_TAG)), ("imported", logged),
                 ("import run", run.info.run_id)]
    else:
        rows += [("trained", logged), ("training run", run.info.run_id)]
    rows += [("statops", run_tags.get("statops.version")), ("git commit", run_tags.get("statops.git_commit"))]
    return markdown_table(["fact", "value"], [(k, v) for k, v in rows if v])


def _training_data(ws: Workspace, ref: ModelVersionRef, run: Any) -> tuple[str, DatasetInfo | None]:
    params, tags = run.data.params, ref.tags
    datasets = recorded_datasets(run)
    if not datasets and tags.get("dataset"):  # recorded before dataset inputs: the version's tags
        datasets = [RecordedDataset("training", tags["dataset"], tags.get("dataset_sha256", ""), None, "")]
    rows, train_info = [], None
    for d in datasets:
        info = catalogued(ws, d.ref, d.sha256)
        train_info = info if d.role == "training" else train_info
        rows.append((CONTEXTS[d.role], d.ref, d.sha256, f"{d.rows:,}" if d.rows is not None else None,
                     (info.cycle if info else tags.get("cycle") if d.role == "training" else None),
                     "yes" if info else "no"))
    table = markdown_table(["role", "dataset", "sha256", "rows", "cycle", "in this catalogue"], rows)
    dev = params.get("dev_dataset", "")
    used = (f"\n\nFitted on {int(params.get('train_records', 0)):,} records; calibrated and its threshold chosen "
            f"on {int(params.get('dev_records', 0)):,} records of "
            + (text(dev) if "@" in dev else f"a seeded held-out split of {text(params.get('train_dataset', ''))}")
            + ".") if "train_records" in params else ""
    return table + used, train_info


def _quality(run: Any) -> str:
    metrics = {k.removeprefix("dev_"): v for k, v in sorted(run.data.metrics.items()) if k.startswith("dev_")}
    if not metrics:
        return "The training run recorded no dev metrics."
    return markdown_table(["measure", "value"], [(k, _number(v)) for k, v in metrics.items()])


def _decision_rule(ref: ModelVersionRef, run: Any) -> str:
    metrics = run.data.metrics
    threshold = metrics.get("dev_threshold")
    if threshold is None and ref.tags.get("threshold"):
        threshold = float(ref.tags["threshold"])
    share, accuracy = metrics.get("dev_auto_coded_share"), metrics.get("dev_auto_coded_accuracy")
    target = metrics.get("dev_target_accuracy")
    if threshold is None:
        return "The version records no threshold."
    out = f"Answers with confidence at or above **{threshold:.4f}** are decided `auto`; the rest go to review."
    if share is not None:
        out += f" On the dev data {share:.1%} of records were auto-coded"
        out += f", {accuracy:.1%} of them right" if accuracy is not None else ""
        out += f" (target accuracy {target:.0%})." if target is not None else "."
    return out


def _gates(ws: Workspace, model: str) -> str:
    gates = get_gates(ws, model)
    if not gates:
        return "The model has no quality gates."
    return (markdown_table(["gate", "value", "meaning"],
                           [(k, f"{v:g}", GATE_KINDS[k.split('.', 1)[0]]) for k, v in sorted(gates.items())])
            + "\n\nChecked when approval is requested; each request's results are below.")


def _request(info: ApprovalInfo) -> str:
    passed = "passed" if info.gates_passed else "**failed**"
    out = (f"### Request {info.id}\n\n{text(info.requested_by)} asked for approval on {_when(info.requested_at)}: "
           f"{text(info.reason)}. Gates {passed} on the {text(info.evaluation.get('kind', ''))} evaluation "
           f"on {text(info.evaluation.get('dataset', ''))} (run {text(info.evaluation.get('run_id', ''))}).")
    if info.gates:
        out += "\n\n" + markdown_table(
            ["gate", "threshold", "value", "result", "detail"],
            [(g["key"], f"{g['threshold']:g}", _number(g["value"]), "pass" if g["passed"] else "FAIL", g["detail"])
             for g in info.gates])
    if info.decision:
        out += (f"\n\n**{info.decision.capitalize()}** by {text(info.decided_by)} on {_when(info.decided_at)}: "
                f"{text(info.decision_reason)}.")
        if info.override:
            out += f" Failed gates overridden: {text(info.override)}."
    else:
        out += "\n\nNot decided yet."
    return out


def _decisions(ws: Workspace, model: str, version: str) -> str:
    parts = [_request(info) for info in approvals(ws, model, version)]
    periods = [p for p in production_history(ws, model) if p.version == version]
    if periods:
        parts.append("### In production\n\n" + "\n".join(
            f"- from {_when(p.started)} (by {text(p.started_by)}) "
            + (f"until {_when(p.ended)} (by {text(p.ended_by)})" if p.ended else "until now") for p in periods))
    return "\n\n".join(parts) or "No approval has been requested yet."


def _retraining(ws: Workspace, run_id: str) -> list[tuple[str, str]]:
    """The section a retraining pipeline recorded with the run (statops.pipelines), if any."""
    recorded = read_artifact_json(ws, run_id, RETRAINING)
    markdown = recorded.get("markdown") if isinstance(recorded, dict) else None
    return [("Retraining: challenger against champion", str(markdown))] if markdown else []


def build_card(ws: Workspace, model: str, version: str) -> ModelCard:
    """The card of `model` version `version`, from what MLflow, the catalogue and the store record."""
    ref = resolve_model(ws, f"{model}/{version}")
    assert ref.run_id is not None
    run = ws.mlflow.get_run(ref.run_id)
    task = get_task(ref.task)
    evaluation = read_artifact_json(ws, ref.run_id, DEV_EVALUATION) or {}
    labels = read_artifact_json(ws, ref.run_id, TRAINING_LABELS) or {}
    task_sections = task.card_sections(read_artifact_json(ws, ref.run_id, TASK_CARD) or {}, evaluation, labels)
    state = version_states(ws, model).get(ref.version)
    data, train_info = _training_data(ws, ref, run)
    sections = [
        ("Intended use", _intended_use(ref, train_info, task_sections.pop("Intended use", None))),
        ("Model", _model_facts(ws, ref, run, state)),
        ("Training data", data),
        ("Quality on the dev data", _quality(run)),
        ("Threshold and automatic coding", _decision_rule(ref, run)),
        *task_sections.items(),
        *_retraining(ws, ref.run_id),
        ("Quality gates", _gates(ws, model)),
        ("Approvals and production", _decisions(ws, model, ref.version)),
    ]
    return ModelCard(model, ref.version, tuple(sections))


def write_card(ws: Workspace, model: str, version: str) -> ModelCard:
    """Build the card and store it (Markdown and HTML) with the version's training run."""
    card = build_card(ws, model, version)
    run_id = str(ws.mlflow.get_model_version(model, card.version).run_id)
    ws.mlflow.log_text(run_id, card.markdown(), CARD_MARKDOWN)
    ws.mlflow.log_text(run_id, card.html(), CARD_HTML)
    return card


def refresh_cards(ws: Workspace, model: str, versions: Iterable[str]) -> None:
    """Rewrite the cards of `versions` after a change. The change is committed already: a card that
    cannot be written is a warning, and `statops models card` rebuilds it."""
    for version in versions:
        try:
            write_card(ws, model, version)
        except Exception as exc:  # whatever failed, the decision stands
            log.warning("the model card of %s version %s was not updated (%s); `statops models card %s %s` "
                        "rebuilds it", model, version, exc, model, version)


def training_labels(labels: Iterable[Any]) -> dict[str, int]:
    """Training records per label, most frequent first (what the card's limitations count)."""
    counts: dict[str, int] = {}
    for label in labels:
        counts[str(label)] = counts.get(str(label), 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def model_card(ws: Workspace, actor: Actor, model: str, version: str) -> ModelCard:
    """The current card of a version (models.read); the stored copy is rewritten when it is missing or
    differs (a card refresh that failed after a decision)."""
    require(ws, actor, "models.read")
    card = build_card(ws, model, version)
    run_id = str(ws.mlflow.get_model_version(model, card.version).run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            stored = Path(ws.mlflow.download_artifacts(run_id, CARD_MARKDOWN, tmp)).read_text(encoding="utf-8")
        except Exception:  # no stored card yet
            stored = None
    if stored != card.markdown():
        ws.mlflow.log_text(run_id, card.markdown(), CARD_MARKDOWN)
        ws.mlflow.log_text(run_id, card.html(), CARD_HTML)
    return card
