"""Window/level for display: the linear DICOM window (PS3.3 C.11.2.1.2) and a robust automatic window."""

from __future__ import annotations

import threading
import weakref

import numpy as np

AUTO_WINDOW_PERCENTILES = (0.5, 99.5)
AUTO_WINDOW_SAMPLE = 512  # the percentiles are taken on a grid of about this many rows and columns
_KEPT = 16
# The automatic window of the last few arrays (by identity, checked through a weak reference): the display
# asks for it several times per film (presets, drag span), and the decode pool computes it beforehand, off the
# UI thread (percentiles of a 2k film take tens of milliseconds).
_known: dict[int, tuple[weakref.ref, tuple[float, float]]] = {}
_known_lock = threading.Lock()


def auto_window(raw: np.ndarray, exclude: np.ndarray | None = None) -> tuple[float, float]:
    """(centre, width) spanning the 0.5-99.5 percentiles: ignores collimator edges and burnt-in text.

    ``exclude``: a boolean mask (same shape as ``raw``) of pixels that carry no image, e.g. DICOM Pixel
    Padding; they take no part, unless nothing else is left.
    """
    if exclude is None:
        with _known_lock:
            hit = _known.get(id(raw))
        if hit is not None and hit[0]() is raw:
            return hit[1]
    window = _auto_window(raw, exclude)
    if exclude is None:
        try:
            ref = weakref.ref(raw)
        except TypeError:  # an array type without weak references: not kept
            return window
        with _known_lock:
            _known[id(raw)] = (ref, window)
            while len(_known) > _KEPT:
                _known.pop(next(iter(_known)))
    return window


def _auto_window(raw: np.ndarray, exclude: np.ndarray | None) -> tuple[float, float]:
    grid = (slice(None, None, max(1, raw.shape[0] // AUTO_WINDOW_SAMPLE)),) + tuple(
        slice(None, None, max(1, n // AUTO_WINDOW_SAMPLE)) for n in raw.shape[1:2]
    )
    sample = raw[grid]
    if exclude is not None and exclude.shape == raw.shape and not exclude.all():
        keep = ~exclude[grid]
        # the sampling grid may miss a small image area: then take all of its pixels
        sample = sample[keep] if keep.any() else raw[~exclude]
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
