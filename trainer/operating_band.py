"""The indeterminate band around a model's decision threshold (the rule lives in the core, shared with the
app's site calibration): see :func:`cxrviewer.core.operating_point.threshold_band`."""

from cxrviewer.core.operating_point import BAND_RULE, threshold_band

__all__ = ["BAND_RULE", "threshold_band"]
