"""The signals of one window of the prediction log, each compared with the version's reference profile:
a value, its thresholds and a status (`ok`, `warn`, `alert` or `not enough data`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from statops.monitoring.reference import ReferenceProfile
from statops.monitoring.statistics import (
    ALERT,
    NOT_ENOUGH,
    OK,
    WARN,
    categorical_shift,
    expected_accuracy_interval,
    grade,
    ks_two_sample,
    mean_drop_p_value,
    mean_rise_p_value,
    proportion_drop_p_value,
)
from statops.monitoring.text_drift import text_drift
from statops.monitoring.text_features import out_of_vocabulary
from statops.settings import Settings

NO_TEXTS = "no texts logged (the log keeps none when STATOPS_LOG_TEXT=false)"
# Signals read from confidences: against a reference made from training records they are optimistic
CONFIDENCE_SIGNALS = ("auto_coded_share", "mean_confidence", "confidence_shift", "estimated_accuracy")


@dataclass
class Signal:
    """One signal of one window. `effect` is what the thresholds apply to (larger is worse): a drop, a
    distance or a rise; `value` is what a person reads (a share, a mean, an AUC)."""

    name: str
    value: float | None
    status: str
    threshold: str = ""  # in words, e.g. "drop >= 0.10 (warn 0.05)"
    warn: float | None = None
    alert: float | None = None
    effect: float | None = None
    reference: float | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _thresholds(kind: str, alert: float, warn: float | None = None) -> tuple[str, float, float]:
    warn = alert / 2 if warn is None else warn
    return f"{kind} >= {alert:.2f} (warn {warn:.2f})", warn, alert


def _not_enough(name: str, why: str, **kw: Any) -> Signal:
    return Signal(name, None, NOT_ENOUGH, note=why, **kw)


@dataclass
class WindowInput:
    """What the signals of one window read: its records (code, confidence, decision, text_length), a
    sample of its texts (None when none were logged), its labelled records, and the volume expected."""

    records: pd.DataFrame
    texts: list[str] | None
    labelled: pd.DataFrame
    expected_volume: float | None = None  # the median volume of the windows before (pro rata), if any


def _volume(data: WindowInput, s: Settings) -> Signal:
    n = len(data.records)
    text, warn, alert = _thresholds("drop", s.monitor_volume_drop)
    if data.expected_volume is None or data.expected_volume <= 0:
        return Signal("volume", float(n), OK, text, warn, alert, note="no earlier windows to compare with")
    drop = max(0.0, 1 - n / data.expected_volume)
    # a count below what a Poisson draw of the expected volume gives 1 time in 1,000 is not chance
    from scipy import stats

    p_value = float(stats.poisson.cdf(n, data.expected_volume))
    return Signal("volume", float(n), grade(drop, warn, alert, p_value, s.monitor_significance), text, warn, alert,
                  drop, data.expected_volume, f"expected about {data.expected_volume:,.0f}", {"p_value": p_value})


def _auto_share(data: WindowInput, ref: ReferenceProfile, s: Settings) -> Signal:
    text, warn, alert = _thresholds("drop", s.monitor_auto_share_drop)
    n = len(data.records)
    share = float((data.records["decision"] == "auto").mean())
    drop = ref.auto_coded_share - share
    p_value = proportion_drop_p_value(ref.auto_coded_share, ref.records, share, n)
    return Signal("auto_coded_share", share, grade(drop, warn, alert, p_value, s.monitor_significance), text,
                  warn, alert, drop, ref.auto_coded_share, f"p = {p_value:.2g}", {"p_value": p_value})


def _mean_confidence(conf: np.ndarray, ref: ReferenceProfile, s: Settings) -> Signal:
    text, warn, alert = _thresholds("drop", s.monitor_accuracy_drop)
    mean, ref_mean = float(conf.mean()), float(ref.confidence.mean())
    p_value = mean_drop_p_value(ref_mean, float(ref.confidence.std()), len(ref.confidence), mean,
                                float(conf.std()), len(conf))
    status = grade(ref_mean - mean, warn, None, p_value, s.monitor_significance)  # estimated accuracy alerts
    return Signal("mean_confidence", mean, status, f"drop >= {warn:.2f} warns", warn, None, ref_mean - mean,
                  ref_mean, f"p = {p_value:.2g}", {"p_value": p_value})


def _ks(name: str, window: np.ndarray, reference: np.ndarray, s: Settings, what: str) -> Signal:
    text, warn, alert = _thresholds("KS", s.monitor_ks_shift)
    ks = ks_two_sample(reference, window)
    return Signal(name, ks.statistic, grade(ks.statistic, warn, alert, ks.p_value, s.monitor_significance), text,
                  warn, alert, ks.statistic, None,
                  f"{what}: mean {window.mean():.3g} vs {reference.mean():.3g}; p = {ks.p_value:.2g}",
                  {"p_value": ks.p_value, "mean": float(window.mean()), "reference_mean": float(reference.mean())})


def _code_shifts(data: WindowInput, ref: ReferenceProfile, s: Settings) -> list[Signal]:
    text, warn, alert = _thresholds("JS distance", s.monitor_code_shift)
    counts = data.records["code"].value_counts()
    window = {str(k): int(v) for k, v in counts.items()}
    out = []
    levels: list[tuple[str, dict[str, int], dict[str, int]]] = [("code_distribution_shift", ref.code_counts, window)]
    codes = list(window)
    for level in ref.levels:
        ref_level = ref.level_counts(level)
        if ref_level.keys() == ref.code_counts.keys():
            continue  # the codes' own level: the same as the codes
        mapped = ref.ancestor_map(codes, level)
        win_level: dict[str, int] = {}
        for parent, code in zip(mapped, codes, strict=True):
            win_level[parent] = win_level.get(parent, 0) + window[code]
        levels.append((f"code_distribution_shift[{level}]", ref_level, win_level))
    for name, reference, current in levels:
        shift = categorical_shift(reference, current)
        note = (f"chi2 p = {shift.p_value:.2g}; PSI {shift.psi:.2f}; {shift.pooled} rare categories pooled"
                + (f"; {shift.unseen} not in the reference" if shift.unseen else ""))
        out.append(Signal(name, shift.js_distance,
                          grade(shift.js_distance, warn, alert, shift.p_value, s.monitor_significance),
                          text, warn, alert, shift.js_distance, None, note, asdict(shift)))
    return out


def _oov(texts: list[str], ref: ReferenceProfile, s: Settings) -> Signal:
    text, warn, alert = _thresholds("rise", s.monitor_oov_rise)
    shares = out_of_vocabulary(pd.Series(texts, dtype=object), frozenset(ref.vocabulary))
    shares, ref_shares = shares[~np.isnan(shares)], ref.oov[~np.isnan(ref.oov)].astype(float)
    if len(shares) < 2 or len(ref_shares) < 2:
        return _not_enough("out_of_vocabulary_rate", "no words in the texts", threshold=text)
    rate, ref_rate = float(shares.mean()), float(ref_shares.mean())
    p_value = mean_rise_p_value(ref_rate, float(ref_shares.std()), len(ref_shares), rate, float(shares.std()),
                                len(shares))
    return Signal("out_of_vocabulary_rate", rate, grade(rate - ref_rate, warn, alert, p_value, s.monitor_significance),
                  text, warn, alert, rate - ref_rate, ref_rate, f"on {len(shares):,} texts; p = {p_value:.2g}",
                  {"p_value": p_value, "texts": len(shares)})


def _text_drift(texts: list[str], ref: ReferenceProfile, s: Settings) -> Signal:
    alert = s.monitor_text_drift_auc
    warn = min(0.6, (0.5 + alert) / 2)
    text = f"AUC >= {alert:.2f} (warn {warn:.2f})"
    drift = text_drift(ref.texts, texts, s.monitor_text_sample)
    return Signal("text_drift", drift.auc, grade(drift.auc, warn, alert, drift.p_value, s.monitor_significance),
                  text, warn, alert, drift.auc, 0.5,
                  f"classifier on {drift.reference_texts:,} + {drift.window_texts:,} texts; p = {drift.p_value:.2g}",
                  {"p_value": drift.p_value, "reference_texts": drift.reference_texts,
                   "window_texts": drift.window_texts})


def _estimated_accuracy(conf: np.ndarray, ref: ReferenceProfile, s: Settings) -> Signal:
    text, warn, alert = _thresholds("drop", s.monitor_accuracy_drop)
    mean, low, high = expected_accuracy_interval(conf)
    ref_mean = float(ref.confidence.mean())
    drop = ref_mean - mean
    below = high < ref_mean  # the whole interval lies below the reference: not chance
    status = grade(drop, warn, alert, None, s.monitor_significance) if below else OK
    return Signal("estimated_accuracy", mean, status, text, warn, alert, drop, ref_mean,
                  f"95% interval {low:.3f}-{high:.3f} (from calibrated confidences)",
                  {"low": low, "high": high})


def _estimated_auto_accuracy(data: WindowInput, ref: ReferenceProfile, s: Settings) -> Signal:
    """Against the target, or against the reference's own estimate where that falls short of the target
    (calibration is least sure at the top; that shortfall was there before any drift)."""
    from scipy import stats

    auto = data.records.loc[data.records["decision"] == "auto", "confidence"].to_numpy(dtype=float)
    ref_auto = ref.confidence[ref.confidence >= ref.threshold].astype(float)
    bar = ref.target_accuracy
    if bar is not None and len(ref_auto) and float(ref_auto.mean()) < bar:
        bar = float(ref_auto.mean())
    text = "no target" if bar is None else f"under {bar:.3f}" + ("" if bar == ref.target_accuracy else
                                                                  " (the reference's own estimate)")
    if len(auto) < 2:
        return _not_enough("estimated_accuracy_auto", "fewer than 2 auto-coded records", threshold=text)
    mean, low, high = expected_accuracy_interval(auto)
    status = OK
    if bar is not None:  # one-sided: is the window's estimate under the bar beyond chance?
        se = max((high - mean) / 1.96, 1e-12)
        p_value = float(stats.norm.cdf((mean - bar) / se))
        status = ALERT if p_value < s.monitor_significance else WARN if p_value < 10 * s.monitor_significance else OK
    return Signal("estimated_accuracy_auto", mean, status, text, None, bar, None if bar is None else bar - mean,
                  bar, f"95% interval {low:.3f}-{high:.3f} on {len(auto):,} auto-coded records",
                  {"low": low, "high": high, "records": len(auto), "target": ref.target_accuracy})


def _realised(data: WindowInput, ref: ReferenceProfile, s: Settings) -> list[Signal]:
    from statops.monitoring.statistics import wilson_interval

    labelled = data.labelled
    out = []
    if len(labelled) < s.monitor_min_labelled:
        out.append(_not_enough("realised_accuracy", f"{len(labelled)} records with true codes "
                               f"(needs {s.monitor_min_labelled})", threshold="for information"))
    else:
        right = labelled["code"].astype(str) == labelled["true_code"].astype(str)
        per_level = {"code": float(right.mean())}
        for level in ref.levels:
            a = ref.ancestor_map(labelled["code"].astype(str).tolist(), level)
            b = ref.ancestor_map(labelled["true_code"].astype(str).tolist(), level)
            per_level[level] = float(np.mean([x == y and x != "unknown" for x, y in zip(a, b, strict=True)]))
        out.append(Signal("realised_accuracy", per_level["code"], OK, "for information", reference=ref.accuracy.get(
            "code"), note=f"{len(labelled):,} records with true codes, not a random sample (clerical ones are the "
            "hard cases)", details={"per_level": per_level, "records": len(labelled)}))
    audited = labelled[(labelled["source"] == "audit-sample") & (labelled["decision"] == "auto")]
    target = ref.target_accuracy
    text = f"under target {target:.2f}" if target is not None else "no target"
    if len(audited) < s.monitor_min_labelled:
        out.append(_not_enough("audit_accuracy", f"{len(audited)} audited auto-coded records "
                               f"(needs {s.monitor_min_labelled})", threshold=text))
        return out
    right = int((audited["code"].astype(str) == audited["true_code"].astype(str)).sum())
    low, high = wilson_interval(right, len(audited))
    share = right / len(audited)
    status = OK if target is None else ALERT if high < target else WARN if share < target else OK
    out.append(Signal("audit_accuracy", share, status, text, None, target, None, target,
                      f"Wilson 95% interval {low:.3f}-{high:.3f} on {len(audited):,} audited auto-coded records",
                      {"low": low, "high": high, "records": len(audited), "right": right}))
    return out


def _cap_in_sample(signals: list[Signal], ref: ReferenceProfile) -> list[Signal]:
    if not ref.in_sample:
        return signals
    for signal in signals:
        if signal.name in CONFIDENCE_SIGNALS and signal.status == ALERT:
            signal.status = WARN
            signal.note += "; capped at warn: the reference came from training records (build one from "\
                           "held-out data with --reference)"
    return signals


def compute_signals(data: WindowInput, ref: ReferenceProfile, s: Settings) -> list[Signal]:
    """Every signal of one window against the reference. Too few records gives `not enough data`, never
    an alert; no logged texts gives that for the text signals, saying so."""
    signals = [_volume(data, s)]
    n = len(data.records)
    few = f"{n} record(s) in the window (needs {s.monitor_min_records})"
    if n < s.monitor_min_records:
        names = ["auto_coded_share", "mean_confidence", "confidence_shift", "code_distribution_shift",
                 "text_length_shift", "out_of_vocabulary_rate", "text_drift", "estimated_accuracy",
                 "estimated_accuracy_auto"]
        return _of_the_task(signals + [_not_enough(name, few) for name in names] + _realised(data, ref, s), ref)
    conf = data.records["confidence"].to_numpy(dtype=float)
    signals += [_auto_share(data, ref, s), _mean_confidence(conf, ref, s),
                _ks("confidence_shift", conf, ref.confidence.astype(float), s, "confidence")]
    signals += _code_shifts(data, ref, s)
    logged = data.records["text_length"].dropna().to_numpy(dtype=float)
    lengths = logged[logged > 0]  # an empty text is a missing answer, not a short one
    texts = [t for t in data.texts or [] if t and t.strip()]
    if len(lengths) < s.monitor_min_records or not ref.has_texts:
        why = (NO_TEXTS if len(logged) == 0 else "the reference has no texts" if not ref.has_texts
               else "all texts are empty" if len(lengths) == 0
               else f"{len(lengths)} non-empty texts logged (needs {s.monitor_min_records})")
        signals += [_not_enough(n, why) for n in ("text_length_shift", "out_of_vocabulary_rate", "text_drift")]
    else:
        signals.append(_ks("text_length_shift", lengths, ref.text_length.astype(float), s, "characters"))
        if len(texts) < min(s.monitor_min_records, s.monitor_text_sample):
            why = NO_TEXTS if not data.texts else f"{len(texts)} non-empty texts"  # lengths are kept without them
            signals += [_not_enough("out_of_vocabulary_rate", why), _not_enough("text_drift", why)]
        else:
            signals += [_oov(texts, ref, s), _text_drift(texts, ref, s)]
    signals += [_estimated_accuracy(conf, ref, s), _estimated_auto_accuracy(data, ref, s)]
    signals += _realised(data, ref, s)
    return _cap_in_sample(_of_the_task(signals, ref), ref)


def _of_the_task(signals: list[Signal], ref: ReferenceProfile) -> list[Signal]:
    """The signals that fit the version's task (a signal per level is named after its family: a matched
    address's id has no distribution worth comparing, a code's has); a profile without the list keeps all."""
    if not ref.signals:
        return signals
    return [signal for signal in signals if any(signal.name.startswith(name) for name in ref.signals)]
