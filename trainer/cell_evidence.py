"""Top-cell pooling: the film's log-odds is the mean of its most abnormal cells (``pooling="top-cells"``).

Global-average pooling lets a film's score come from everywhere at once: a little haze over both lungs, the
heart's outline, framing. Its Grad-CAM then names no region that carries the score, and pasting the map's
hottest 20 % onto a normal film moved P(pneumonia) no more than pasting random cells (docs/experiments.md).
Here the linear head is applied to every cell of the Grad-CAM layer's map, giving each cell's log-odds of the
positive class, and the film's log-odds is the mean of the ``top_fraction`` highest cells: the multiple-instance
reading of a film (pneumonia if some region shows it; normal only if every region is normal).

The map stays exact Grad-CAM. With ``s = mean_top_k(e)``, ``e = (W_pos - W_neg) . A + (b_pos - b_neg)`` and
logits ``(0, s)``, the gradient of the positive logit at cell (i, j) is ``(W_pos - W_neg) * pi_ij`` (pi_ij = 1/k
on the top k cells, else 0), whose spatial mean, Grad-CAM's channel weight, is ``(W_pos - W_neg) / (H*W)``:
Grad-CAM = ReLU((W_pos - W_neg) . A) up to a positive factor. ``trainer export`` proves it against
pytorch-grad-cam per bundle, as for the average-pooled models.
"""

from __future__ import annotations

import torch
import torch.nn as nn

POSITIVE_INDEX = 1  # (NORMAL, PNEUMONIA): the pooled log-odds is the PNEUMONIA logit, NORMAL's is 0


def top_cell_count(cells: int, top_fraction: float) -> int:
    """How many of ``cells`` cells are averaged (at least one)."""
    return max(1, int(round(top_fraction * cells)))


def evidence_weight(head: nn.Linear, positive_index: int = POSITIVE_INDEX) -> tuple[torch.Tensor, torch.Tensor]:
    """(W_pos - W_neg, b_pos - b_neg) of a two-class linear head: a cell's log-odds is w . a + b."""
    if head.out_features != 2:
        raise ValueError(f"top-cell pooling needs a two-class head, not {head.out_features} outputs")
    w, b = head.weight, head.bias
    other = 1 - positive_index
    return w[positive_index] - w[other], b[positive_index] - b[other]


class TopCellPooled(nn.Module):
    """A torchvision backbone whose GAP -> linear head is replaced by linear-per-cell -> mean of the top cells.

    It holds the backbone's own children under their own names, so its state dict is the average-pooled
    model's: the weights of a GAP bundle load unchanged (and the other way round)."""

    def __init__(self, backbone: nn.Module, constructor: str, head_path: str, top_fraction: float):
        super().__init__()
        if not 0 < top_fraction <= 1:
            raise ValueError(f"top_fraction {top_fraction} is not in (0, 1]")
        for name, child in backbone.named_children():
            self.add_module(name, child)
        self.constructor = constructor
        self.head_path = head_path
        self.top_fraction = top_fraction

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The Grad-CAM layer's output (N, C, h, w)."""
        if self.constructor == "mobilenet_v2":
            return self.get_submodule("features")(x)
        if self.constructor.startswith("resnet"):
            for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
                x = self.get_submodule(name)(x)
            return x
        raise ValueError(f"top-cell pooling is not built for {self.constructor}")

    def cell_log_odds(self, a: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, h, w): the head applied to every cell (after the head's dropout, if any)."""
        parent_path, _, _ = self.head_path.rpartition(".")
        if parent_path:  # torchvision's classifier = Sequential(Dropout, Linear): dropout acts per feature
            for module in self.get_submodule(parent_path).children():
                if isinstance(module, nn.Dropout):
                    a = module(a)
        head = self.get_submodule(self.head_path)
        assert isinstance(head, nn.Linear)
        w, b = evidence_weight(head)
        return torch.einsum("k,nkhw->nhw", w, a) + b

    def forward_with_cells(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (N, 2), each cell's log-odds (N, h, w)) from one forward pass."""
        cells = self.cell_log_odds(self.feature_map(x))
        e = cells.flatten(1)
        k = top_cell_count(int(e.shape[1]), self.top_fraction)
        s = e.topk(k, dim=1).values.mean(dim=1)
        return torch.stack([torch.zeros_like(s), s], dim=1), cells

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_cells(x)[0]
