"""Classification metrics for a binary (NORMAL=0 / PNEUMONIA=1) task, via scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> float:
    """ECE of P(positive) with equal-width bins: sum over bins of |accuracy - confidence| * share."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(labels[mask].mean() - probs[mask].mean())
    return float(ece)


def _safe_auc(fn, labels, probs) -> float:
    return float(fn(labels, probs)) if len(np.unique(labels)) == 2 else float("nan")


def point_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    labels = np.asarray(labels).astype(int)
    probs = np.asarray(probs, dtype=np.float64)
    pred = (probs >= threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in skm.confusion_matrix(labels, pred, labels=[0, 1]).ravel())
    precision, recall, f1, _ = skm.precision_recall_fscore_support(labels, pred, average="weighted", zero_division=0)
    return {
        "n_images": int(labels.size),
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(labels, pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "roc_auc": _safe_auc(skm.roc_auc_score, labels, probs),
        "pr_auc": _safe_auc(skm.average_precision_score, labels, probs),
        "ece": expected_calibration_error(labels, probs),
        "brier": float(skm.brier_score_loss(labels, probs, pos_label=1)),
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


BOOTSTRAP_KEYS = ("accuracy", "sensitivity", "specificity", "roc_auc")


def bootstrap_intervals(
    labels: np.ndarray, probs: np.ndarray, threshold: float, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict:
    """Percentile bootstrap intervals (resampling images) for accuracy, sensitivity, specificity, ROC-AUC."""
    labels = np.asarray(labels).astype(int)
    probs = np.asarray(probs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in BOOTSTRAP_KEYS}
    pred = probs >= threshold
    for _ in range(n_boot):
        idx = rng.integers(0, labels.size, labels.size)
        y, p, yhat = labels[idx], probs[idx], pred[idx]
        pos, neg = y == 1, y == 0
        samples["accuracy"].append((yhat == y).mean())
        if pos.any():
            samples["sensitivity"].append(yhat[pos].mean())
        if neg.any():
            samples["specificity"].append((~yhat[neg]).mean())
        if pos.any() and neg.any():
            samples["roc_auc"].append(skm.roc_auc_score(y, p))
    alpha = (1 - level) / 2
    return {
        k: [float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha))] if v else [float("nan")] * 2
        for k, v in samples.items()
    }


def compute_metrics(labels, probs, threshold: float, n_boot: int = 1000, seed: int = 0) -> dict:
    out = point_metrics(labels, probs, threshold)
    if n_boot:
        out["ci95"] = bootstrap_intervals(labels, probs, threshold, n_boot=n_boot, seed=seed)
        out["ci_method"] = f"percentile bootstrap over images, {n_boot} resamples, seed {seed}"
    return out
