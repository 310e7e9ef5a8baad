"""Class-activation maps from the graph's ``cam`` output, scaled exactly as pytorch-grad-cam scales Grad-CAM.

Both shipped architectures end in global-average-pool -> (dropout) -> linear right after the Grad-CAM layer,
so d(logit_c)/dA = W_c / (H*W) at every position: Grad-CAM's channel weights are W_c / (H*W) and its map is
ReLU(W_c . A) up to a positive factor, which the min-max scaling removes. ``trainer export`` proves this per
bundle against pytorch-grad-cam itself (the reference implementation) before a graph ships.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_EPS = 1e-7  # pytorch-grad-cam's scale_cam_image divides by (eps + max)


def _minmax(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return (a / (_EPS + a.max())).astype(np.float32)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear with half-pixel centres; when enlarging this equals OpenCV's INTER_LINEAR on float data."""
    h, w = shape
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def gradcam_from_cam(cam: np.ndarray, input_size: int) -> np.ndarray:
    """(h, w) raw W_c . A -> Grad-CAM at the model input's size (S, S) in [0, 1], as pytorch-grad-cam returns it."""
    grid = _minmax(np.maximum(np.nan_to_num(cam.astype(np.float32)), 0.0))
    return _minmax(np.maximum(_resize(grid, (input_size, input_size)), 0.0))


def heatmap_for_study(cam: np.ndarray, input_size: int, out_shape: tuple[int, int]) -> np.ndarray:
    """The map over the study's own pixels (H, W) in [0, 1].

    Preprocessing squashes the study to a square without cropping, so stretching the map back to (H, W)
    puts each cell over the pixels it was computed from.
    """
    return np.clip(_resize(gradcam_from_cam(cam, input_size), out_shape), 0.0, 1.0)
