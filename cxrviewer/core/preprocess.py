"""The single preprocessing path shared by training, evaluation and the app.

resize_to_input -> standardize_intensity -> to_model_input. The trainer inserts its augmentations
between these steps; evaluation and the app call :func:`preprocess`, which chains them unchanged.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps

if TYPE_CHECKING:
    import torch

INTENSITY_MODES = ("none", "equalize")


@dataclass(frozen=True)
class PreprocessConfig:
    input_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    intensity: str = "none"  # per-image intensity standardisation, see standardize_intensity

    def __post_init__(self):
        if self.intensity not in INTENSITY_MODES:
            raise ValueError(f"intensity must be one of {INTENSITY_MODES}, got {self.intensity!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessConfig":
        return cls(input_size=int(d["input_size"]), mean=tuple(d["mean"]), std=tuple(d["std"]),
                   intensity=d.get("intensity", "none"))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def resize_to_input(pixels: np.ndarray, size: int) -> np.ndarray:
    """Squash a (H, W) float image to (size, size) with no crop, as the Kermany 224 px files were made.

    Pillow's bilinear filter widens its support when shrinking (antialiasing), so a 2000 px original
    and its 224 px copy land on nearly the same input.
    """
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def standardize_intensity(pixels: np.ndarray, mode: str) -> np.ndarray:
    """Per-image intensity standardisation: 'none' or 'equalize' (histogram equalisation)."""
    if mode == "none":
        return pixels
    if mode == "equalize":
        as_uint8 = Image.fromarray(np.round(pixels * 255.0).astype(np.uint8), mode="L")
        return np.asarray(ImageOps.equalize(as_uint8), dtype=np.float32) / 255.0
    raise ValueError(f"unknown intensity mode {mode!r}")


def to_model_input(pixels: torch.Tensor | np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """(…, H, W) grey in [0, 1] -> (…, 3, H, W) normalised with the backbone's own mean/std."""
    import torch  # here, not at module level: the viewer shows its window before torch is imported

    t = torch.as_tensor(pixels, dtype=torch.float32)
    t = t.unsqueeze(-3).expand(*t.shape[:-2], 3, *t.shape[-2:])
    # on the input's device: the trainer normalises batches already on the GPU
    mean = torch.tensor(config.mean, dtype=torch.float32, device=t.device).view(3, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32, device=t.device).view(3, 1, 1)
    return (t - mean) / std


def preprocess(pixels: np.ndarray, config: PreprocessConfig) -> torch.Tensor:
    """A study's display pixels (H, W) in [0, 1] -> model input (3, S, S)."""
    resized = resize_to_input(pixels, config.input_size)
    return to_model_input(standardize_intensity(resized, config.intensity), config)
