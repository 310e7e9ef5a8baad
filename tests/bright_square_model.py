"""A tiny real PyTorch classifier whose evidence is known: it scores how bright the brightest cell is.

``features`` averages the grey input over square cells (a stride-``cell`` average pool of channel 0) and
sharpens it, then global-average-pool -> linear: the architecture Grad-CAM is exact for. A bright square
on a dark film is therefore the only evidence for the positive class, and a faithful map must point at it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from cxrviewer.core.preprocess import PreprocessConfig, to_model_input

CONFIG = PreprocessConfig(112, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "none")


class CellBrightness(nn.Module):
    """(N, 3, S, S) -> (N, 1, S/cell, S/cell): exp(k * mean brightness of each cell) (a soft max-pool)."""

    def __init__(self, cell: int = 16, sharpness: float = 6.0):
        super().__init__()
        self.pool = nn.AvgPool2d(cell)
        self.sharpness = nn.Parameter(torch.tensor(sharpness))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.sharpness * self.pool(x[:, :1]))


class BrightSquareNet(nn.Module):
    def __init__(self, cell: int = 16):
        super().__init__()
        self.features = CellBrightness(cell)
        self.classifier = nn.Linear(1, 2)
        with torch.no_grad():  # P(positive) rises with the cells' brightness; a dark film is negative
            self.classifier.weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.classifier.bias.copy_(torch.tensor([1.0, -1.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def to_input(grey: np.ndarray) -> np.ndarray:
    return to_model_input(np.asarray(grey, dtype=np.float32), CONFIG)


def film_with_square(rng, size: int = 112, top: int = 0, left: int = 0, side: int = 24) -> np.ndarray:
    """A dim, textured (size, size) film with one bright square at (top, left)."""
    film = (0.15 + 0.1 * rng.random((size, size))).astype(np.float32)
    film[top : top + side, left : left + side] = 0.95
    return film
