"""The single preprocessing path shared by training, evaluation and the app.

resize_to_input -> standardize_intensity -> to_model_input. The trainer inserts its augmentations
between these steps; evaluation and the app call :func:`preprocess`, which chains them unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

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
    def from_dict(cls, d: dict) -> PreprocessConfig:
        return cls(
            input_size=int(d["input_size"]),
            mean=tuple(d["mean"]),
            std=tuple(d["std"]),
            intensity=d.get("intensity", "none"),
        )

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


def to_model_input(pixels: Any, config: PreprocessConfig) -> Any:
    """(..., H, W) grey in [0, 1] -> (..., 3, H, W) normalised with the backbone's own mean/std.

    A numpy array in gives a float32 numpy array out (the app: no torch). The trainer passes torch tensors,
    possibly on a GPU; they are handled through the tensor's own methods, so this module never imports torch
    and both paths compute the same float32 ``(x - mean) / std``.
    """
    if isinstance(pixels, np.ndarray):
        x = np.asarray(pixels, dtype=np.float32)[..., None, :, :]
        x = np.broadcast_to(x, (*x.shape[:-3], 3, *x.shape[-2:]))
        mean = np.asarray(config.mean, dtype=np.float32).reshape(3, 1, 1)
        std = np.asarray(config.std, dtype=np.float32).reshape(3, 1, 1)
        return np.ascontiguousarray((x - mean) / std, dtype=np.float32)
    t = pixels.float()
    t = t.unsqueeze(-3).expand(*t.shape[:-2], 3, *t.shape[-2:])
    mean = t.new_tensor(config.mean).view(3, 1, 1)  # on the input's device
    std = t.new_tensor(config.std).view(3, 1, 1)
    return (t - mean) / std


def preprocess(pixels: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """A study's display pixels (H, W) in [0, 1] -> model input (3, S, S) float32."""
    resized = resize_to_input(pixels, config.input_size)
    return to_model_input(standardize_intensity(resized, config.intensity), config)
