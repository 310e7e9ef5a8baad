"""Training augmentation: geometry does what its settings say, on a synthetic target and a real film."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from trainer.augment import AugmentConfig, augment_batch

from .conftest import KERMANY

GEOMETRY_ONLY = dict(
    rotate_deg=0.0, translate=0.0, brightness=0.0, contrast=(1.0, 1.0), gamma=(1.0, 1.0), blur_p=0.0, noise_std=0.0
)


def _square_batch(n: int, side: int = 96, half: int = 16) -> torch.Tensor:
    x = torch.zeros(n, 1, side, side)
    c = side // 2
    x[:, :, c - half : c + half, c - half : c + half] = 1.0
    return x


def _extent(img: torch.Tensor) -> tuple[int, int]:
    """(width, height) of the bright region."""
    mask = img[0] > 0.5
    return int(mask.any(0).sum()), int(mask.any(1).sum())


def test_aspect_jitter_stretches_one_axis_against_the_other():
    cfg = AugmentConfig(scale=(1.0, 1.0), aspect=1.5, **GEOMETRY_ONLY)
    out = augment_batch(_square_batch(64), cfg, torch.Generator().manual_seed(0))
    ratios = np.array([w / h for w, h in map(_extent, out)])
    assert ratios.min() < 0.9 and ratios.max() > 1.1  # both directions occur
    assert ratios.min() > 1 / 1.5 - 0.08 and ratios.max() < 1.5 + 0.08  # never beyond the setting
    areas = np.array([w * h for w, h in map(_extent, out)])
    assert np.all(np.abs(areas / 32**2 - 1) < 0.12)  # stretch keeps the area: it is not a zoom


def test_without_aspect_jitter_a_square_stays_square_and_zoom_follows_scale():
    cfg = AugmentConfig(scale=(1.2, 1.2), **GEOMETRY_ONLY)
    out = augment_batch(_square_batch(8), cfg, torch.Generator().manual_seed(0))
    for w, h in map(_extent, out):
        assert w == h
        assert abs(w / 32 - 1.2) < 0.08  # scale > 1 zooms in


def test_real_film_keeps_shape_range_and_orientation():
    path = next((KERMANY / "train" / "NORMAL").glob("*.jpeg"))
    grey = np.asarray(Image.open(path).convert("L").resize((96, 96)), dtype=np.float32) / 255
    x = torch.from_numpy(grey)[None, None].repeat(16, 1, 1, 1)
    cfg = AugmentConfig(aspect=1.3, scale=(0.85, 1.3))
    out = augment_batch(x.clone(), cfg, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.allclose(out, x)
    original, flipped = x[0, 0].flatten(), x[0, 0].flip(0).flatten()
    for img in out[:, 0]:
        same = torch.corrcoef(torch.stack([img.flatten(), original]))[0, 1]
        upside_down = torch.corrcoef(torch.stack([img.flatten(), flipped]))[0, 1]
        assert same > upside_down  # never a vertical flip: the film stays upright
