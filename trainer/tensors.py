"""The training pool as tensors: the in-RAM image cache, batches of it, and batched prediction.

Split out of trainer/train.py (the training loop); everything here feeds ``model_batch``, which applies the
same steps as the app's ``preprocess()``.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn as nn

from cxrviewer.core import PreprocessConfig, load_study, resize_to_input, standardize_intensity, to_model_input

from .data import CLASS_NAMES, POSITIVE_CLASS, ImageRecord


def load_cache(records: list[ImageRecord], size: int, workers: int = min(8, os.cpu_count() or 1)) -> torch.Tensor:
    """All images at the model's input size as uint8 (N, S, S), via the core loader and resize."""

    def one(r: ImageRecord) -> np.ndarray:
        return np.round(resize_to_input(load_study(r.path).pixels, size) * 255).astype(np.uint8)

    if not records:  # one rank's share of a split smaller than the world
        return torch.empty((0, size, size), dtype=torch.uint8)
    with ThreadPoolExecutor(workers) as pool:
        return torch.from_numpy(np.stack(list(pool.map(one, records))))


def image_batches(images, batch_size: int):
    """Consecutive uint8 batches of an in-RAM cache (a tensor) or of a streaming source (trainer.streaming)."""
    if isinstance(images, torch.Tensor):
        for i in range(0, images.shape[0], batch_size):
            yield images[i : i + batch_size]
    else:
        yield from images.batches(batch_size)


def model_batch(x_uint8_or_float: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """(N, S, S) or (N, 1, S, S) grey batch -> normalised (N, 3, S, S), the same steps as preprocess()."""
    x = x_uint8_or_float
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.reshape(x.shape[0], x.shape[-2], x.shape[-1])
    if config.intensity != "none":
        x = torch.stack([torch.from_numpy(standardize_intensity(img.cpu().numpy(), config.intensity)) for img in x]).to(
            x.device
        )
    return to_model_input(x, config)


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: torch.Tensor, config: PreprocessConfig, device: str, batch_size: int = 128
) -> np.ndarray:
    model.eval()
    dtype = next(model.parameters()).dtype
    out = []
    for batch in image_batches(images, batch_size):
        x = model_batch(batch, config).to(device)
        if dtype != torch.float32:  # a --dtype float64 reference run
            x = x.to(dtype)
        if device == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out.append(model(x).float().cpu())
        else:
            out.append(model(x).float())
    if not out:  # an empty shard (distributed evaluation of a split smaller than the world)
        return np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)
    return torch.cat(out).numpy()


def softmax_positive(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(positive class) per row; the positive class is the data contract's (trainer.data.POSITIVE_CLASS)."""
    positive = CLASS_NAMES.index(POSITIVE_CLASS)
    return torch.softmax(torch.as_tensor(logits) / temperature, dim=1)[:, positive].numpy()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
