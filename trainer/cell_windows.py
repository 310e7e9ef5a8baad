"""Cell windows: a top-cell MobileNetV2 whose deep blocks see one small window of the film per map cell.

Top-cell pooling alone did not make cells read their own tissue: MobileNetV2's deep blocks see far more than the
whole 112 px film (a receptive field of 523 px), and after fine-tuning every cell of a film carried nearly the
same log-odds (docs/experiments.md). Here the early blocks (``features.0``-``features.6``, stride 8, a receptive
field of 59 px) run on the whole film; their map is then cut into one window per cell of the 7x7 grid (the
cell's 2x2 positions and ``margin`` positions around it, zero-padded at the film's edge), and the deep blocks
(``features.7``-``features.18``) run on each window alone, pooled to one 1280-d vector per cell. A cell's
log-odds thus depends only on the film within 16 + 2 * 8 * margin px of it, widened by the early blocks'
receptive field; nothing else on the film reaches it. The head and the pooling are
:class:`~trainer.cell_evidence.TopCellPooled`'s, so the map stays exact Grad-CAM (at ``cell_map``, the (N, 1280,
7, 7) map of the cells' vectors). The parameters are MobileNetV2's own: any MobileNetV2 bundle's weights load.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cell_evidence import TopCellPooled

EARLY_BLOCKS = 7  # features.0-6: stride 8
CELL = 2  # a map cell is 2x2 positions of the stride-8 map: 16 px of the film


class CellWindowPooled(TopCellPooled):
    def __init__(self, backbone: nn.Module, constructor: str, head_path: str, top_fraction: float, margin: int):
        if constructor != "mobilenet_v2":
            raise ValueError(f"cell windows are built for MobileNetV2, not {constructor}")
        super().__init__(backbone, constructor, head_path, top_fraction)
        self.margin = margin
        self.cell_map = nn.Identity()  # the Grad-CAM layer: its output is the (N, C, h, w) map of cell vectors

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        blocks = cast(nn.Sequential, self.get_submodule("features"))
        early = blocks[:EARLY_BLOCKS](x)
        n, c, h, w = early.shape
        if h % CELL or w % CELL:
            raise ValueError(f"input {tuple(x.shape[-2:])}: the stride-8 map {h}x{w} does not split into 2x2 cells")
        m, rows, cols = self.margin, h // CELL, w // CELL
        padded = F.pad(early, (m, m, m, m))
        side = CELL + 2 * m
        windows = torch.stack(
            [
                padded[:, :, r * CELL : r * CELL + side, q * CELL : q * CELL + side]
                for r in range(rows)
                for q in range(cols)
            ],
            dim=1,
        ).flatten(0, 1)  # (N * rows * cols, C, side, side)
        deep = blocks[EARLY_BLOCKS:](windows).mean(dim=(2, 3))  # one vector per window
        cells = deep.view(n, rows, cols, -1).permute(0, 3, 1, 2).contiguous()
        return self.cell_map(cells)
