"""The Grad-CAM layer's output and the positive class's w . A in PyTorch: the map the shipped graph's ``cam``
output computes (trainer/onnx_export.py), for the faithfulness measurements and explanation-guided training."""

from __future__ import annotations

import torch
import torch.nn as nn

from cxrviewer.core.architectures import get_architecture


class ActivationCapture:
    """Keeps the last output of a module (the Grad-CAM layer) from a forward hook."""

    def __init__(self, module: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self._handle = module.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output) -> None:
        self.value = output

    def close(self) -> None:
        self._handle.remove()


def map_layer_and_head(net: nn.Module, arch_name: str) -> tuple[nn.Module, nn.Linear]:
    """The architecture's Grad-CAM layer and its linear head: what W_c . A is computed from."""
    arch = get_architecture(arch_name)
    head = net.get_submodule(arch.head_path)
    assert isinstance(head, nn.Linear)
    return net.get_submodule(arch.gradcam_layer), head


def map_weight(net: nn.Module, head: nn.Linear, class_index: int) -> torch.Tensor:
    """The channel weights w of the class's map w . A: W_c after global-average pooling; W_c - W_other after
    top-cell pooling, whose logit is the pooled per-cell log-odds (trainer/cell_evidence.py)."""
    from .cell_evidence import TopCellPooled, evidence_weight

    if isinstance(net, TopCellPooled):
        return evidence_weight(head, class_index)[0]
    return head.weight[class_index]


def class_cam(weight: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
    """(N, K, h, w) Grad-CAM layer output -> (N, h, w) raw w . A (before ReLU and scaling); ``weight`` from
    :func:`map_weight`."""
    return torch.einsum("k,nkhw->nhw", weight, activations)
