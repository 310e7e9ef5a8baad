"""Batch augmentation suited to chest films: small affine, photometric jitter; never vertical flips."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 7.0
    scale: tuple[float, float] = (0.9, 1.1)
    # Films are squashed to square from varied original aspect ratios; stretching one axis by up to this
    # factor (log-uniform) mimics other originals. 1.0 = off.
    aspect: float = 1.0
    translate: float = 0.06  # fraction of the side
    brightness: float = 0.1  # additive, in [0, 1] units
    contrast: tuple[float, float] = (0.8, 1.2)
    gamma: tuple[float, float] = (0.7, 1.4)
    blur_p: float = 0.3  # probability of a Gaussian blur, sigma up to blur_sigma pixels (input grid)
    blur_sigma: float = 1.5
    noise_std: float = 0.02


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """x: (N, 1, S, S) grey in [0, 1] -> augmented, same shape and range."""
    n = x.shape[0]
    dev = x.device

    def uniform(lo, hi, *shape):
        return torch.rand(n, *shape, generator=generator, device="cpu").to(dev) * (hi - lo) + lo

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    scale = uniform(*cfg.scale)
    stretch = torch.exp(uniform(-math.log(cfg.aspect), math.log(cfg.aspect)))
    sx, sy = scale * stretch.sqrt(), scale / stretch.sqrt()
    tx, ty = uniform(-cfg.translate, cfg.translate) * 2, uniform(-cfg.translate, cfg.translate) * 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output to input coordinates: rotation then inverse scale per axis.
    theta = torch.stack([torch.stack([cos / sx, -sin / sx, tx], 1), torch.stack([sin / sy, cos / sy, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    gamma = uniform(*cfg.gamma).view(n, 1, 1, 1)
    x = x.clamp(0, 1) ** gamma
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * uniform(*cfg.contrast).view(n, 1, 1, 1) + mean
    x = x + uniform(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1)
    if cfg.blur_p > 0:
        x = _random_blur(x, cfg, generator)
    if cfg.noise_std > 0:
        x = x + torch.randn(x.shape, generator=generator).to(dev) * uniform(0, cfg.noise_std).view(n, 1, 1, 1)
    return x.clamp(0, 1)


def _random_blur(x: torch.Tensor, cfg: AugmentConfig, generator) -> torch.Tensor:
    n = x.shape[0]
    chosen = (torch.rand(n, generator=generator) < cfg.blur_p).nonzero().flatten()
    radius = max(1, math.ceil(cfg.blur_sigma * 2))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    for i in chosen.tolist():
        sigma = float(torch.rand(1, generator=generator)) * (cfg.blur_sigma - 0.3) + 0.3
        k = torch.exp(-(offsets**2) / (2 * sigma**2))
        k = (k / k.sum()).to(x.device)
        img = x[i : i + 1]
        img = F.conv2d(F.pad(img, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        img = F.conv2d(F.pad(img, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
        x[i : i + 1] = img
    return x


def cutmix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    p: float,
    generator: torch.Generator | None = None,
    area: tuple[float, float] = (0.1, 0.5),
) -> tuple[torch.Tensor, torch.Tensor]:
    """CutMix (Yun et al. 2019) on (N, 1, S, S) films: with probability ``p`` an image gets a rectangle of
    another film of the batch, at the same place (the films are roughly aligned), and its target becomes
    the area-weighted mix of both labels. The model must then find evidence where it lies, not in the
    framing or a marker: CutMix is known to sharpen class-activation maps. Returns (x, soft targets)."""
    n, _, h, w = x.shape
    targets = F.one_hot(y, num_classes).float()
    if p <= 0 or n < 2:
        return x, targets
    x = x.clone()
    partner = torch.randperm(n, generator=generator)
    chosen = (torch.rand(n, generator=generator) < p).nonzero().flatten().tolist()
    for i in chosen:
        j = int(partner[i])
        if j == i:
            continue
        u = torch.rand(4, generator=generator)
        fraction = float(u[0]) * (area[1] - area[0]) + area[0]
        ratio = math.exp((float(u[1]) * 2 - 1) * math.log(1.5))  # rectangle aspect within 1/1.5 .. 1.5
        rh = min(h, max(1, round(math.sqrt(fraction * ratio) * h)))
        rw = min(w, max(1, round(math.sqrt(fraction / ratio) * w)))
        top, left = int(float(u[2]) * (h - rh + 1)), int(float(u[3]) * (w - rw + 1))
        x[i, :, top : top + rh, left : left + rw] = x[j, :, top : top + rh, left : left + rw]
        pasted = rh * rw / (h * w)
        targets[i] = (1 - pasted) * targets[i] + pasted * targets[j]
    return x, targets
