"""The statistics behind the signals: two-sample tests, effect sizes and intervals, vectorised.

Every comparative signal has an effect size (how big the change is) and a p-value (whether the
window is big enough to tell). A status needs both: with a million records every p-value is tiny, and
with twenty records every effect size is noisy (see `grade`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

OK, WARN, ALERT, NOT_ENOUGH = "ok", "warn", "alert", "not enough data"
STATUSES = (OK, WARN, ALERT, NOT_ENOUGH)
MIN_EXPECTED = 5.0  # chi-squared's rule of thumb: categories expected fewer times are pooled


def grade(effect: float, warn: float | None, alert: float | None, p_value: float | None,
          significance: float) -> str:
    """'alert' when `effect` (larger is worse) reaches `alert` and p < significance; 'warn' when it reaches
    `warn` and p < 10 x significance; else 'ok'."""
    if alert is not None and effect >= alert and (p_value is None or p_value < significance):
        return ALERT
    if warn is not None and effect >= warn and (p_value is None or p_value < 10 * significance):
        return WARN
    return OK


@dataclass(frozen=True)
class KolmogorovSmirnov:
    statistic: float
    p_value: float


def ks_two_sample(reference: np.ndarray, window: np.ndarray) -> KolmogorovSmirnov:
    """Two-sample Kolmogorov-Smirnov (asymptotic p-value: exact is too slow for big windows)."""
    result = stats.ks_2samp(reference, window, method="asymp")
    return KolmogorovSmirnov(float(result.statistic), float(result.pvalue))


@dataclass(frozen=True)
class CategoricalShift:
    """A shift between two categorical distributions (codes, or codes at one hierarchy level)."""

    chi2: float
    dof: int
    p_value: float
    js_distance: float  # Jensen-Shannon distance (base 2, 0..1), corrected for sampling bias
    js_distance_raw: float
    psi: float
    categories: int  # after pooling
    pooled: int  # categories pooled into one because they were expected fewer than 5 times
    unseen: int  # categories in the window that the reference never had


def categorical_shift(reference: dict[str, int], window: dict[str, int]) -> CategoricalShift:
    """Chi-squared test of homogeneity (2 x k) with rare categories pooled, plus Jensen-Shannon distance
    and PSI on the same pooled categories.

    The JS divergence of two samples from one distribution is not zero: about (k-1)(1/n+1/m)/8 nats
    (second-order expansion), which for a few hundred codes in windows of thousands is as large as a
    real shift. That expected part is taken off, so the distance means the same at every window size.
    """
    keys = sorted(set(reference) | set(window))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=float)
    win = np.array([window.get(k, 0) for k in keys], dtype=float)
    n, m = ref.sum(), win.sum()
    total = n + m
    column = ref + win
    expected_min = np.minimum(column * n / total, column * m / total)
    rare = expected_min < MIN_EXPECTED
    if rare.any():
        ref = np.append(ref[~rare], ref[rare].sum())
        win = np.append(win[~rare], win[rare].sum())
    keep = (ref + win) > 0
    ref, win = ref[keep], win[keep]
    k = len(ref)
    unseen = int(sum(1 for key in window if window[key] and not reference.get(key)))
    if k < 2:
        return CategoricalShift(0.0, 0, 1.0, 0.0, 0.0, 0.0, k, int(rare.sum()), unseen)
    chi2, p_value, dof, _ = stats.chi2_contingency(np.vstack([ref, win]), correction=False)
    p, q = ref / n, win / m
    mix = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / mix), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / mix), 0.0).sum()
    divergence = max(0.0, (kl_p + kl_q) / 2)  # nats
    expected = (k - 1) * (1 / n + 1 / m) / 8
    corrected = max(0.0, divergence - expected)
    smooth_p, smooth_q = (ref + 0.5) / (n + 0.5 * k), (win + 0.5) / (m + 0.5 * k)
    psi = float(((smooth_q - smooth_p) * np.log(smooth_q / smooth_p)).sum())
    return CategoricalShift(float(chi2), int(dof), float(p_value), math.sqrt(corrected / math.log(2)),
                            math.sqrt(divergence / math.log(2)), psi, k, int(rare.sum()), unseen)


def proportion_drop_p_value(reference_share: float, n: int, window_share: float, m: int) -> float:
    """One-sided p-value that the window's share is below the reference's (two-proportion z-test)."""
    pooled = (reference_share * n + window_share * m) / (n + m)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n + 1 / m))
    return float(stats.norm.sf((reference_share - window_share) / se))


def mean_drop_p_value(reference_mean: float, reference_sd: float, n: int, window_mean: float,
                      window_sd: float, m: int) -> float:
    """One-sided p-value that the window's mean is below the reference's (Welch z)."""
    se = math.sqrt(max(reference_sd**2 / n + window_sd**2 / m, 1e-12))
    return float(stats.norm.sf((reference_mean - window_mean) / se))


def mean_rise_p_value(reference_mean: float, reference_sd: float, n: int, window_mean: float,
                      window_sd: float, m: int) -> float:
    """One-sided p-value that the window's mean is above the reference's (Welch z)."""
    return mean_drop_p_value(window_mean, window_sd, m, reference_mean, reference_sd, n)


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    if trials == 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def expected_accuracy_interval(confidences: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Estimated accuracy from calibrated confidences and its interval: the number right is a sum of
    independent Bernoulli(confidence) draws (Poisson-binomial), so its variance is sum c(1-c). The
    interval assumes the calibration holds; drift is what breaks it, which is why this is paired with
    realised accuracy from audited records."""
    n = len(confidences)
    mean = float(confidences.mean())
    z = float(stats.norm.ppf(0.5 + level / 2))
    half = z * math.sqrt(float((confidences * (1 - confidences)).sum())) / n
    return mean, max(0.0, mean - half), min(1.0, mean + half)


def auc_p_value(auc: float, n_reference: int, n_window: int) -> float:
    """One-sided p-value of a ROC AUC above 0.5 (Mann-Whitney's normal approximation under no difference)."""
    se = math.sqrt((n_reference + n_window + 1) / (12 * n_reference * n_window))
    return float(stats.norm.sf((auc - 0.5) / se))
