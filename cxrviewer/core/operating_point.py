"""Operating points: the threshold rule, temperature scaling and the indeterminate band (numpy only).

Shared by the trainer (validation, at training time) and the app (site calibration), so a site's profile
is fitted by exactly the rules that made the shipped card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BAND_RULE = (
    "central 95% of the thresholds that the threshold rule (highest threshold with sensitivity >= {s:g}) "
    "picks on {n} bootstrap resamples of the {where} films (seed {seed}); widened to contain the threshold"
)


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    temperature: float
    band: tuple[float, float] | None
    source: str  # "shipped" or "site-calibrated (n=..., date)"


def choose_threshold(probabilities: np.ndarray, labels: np.ndarray, min_sensitivity: float = 0.95) -> float:
    """Highest threshold whose sensitivity (recall of the positive class) is >= ``min_sensitivity``."""
    positives = np.sort(np.asarray(probabilities)[np.asarray(labels) == 1])
    if positives.size == 0:
        return 0.5
    # Sensitivity at threshold t counts positives with p >= t; keep the k highest positives.
    k = int(np.ceil(min_sensitivity * positives.size))
    return float(positives[positives.size - k])


def softmax_positive(logits: np.ndarray, temperature: float, positive_index: int) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e[:, positive_index] / e.sum(axis=1)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature minimising the NLL (Guo et al. 2017): golden-section search on log T within ``bounds``."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(len(y)), y]))

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(80):  # interval shrinks by 0.618 per step: far below 1e-9 in log T
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def bootstrap_resamples(labels: np.ndarray, n_boot: int, seed: int):
    """Index arrays of ``n_boot`` bootstrap resamples (seeded); resamples holding one class only are skipped."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        idx = rng.integers(0, len(labels), len(labels))
        if labels[idx].min() != labels[idx].max():
            yield idx


def bootstrap_thresholds(
    probs: np.ndarray, labels: np.ndarray, min_sensitivity: float, n_boot: int = 1000, seed: int = 0
) -> list[float]:
    """The thresholds :func:`choose_threshold` picks on bootstrap resamples of the films."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    return [choose_threshold(probs[i], labels[i], min_sensitivity) for i in bootstrap_resamples(labels, n_boot, seed)]


def threshold_band(
    probs: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    min_sensitivity: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    where: str = "validation",
) -> dict[str, Any]:
    """{low, high, rule, measured}: the band where the operating point itself is uncertain.

    The threshold rule is re-run on bootstrap resamples; the band is the central 95 % of its picks, widened
    to contain ``threshold``. ``measured``: the share of films in the band and the calls outside it.
    """
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    picks = bootstrap_thresholds(probs, labels, min_sensitivity, n_boot, seed)
    low, high = (float(v) for v in np.percentile(picks, [2.5, 97.5]))
    low, high = min(low, threshold), max(high, threshold)
    inside = (probs >= low) & (probs < high)
    pos, neg = labels == 1, labels == 0
    measured = {
        "films": int(len(probs)),
        "in_band": float(inside.mean()),
        "positives_called_negative": int(((probs < low) & pos).sum()),
        "negatives_called_positive": int(((probs >= high) & neg).sum()),
        "positives_in_band": int((inside & pos).sum()),
        "negatives_in_band": int((inside & neg).sum()),
        "bootstrap_resamples": len(picks),
    }
    rule = BAND_RULE.format(s=min_sensitivity, n=n_boot, where=where, seed=seed)
    return {"low": low, "high": high, "rule": rule, "measured": measured}


def rates_with_intervals(
    probs: np.ndarray, labels: np.ndarray, threshold: float, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Sensitivity and specificity at ``threshold`` with percentile-bootstrap 95 % intervals."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)

    def rates(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        called = p >= threshold
        return float(called[y == 1].mean()), float((~called[y == 0]).mean())

    sens, spec = rates(probs, labels)
    arr = np.array([rates(probs[i], labels[i]) for i in bootstrap_resamples(labels, n_boot, seed)])
    ci = lambda col: [float(v) for v in np.percentile(arr[:, col], [2.5, 97.5])]
    return {"sensitivity": sens, "specificity": spec, "ci95": {"sensitivity": ci(0), "specificity": ci(1)}}
