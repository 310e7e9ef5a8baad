"""Post-hoc calibration on validation: temperature scaling and the decision threshold."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising validation NLL (Guo et al. 2017), searched in [0.05, 20] on log scale."""
    lg = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(lg / np.exp(log_t), y))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def choose_threshold(probabilities: np.ndarray, labels: np.ndarray, min_sensitivity: float = 0.95) -> float:
    """Highest threshold whose sensitivity (recall of the positive class) is >= ``min_sensitivity``."""
    positives = np.sort(probabilities[labels == 1])
    if positives.size == 0:
        return 0.5
    # Sensitivity at threshold t counts positives with p >= t; keep the k highest positives.
    k = int(np.ceil(min_sensitivity * positives.size))
    return float(positives[positives.size - k])
