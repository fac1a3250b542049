"""One monitoring run: a model version's prediction log cut into windows, every signal of each window
against the version's reference profile, and the alerts of the latest window stored (and posted)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from statops.errors import NotFound
from statops.monitoring.alerts import AlertChanges, list_alerts, update_alerts
from statops.monitoring.feedback import labelled_predictions
from statops.monitoring.log_window import (
    Window,
    WindowSpec,
    elapsed_share,
    read_log_columns,
    sample_texts,
    windows,
)
from statops.monitoring.reference import ReferenceProfile
from statops.monitoring.reference_store import load_reference, reference_from_dataset
from statops.monitoring.signals import Signal, WindowInput, compute_signals
from statops.monitoring.statistics import ALERT, NOT_ENOUGH, OK, WARN
from statops.monitoring.webhook import post_in_background
from statops.registry.versions import ModelVersionRef, resolve_model
from statops.store.column_read import ColumnReader
from statops.workspace import Workspace

SEVERITY = {NOT_ENOUGH: 0, OK: 1, WARN: 2, ALERT: 3}
TOP_CODES = 15
CONFIDENCE_BINS = np.linspace(0, 1, 21)


@dataclass
class WindowResult:
    label: str
    start: datetime | None
    end: datetime | None
    records: int
    complete: bool
    signals: list[Signal]

    @property
    def status(self) -> str:
        """The worst status of its signals."""
        return max((s.status for s in self.signals), key=SEVERITY.__getitem__, default=NOT_ENOUGH)

    def signal(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start, "end": self.end, "records": self.records,
                "complete": self.complete, "status": self.status, "signals": [s.as_dict() for s in self.signals]}


@dataclass
class MonitoringResult:
    """A run's windows and signals, the reference it compared with, the distributions of the latest window
    beside the reference's, and the alert changes."""

    model: str
    version: str
    window: str
    reference: ReferenceProfile
    windows: list[WindowResult]
    alerts: AlertChanges
    history: list[Any] = field(default_factory=list)  # the model's stored alerts, newest first
    distributions: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    webhook: threading.Thread | None = None

    @property
    def latest(self) -> WindowResult | None:
        return next((w for w in reversed(self.windows) if w.records), None)

    @property
    def status(self) -> str:
        return self.latest.status if self.latest else NOT_ENOUGH

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "window": self.window, "status": self.status,
                "note": self.note, "reference": self.reference.summary(),
                "latest": self.latest.as_dict() if self.latest else None,
                "windows": [w.as_dict() for w in self.windows], "alerts": self.alerts.as_dict(),
                "alert_history": [a.as_dict() for a in self.history], "distributions": self.distributions}


def _histogram(values: np.ndarray, bins: np.ndarray) -> list[float]:
    counts, _ = np.histogram(values, bins=bins)
    return (counts / max(counts.sum(), 1)).round(5).tolist()


def distributions(reference: ReferenceProfile, records: pd.DataFrame) -> dict[str, Any]:
    """Reference vs window: the top codes' shares, and histograms of confidence and text length."""
    ref_total = max(sum(reference.code_counts.values()), 1)
    window_codes = records["code"].value_counts(normalize=True)
    top = sorted(set(list(window_codes.index[:TOP_CODES])
                     + sorted(reference.code_counts, key=reference.code_counts.__getitem__)[-TOP_CODES:]),
                 key=lambda c: -max(window_codes.get(c, 0.0), reference.code_counts.get(c, 0) / ref_total))
    lengths = records["text_length"].dropna().to_numpy(dtype=float)
    longest = max(float(reference.text_length.max()) if len(reference.text_length) else 1.0,
                  float(np.percentile(lengths, 99)) if len(lengths) else 1.0)
    length_bins = np.linspace(0, max(longest, 1.0), 21)
    return {
        "codes": [{"code": c, "reference": reference.code_counts.get(c, 0) / ref_total,
                   "window": float(window_codes.get(c, 0.0))} for c in top[:TOP_CODES]],
        "confidence": {"bins": CONFIDENCE_BINS.round(3).tolist(),
                       "reference": _histogram(reference.confidence, CONFIDENCE_BINS),
                       "window": _histogram(records["confidence"].to_numpy(dtype=float), CONFIDENCE_BINS)},
        "text_length": {"bins": length_bins.round(1).tolist(),
                        "reference": _histogram(reference.text_length, length_bins),
                        "window": _histogram(lengths, length_bins) if len(lengths) else []},
    }


