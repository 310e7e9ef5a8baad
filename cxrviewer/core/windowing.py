"""Window/level for display: the linear DICOM window (PS3.3 C.11.2.1.2) and a robust automatic window."""

from __future__ import annotations

import numpy as np

AUTO_WINDOW_PERCENTILES = (0.5, 99.5)


def auto_window(raw: np.ndarray) -> tuple[float, float]:
    """(centre, width) spanning the 0.5-99.5 percentiles: ignores collimator edges and burnt-in text."""
    sample = raw[:: max(1, raw.shape[0] // 512), :: max(1, raw.shape[1] // 512)]
    lo, hi = np.percentile(sample, AUTO_WINDOW_PERCENTILES)
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    width = max(float(hi - lo), 1e-6)
    return float(lo + width / 2.0), width


def apply_window(raw: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Linear window to [0, 1]: used for the automatic window and for interactive window/level."""
    width = max(float(width), 1e-6)
    lo = centre - width / 2.0
    return np.clip((raw.astype(np.float32) - lo) / width, 0.0, 1.0)
