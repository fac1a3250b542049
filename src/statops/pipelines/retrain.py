"""statops retrain: the champion's training data plus new labelled data -> a challenger trained with the
champion's options -> both evaluated on the same held-out data and on recent reviewed items -> a
comparison report with its cost factors -> the challenger registered as a candidate and put up for
approval. One MLflow parent run, a child run per step; rerunning the same retraining resumes it
(statops.pipelines.steps), and nothing is registered before the last step."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from statops.accounts import Actor, require
from statops.data import add_dataset
from statops.files import check_report_path, write_file_atomically
from statops.monitoring.alerts import OPEN, AlertRecord, list_alerts
from statops.pipelines.combine import text_key
from statops.pipelines.compare import break_risk, paired
from statops.pipelines.costs import Cycle, cycle_records, decide, labelling_effort, last_cycle
from statops.pipelines.plan import Plan, plan_retrain
from statops.pipelines.report import card_markdown, render_html
from statops.pipelines.steps import PipelineRun
from statops.registry.card import RETRAINING
from statops.registry.governance import approvals, request_approval
from statops.registry.loading import load_model
from statops.registry.runs import _artifact_location, logged_training, register_training
from statops.registry.states import version_states
from statops.registry.training import fit_and_log
from statops.registry.versions import ModelVersionRef, resolve_model
from statops.review.stats import coded_items
from statops.tasks import ProgressCallback, TaskModel
from statops.workspace import Workspace

REPORT_HTML, REPORT_JSON = "comparison.html", "comparison.json"
STAGES = {"data": 0.0, "train": 0.1, "evaluate": 0.6, "compare": 0.8, "register": 0.9}


@dataclass(frozen=True)
class RetrainOutcome:
    """What a retraining did and why: whether it ran, whether it proposed the challenger, the version it
    registered and the approval request, the comparison (JSON) and where its HTML page is."""

    model: str
    ran: bool
    proposed: bool
    reasons: list[str]
    run_id: str | None = None
    champion: str | None = None
    version: str | None = None
    approval: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    report_path: str | None = None
    resumed: list[str] = field(default_factory=list)  # steps read back from an earlier, interrupted run
    already_done: bool = False  # the same retraining had finished before: nothing was run again

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _answers(model: TaskModel, texts: pd.Series, prefix: str) -> pd.DataFrame:
    answers = model.predict_frame(texts.astype(str))
    return pd.DataFrame({f"{prefix}_code": answers["code"].astype(str).to_numpy(),
                         f"{prefix}_decision": answers["decision"].astype(str).to_numpy()})


def _paired_frame(champion: TaskModel, challenger: TaskModel, texts: pd.Series, truth: pd.Series) -> pd.DataFrame:
    base = pd.DataFrame({"text": texts.astype(str).to_numpy(), "truth": truth.astype(str).to_numpy()})
    return pd.concat([base, _answers(champion, texts, "champion"), _answers(challenger, texts, "challenger")], axis=1)


def _reviewed(ws: Workspace, plan: Plan, limit: int) -> tuple[pd.DataFrame, int]:
    """The newest coded review items that neither model trained on (nor are in the held-out data), and how
    many coded items were left out for that reason."""
    items, _ = coded_items(ws, plan.champion.name)
    items = items[items["text"].notna()].sort_values("coded_at", ascending=False, kind="stable")
    holdout = plan.holdout[1][plan.holdout_info.text_column]
    seen = set(text_key(plan.combined.frame["text"])) | set(text_key(holdout))
    fresh = ~text_key(items["text"]).isin(seen)
    return items[fresh].head(limit).reset_index(drop=True), int((~fresh).sum())


def _log_frame(ws: Workspace, run_id: str, frame: pd.DataFrame, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        ws.mlflow.log_artifact(run_id, str(path), "evaluate")


def _read_frame(ws: Workspace, run_id: str, name: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(ws.mlflow.download_artifacts(run_id, f"evaluate/{name}.parquet", tmp))


class Retraining:
    """One retraining's steps, over a planned input and its MLflow parent run."""

    def __init__(self, ws: Workspace, actor: Actor, plan: Plan, run: PipelineRun,
                 progress: ProgressCallback | None):
        self.ws, self.actor, self.plan, self.run = ws, actor, plan, run
        self.progress = progress or (lambda stage, fraction: None)
        self.challenger: TaskModel | None = None  # in memory when trained in this process

    def data(self, run_id: str) -> dict[str, Any]:
        plan, combined = self.plan, self.plan.combined
        cycles = [i.cycle for i, _ in plan.new if i.cycle] or [plan.base.cycle or ""]
        name = f"{plan.champion.name}-retrain"[:100]
        with tempfile.TemporaryDirectory(prefix="statops-retrain-") as folder:
            path = Path(folder) / f"{name}.csv"
            combined.frame.to_csv(path, index=False)
            info = add_dataset(self.ws, name, path, "text", "code",
                               (plan.classification or "").partition("@")[0] or None,
                               cycle=max(cycles) or None, gsbpm=plan.base.gsbpm)
        conflicts = [c.as_dict() for c in combined.conflicts]
        self.ws.mlflow.log_dict(run_id, {"conflicts": conflicts}, "data/conflicts.json")
        for key, value in combined.summary().items():
            if isinstance(value, int):
                self.ws.mlflow.log_metric(run_id, key, value)
        return {"dataset": info.ref, "sha256": info.sha256, **combined.summary(), "conflict_list": conflicts}

    def train(self, run_id: str, dataset: str) -> dict[str, Any]:
        plan = self.plan
        fitted = fit_and_log(self.ws, plan.champion.name, dataset, plan.dev_ref, plan.options,
                             lambda stage, f: self.progress(f"train: {stage}", 0.1 + 0.5 * f), plan.task.name,
                             parent_run_id=run_id)
        self.challenger = fitted.result.model
        return {"training_run": fitted.logged.run_id, "model_uri": fitted.logged.model_uri,
                "train_records": fitted.result.train_records, "dev_records": fitted.result.dev_records}

    def evaluate(self, run_id: str, model_uri: str) -> dict[str, Any]:
        plan, ws = self.plan, self.ws
        champion = load_model(ws, plan.champion)
        challenger = self.challenger or load_model(ws, model_uri)
        info, frame = plan.holdout
        assert info.label_column
        _log_frame(ws, run_id, _paired_frame(champion, challenger, frame[info.text_column], frame[info.label_column]),
                   "holdout")
        reviewed, left_out = _reviewed(ws, plan, ws.settings.retrain_review_items)
        _log_frame(ws, run_id, _paired_frame(champion, challenger, reviewed["text"], reviewed["code"]), "reviewed")
        cycle = last_cycle(ws, plan.champion.name, datetime.now(UTC))
        production = cycle_records(ws, plan.champion.name, cycle)
        answers = _answers(challenger, production["text"], "challenger")
        _log_frame(ws, run_id, pd.DataFrame({"published": production["code"].astype(str).to_numpy(),
                                             "challenger": answers["challenger_code"]}), "production")
        return {"holdout": {"dataset": info.ref, "records": len(frame), "why": plan.holdout_why},
                "reviewed": {"records": len(reviewed), "left_out": left_out},
                "production": {"records": len(production)}, "cycle": cycle.as_dict()}

    def compare(self, run_id: str, data: dict[str, Any], trained: dict[str, Any],
                evaluated: dict[str, Any]) -> dict[str, Any]:
        plan, ws = self.plan, self.ws
        source = self.run.done["evaluate"]
        holdout = paired(f"held-out data {evaluated['holdout']['dataset']}", _read_frame(ws, source, "holdout"),
                         plan.hierarchy)
        comparisons = [holdout.as_dict()]
        notes = [f"Held-out data: {evaluated['holdout']['why']}."]
        reviewed = _read_frame(ws, source, "reviewed")
        if len(reviewed):
            comparisons.append(paired("recent reviewed items", reviewed, plan.hierarchy).as_dict())
        notes.append(f"{evaluated['reviewed']['records']:,} recent reviewed items compared; "
                     f"{evaluated['reviewed']['left_out']:,} coded items left out as training or held-out data.")
        production = _read_frame(ws, source, "production")
        c = evaluated["cycle"]
        cycle = Cycle(datetime.fromisoformat(c["since"]), datetime.fromisoformat(c["until"]), c["volume"])
        note = None if len(production) else (
            "no records with text in the prediction log for the last cycle" if cycle.volume == 0 else
            "the prediction log kept no text for the last cycle (STATOPS_LOG_TEXT=false)")
        risk = break_risk(production["published"], production["challenger"], plan.hierarchy,
                          ws.settings.retrain_break_tolerance, note)
        effort = labelling_effort(ws, [frame for _, frame in plan.new])
        costs = decide(ws.settings, cycle, holdout.challenger.auto_coded_share - holdout.champion.auto_coded_share,
                       effort, risk, holdout.test, holdout.challenger.accuracy - holdout.champion.accuracy)
        report = {
            "model": plan.champion.name, "run_id": self.run.run_id,
            "champion": {"version": plan.champion.version, "described": plan.champion.describe()},
            "facts": {"model": plan.champion.name, "champion": plan.champion.describe(),
                      "challenger training run": trained["training_run"], "retraining run": self.run.run_id,
                      "held-out data": evaluated["holdout"]["dataset"],
                      "classification": plan.classification or "code prefixes",
                      "compared": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")},
            "comparisons": comparisons, "notes": notes, "costs": costs.as_dict(), "data": data,
        }
        ws.mlflow.log_dict(run_id, report, REPORT_JSON)
        ws.mlflow.log_text(run_id, render_html(report), REPORT_HTML)
        for who in ("champion", "challenger"):
            scores = getattr(holdout, who)
            ws.mlflow.log_metric(run_id, f"{who}_accuracy", scores.accuracy)
            ws.mlflow.log_metric(run_id, f"{who}_auto_coded_share", scores.auto_coded_share)
        ws.mlflow.log_metric(run_id, "hours_saved_per_cycle", costs.hours_saved_per_cycle)
        ws.mlflow.log_metric(run_id, "mcnemar_p", holdout.test.p_value)
        return report

    def register(self, run_id: str, report: dict[str, Any], training_run: str) -> dict[str, Any]:
        ws, plan = self.ws, self.plan
        ws.mlflow.log_dict(training_run, {"markdown": card_markdown(report)}, RETRAINING)
        registered = register_training(ws, logged_training(ws, plan.champion.name, training_run))
        version = registered.version
        ws.mlflow.set_tag(run_id, "statops.version", version)
        if version_states(ws, plan.champion.name)[version].state == "candidate":
            held = report["comparisons"][0]
            reason = (f"retrained (run {self.run.run_id}) from version {plan.champion.version}: accuracy "
                      f"{held['champion']['accuracy']:.1%} -> {held['challenger']['accuracy']:.1%}, auto-coded share "
                      f"{held['champion']['auto_coded_share']:.1%} -> {held['challenger']['auto_coded_share']:.1%} on "
                      f"{plan.holdout_info.ref}")
            approval = request_approval(ws, self.actor, plan.champion.name, version, reason, on=plan.holdout_info.ref)
            return {"version": version, "approval": approval.as_dict()}
        requests = approvals(ws, plan.champion.name, version)
        return {"version": version, "approval": requests[-1].as_dict() if requests else None}

    def _step(self, name: str, work: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        def started(run_id: str) -> dict[str, Any]:
            self.progress(name, STAGES[name])  # inside the step: an interrupted callback fails the step
            return work(run_id)
        return self.run.step(name, started)

    def execute(self) -> RetrainOutcome:
        run, plan = self.run, self.plan
        data = self._step("data", self.data)
        trained = self._step("train", lambda rid: self.train(rid, data["dataset"]))
        evaluated = self._step("evaluate", lambda rid: self.evaluate(rid, trained["model_uri"]))
        report = self._step("compare", lambda rid: self.compare(rid, data, trained, evaluated))
        costs = report["costs"]
        proposed = costs["proposed"] or not plan.if_needed
        registered: dict[str, Any] = {}
        if proposed:
            registered = self._step("register", lambda rid: self.register(rid, report, trained["training_run"]))
        reasons = list(costs["reasons"])
        if not costs["proposed"] and not plan.if_needed:
            reasons.append("proposed anyway: retraining was asked for without --if-needed; approval decides")
        elif not proposed:
            reasons.append("not proposed: the challenger stays unregistered (its training run is kept)")
        location = _artifact_location(ws_run_uri(self.ws, run.done["compare"])) + f"/{REPORT_HTML}"
        outcome = RetrainOutcome(plan.champion.name, True, proposed, reasons, run.run_id, plan.champion.version,
                                 registered.get("version"), registered.get("approval"), report, location,
                                 list(run.resumed))
        run.finish(outcome.as_dict(), {"statops.outcome": "proposed" if proposed else "not proposed",
                                       "statops.version": registered.get("version") or ""})
        self.progress("done", 1.0)
        return outcome


def ws_run_uri(ws: Workspace, run_id: str) -> str:
    return str(ws.mlflow.get_run(run_id).info.artifact_uri)


def open_alerts(ws: Workspace, champion: ModelVersionRef) -> list[AlertRecord]:
    """Monitoring's open alerts for the champion version (what `--if-needed` waits for)."""
    return [a for a in list_alerts(ws, champion.name, state=OPEN) if a.version == champion.version]


def retrain(ws: Workspace, actor: Actor, model: str, with_datasets: list[str], holdout: str | None = None,
            if_needed: bool = False, report: str | Path | None = None,
            progress: ProgressCallback | None = None) -> RetrainOutcome:
    """Retrain `model` with new labelled data and put the challenger up for approval (see the module's
    docstring); with `if_needed`, only when monitoring has open alerts for the champion, and the challenger
    is proposed only when it pays. With `report`, the HTML page is also copied there."""
    require(ws, actor, "models.retrain")
    report_path = check_report_path(report) if report is not None else None
    why: list[str] = []
    if if_needed:
        champion = resolve_model(ws, model)
        alerts = open_alerts(ws, champion)
        if not alerts:
            return RetrainOutcome(model, False, False, [
                f"not needed: monitoring has no open alerts for {champion.describe()} (`statops monitor {model}` "
                "updates them)"], champion=champion.version)
        why = [f"monitoring has {len(alerts)} open alert(s) for {champion.describe()}: "
               + ", ".join(sorted({a.signal for a in alerts}))]
    plan = plan_retrain(ws, model, with_datasets, holdout, if_needed)
    run = PipelineRun.open(ws, model, plan.key, plan.params())
    if run.finished:
        done = RetrainOutcome(**{**run.result(), "already_done": True, "resumed": []})
    else:
        try:
            done = Retraining(ws, actor, plan, run, progress).execute()
        except BaseException as exc:
            run.fail(exc)
            raise
        done = replace(done, reasons=why + done.reasons)
    if report_path is not None and done.report is not None:
        write_file_atomically(render_html(done.report).encode("utf-8"), report_path)
        done = replace(done, report_path=str(report_path))
    return done