def _reference(ws: Workspace, ref: ModelVersionRef, dataset: str | None) -> ReferenceProfile:
    if dataset is not None:
        return reference_from_dataset(ws, ref, dataset)
    profile = load_reference(ws, ref)
    if profile is None:
        raise NotFound(f"{ref.describe()} has no monitoring reference (it was trained before monitoring existed); "
                       f"build one from held-out data: statops monitor {ref.name} --version {ref.version} "
                       "--reference DATASET@N")
    return profile


def monitor(ws: Workspace, model: str, version: str | None = None, window: str | None = None,
            since: datetime | None = None, until: datetime | None = None, reference_dataset: str | None = None,
            update_alerts_store: bool = True, now: datetime | None = None) -> MonitoringResult:
    """Every signal of every window of `model`'s log (its production version, else its latest, unless
    `version` is given) since `since`, and the alerts of the latest window opened or resolved."""
    with ColumnReader(ws.store, children=2) as reader:  # on SQLite its readers start while the version is resolved
        ref = resolve_model(ws, model if version is None else f"{model}/{version}")
        reference = _reference(ws, ref, reference_dataset)
        spec = WindowSpec.parse(window or ws.settings.monitor_window)
        now = now or datetime.now(UTC)
        frame = read_log_columns(ws.store, ref.name, ref.version, since, until, reader)
    labelled = labelled_predictions(ws.store, ref.name, ref.version, since, until)
    results: list[WindowResult] = []
    volumes: list[int] = []
    last_records = frame.iloc[0:0]
    for part in windows(frame, spec, now):
        results.append(_window_signals(ws, reference, part, labelled, volumes, now))
        if part.complete:
            volumes.append(part.size)
        if part.size:
            last_records = part.records
    latest = next((w for w in reversed(results) if w.records), None)
    changes = AlertChanges()
    if latest is not None and update_alerts_store:
        changes = update_alerts(ws, ref.name, ref.version, latest.label, latest.signals)
    result = MonitoringResult(ref.name, ref.version, spec.describe(), reference, results, changes,
                              list_alerts(ws, ref.name))
    if frame.empty:
        result.note = (f"no predictions of {ref.describe()} in the log"
                       + (" in that period" if since or until else " yet") + ": not enough data")
    else:
        result.distributions = distributions(reference, last_records)
    url = ws.settings.monitor_webhook_url
    if url and (changes.opened or changes.resolved):
        payload = {"model": ref.name, "version": ref.version, "window": latest.label if latest else None,
                   **changes.as_dict()}
        result.webhook = post_in_background(url, payload, ws.settings.monitor_webhook_timeout_seconds,
                                            ws.settings.monitor_webhook_retries)
    return result


def _window_signals(ws: Workspace, reference: ReferenceProfile, part: Window, labelled: pd.DataFrame,
                    volumes: list[int], now: datetime) -> WindowResult:
    settings = ws.settings
    texts: list[str] | None = None
    if part.size and part.records["text_length"].notna().any():
        texts = sample_texts(ws.store, part, settings.monitor_text_sample)
    # the window's records that have a true code (by id: rows of one batch share a time, and a window of
    # N records may end inside a batch)
    in_window = labelled[labelled["id"].isin(part.records["id"])] if len(labelled) else labelled
    expected = None
    if volumes and not part.end_inclusive:  # windows of N records have the same volume by design
        expected = float(np.median(volumes)) * elapsed_share(part, now)
    data = WindowInput(part.records, texts, in_window, expected)
    return WindowResult(part.label, part.start, part.end, part.size, part.complete,
                        compute_signals(data, reference, settings))
