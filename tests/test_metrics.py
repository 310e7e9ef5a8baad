"""Metrics against hand-computable cases."""

import math

import numpy as np
import pytest

from trainer.calibration import choose_threshold, fit_temperature
from trainer.metrics import compute_metrics, expected_calibration_error

Y = np.array([0, 0, 0, 1, 1, 1, 1, 1])


def test_perfect_predictions():
    m = compute_metrics(Y, Y.astype(float), 0.5, n_boot=50)
    assert m["accuracy"] == m["sensitivity"] == m["specificity"] == m["roc_auc"] == m["pr_auc"] == m["f1"] == 1.0
    assert m["brier"] == 0.0 and m["ece"] == 0.0
    assert m["confusion_matrix"] == {"tn": 3, "fp": 0, "fn": 0, "tp": 5}
    assert m["ci95"]["accuracy"] == [1.0, 1.0]


def test_inverted_predictions():
    m = compute_metrics(Y, 1.0 - Y, 0.5, n_boot=0)
    assert m["accuracy"] == m["sensitivity"] == m["specificity"] == m["roc_auc"] == 0.0
    assert m["brier"] == 1.0
    assert m["confusion_matrix"] == {"tn": 0, "fp": 3, "fn": 5, "tp": 0}


def test_constant_predictions():
    m = compute_metrics(Y, np.full(8, 0.7), 0.5, n_boot=0)
    assert m["roc_auc"] == 0.5
    assert m["sensitivity"] == 1.0 and m["specificity"] == 0.0 and m["accuracy"] == 5 / 8
    # all in one bin: |5/8 - 0.7|
    assert m["ece"] == pytest.approx(abs(5 / 8 - 0.7))
    assert m["brier"] == pytest.approx((3 * 0.7**2 + 5 * 0.3**2) / 8)
    # weighted precision: NORMAL precision 0 (no predictions), PNEUMONIA precision 5/8, weights 3/8 and 5/8
    assert m["precision"] == pytest.approx(5 / 8 * 5 / 8)
    # weighted F1: NORMAL F1 0, PNEUMONIA F1 = 2*(5/8)*1/(5/8+1) = 10/13
    assert m["f1"] == pytest.approx(5 / 8 * 10 / 13)


def test_required_keys():
    m = compute_metrics(Y, np.linspace(0, 1, 8), 0.5, n_boot=20)
    for key in (
        "n_images",
        "threshold",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "sensitivity",
        "specificity",
        "roc_auc",
        "pr_auc",
        "ece",
        "brier",
        "confusion_matrix",
    ):
        assert key in m
    assert set(m["ci95"]) == {"accuracy", "sensitivity", "specificity", "roc_auc"}
    for lo, hi in m["ci95"].values():
        assert lo <= hi


def test_ece_two_bins():
    probs = np.array([0.05, 0.05, 0.95, 0.95])
    labels = np.array([0, 1, 1, 1])
    # bin 0: acc 0.5 vs conf 0.05; bin 9: acc 1 vs conf 0.95; each half the data
    assert expected_calibration_error(labels, probs) == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)


def test_threshold_keeps_sensitivity():
    probs = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    labels = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    t = choose_threshold(probs, labels, 0.95)
    assert t == 0.4  # all six positives need p >= 0.4
    t80 = choose_threshold(probs, labels, 0.8)
    assert ((probs >= t80) & (labels == 1)).sum() / 6 >= 0.8 and t80 == 0.6


def test_temperature_recovers_scale():
    rng = np.random.default_rng(0)
    true_logit = rng.normal(0, 2, 4000)
    labels = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    logits = np.stack([np.zeros(4000), true_logit * 3], axis=1)  # overconfident by 3x
    assert fit_temperature(logits, labels) == pytest.approx(3.0, rel=0.15)
    assert not math.isnan(fit_temperature(logits, labels))
