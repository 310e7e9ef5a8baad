"""Post-hoc calibration on validation: temperature scaling and the decision threshold."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from cxrviewer.core.operating_point import choose_threshold as core_choose_threshold


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising validation NLL (Guo et al. 2017), searched in [0.05, 20] on log scale."""
    lg = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(labels, dtype=torch.long)

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(lg / np.exp(log_t), y))

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


# One threshold rule for the trainer and the app's site calibration.
choose_threshold = core_choose_threshold
