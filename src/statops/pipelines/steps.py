"""A retraining as MLflow runs: one parent run, a child run per step (data, train, evaluate, compare,
register), each with its status. The parent is keyed on a hash of everything the retraining reads (the
champion, the datasets' content hashes, the settings that change its figures), so running the same
retraining again finds it: finished steps are read back, not run again; a step that failed or never
finished runs anew (as a new child run, the failed one kept as the record)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from statops.registry.card import read_artifact_json
from statops.registry.runs import PARENT_RUN_TAG, provenance_tags
from statops.workspace import Workspace

KIND = "retrain"
STEP_KIND = "retrain-step"
KEY_TAG = "statops.retrain_key"
STEP_TAG = "statops.step"
OUTPUT = "step/output.json"
RESULT = "retrain.json"
STEPS = ("data", "train", "evaluate", "compare", "register")


def input_key(inputs: Mapping[str, Any]) -> str:
    """The hash that names a retraining: the same inputs give the same key."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def _search(ws: Workspace, experiment_id: str, condition: str) -> list[Any]:
    return list(ws.mlflow.search_runs([experiment_id], filter_string=condition,
                                      order_by=["attributes.start_time DESC"], max_results=100))


@dataclass
class PipelineRun:
    """The parent run of one retraining and the steps it has finished."""

    ws: Workspace
    model: str
    run_id: str
    experiment_id: str
    finished: bool  # the whole retraining finished before: its result is stored
    done: dict[str, str] = field(default_factory=dict)  # step -> its finished child run
    resumed: list[str] = field(default_factory=list)  # steps read back instead of run

    @classmethod
    def open(cls, ws: Workspace, model: str, key: str, params: Mapping[str, Any]) -> PipelineRun:
        """The retraining keyed `key`: found (and marked running again unless it finished), or started."""
        experiment_id = ws.experiment_id(model)
        found = _search(ws, experiment_id, f"tags.`statops.kind` = '{KIND}' AND tags.`{KEY_TAG}` = '{key}'")
        if found:
            parent = found[0]
            run = cls(ws, model, parent.info.run_id, experiment_id, parent.info.status == "FINISHED")
            if not run.finished:
                ws.mlflow.update_run(run.run_id, status="RUNNING")
                ws.mlflow.set_tag(run.run_id, "statops.error", "")
            children = _search(ws, experiment_id, f"tags.`{PARENT_RUN_TAG}` = '{run.run_id}' AND "
                                                  f"tags.`statops.kind` = '{STEP_KIND}'")
            for child in reversed(children):  # oldest first: the newest finished run of a step counts
                if child.info.status == "FINISHED":
                    run.done[child.data.tags[STEP_TAG]] = child.info.run_id
            return run
        parent = ws.mlflow.create_run(experiment_id, run_name=f"retrain {model}", tags={
            "statops.kind": KIND, "statops.model": model, KEY_TAG: key, **provenance_tags()})
        for name, value in params.items():
            ws.mlflow.log_param(parent.info.run_id, name, str(value)[:6000])
        return cls(ws, model, parent.info.run_id, experiment_id, False)

    def output(self, step: str) -> dict[str, Any]:
        found = read_artifact_json(self.ws, self.done[step], OUTPUT)
        return found if isinstance(found, dict) else {}

    def step(self, name: str, work: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
        """Run step `name` as a child run (work gets its run id and returns its output), or read back the
        output of the step's finished run. A failure marks the child run FAILED and is raised."""
        if name in self.done:
            self.resumed.append(name)
            return self.output(name)
        child = self.ws.mlflow.create_run(self.experiment_id, run_name=f"{name}", tags={
            PARENT_RUN_TAG: self.run_id, "statops.kind": STEP_KIND, STEP_TAG: name, "statops.model": self.model})
        child_id = child.info.run_id
        try:
            output = work(child_id)
            self.ws.mlflow.log_dict(child_id, output, OUTPUT)
        except BaseException as exc:  # Ctrl-C too: the step is marked, the rerun does it again
            self._failed(child_id, exc)
            raise
        self.ws.mlflow.set_terminated(child_id, "FINISHED")
        self.done[name] = child_id
        return output

    def _failed(self, run_id: str, exc: BaseException) -> None:
        try:
            self.ws.mlflow.set_tag(run_id, "statops.error", f"{type(exc).__name__}: {exc}"[:5000])
            self.ws.mlflow.set_terminated(run_id, "FAILED")
        except Exception:  # noqa: S110 - the store may be what failed; the original error is what counts
            pass

    def fail(self, exc: BaseException) -> None:
        """The retraining stopped: the parent is marked FAILED with the error, to be picked up by a rerun."""
        self._failed(self.run_id, exc)

    def finish(self, result: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        self.ws.mlflow.log_dict(self.run_id, dict(result), RESULT)
        for name, value in tags.items():
            self.ws.mlflow.set_tag(self.run_id, name, value)
        self.ws.mlflow.set_terminated(self.run_id, "FINISHED")

    def result(self) -> dict[str, Any]:
        found = read_artifact_json(self.ws, self.run_id, RESULT)
        return found if isinstance(found, dict) else {}
