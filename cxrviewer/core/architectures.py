"""The one registry of architectures a bundle may use, as data (no torch import: the app reads it too).

Each entry names its torchvision constructor, the classifier's module path, the Grad-CAM layer (the last
feature block, right before global-average-pool -> (dropout) -> linear), a display name and the torchvision
ImageNet weights enum. The trainer builds models from it (``trainer.models``); the app only shows names.

``output_stride`` 16 means the last stage runs at stride 1 with dilated (atrous) 3x3 convolutions: the same
parameters as the stride-32 network (ImageNet weights load unchanged), a map twice as fine on each axis, and
the head still global-average-pool -> linear, so the graph's ``cam`` output stays exact Grad-CAM.

``pooling`` "top-cells" (``trainer/cell_evidence.py``) applies the linear head to every cell of the Grad-CAM
layer's map: each cell's log-odds of the positive class, and the film's log-odds is the mean of its hottest
``top_fraction`` of cells (multiple-instance pooling: a film is as abnormal as its most abnormal regions).
Grad-CAM's channel weights (the spatial mean of the gradient) are then (W_pos - W_neg) / (H*W) exactly, so
the graph's ``cam`` output, (W_pos - W_neg) . A, is still exact Grad-CAM up to a positive factor.
``window_margin``: the deep blocks see one small window of the film per cell (``trainer/cell_windows.py``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str
    display_name: str
    constructor: str  # attribute of torchvision.models
    head_path: str  # the final nn.Linear
    gradcam_layer: str  # module whose output feeds global-average-pool -> head
    torchvision_weights: str  # enum in torchvision.models holding its ImageNet weights
    output_stride: int = 32  # 16: last stage dilated (trainer.models.build_model)
    pooling: str = "average"  # "average": GAP -> linear; "top-cells": linear per cell -> mean of the top cells
    top_fraction: float = 0.0  # "top-cells": the fraction of the map's cells whose mean is the film's log-odds
    window_margin: int | None = None  # cell windows (trainer/cell_windows.py): stride-8 positions around a cell


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "mobilenet_v2", "MobileNetV2", "mobilenet_v2", "classifier.1", "features.18", "MobileNet_V2_Weights"
        ),
        Architecture("resnet50", "ResNet50", "resnet50", "fc", "layer4.2", "ResNet50_Weights"),
        Architecture("resnet18", "ResNet18", "resnet18", "fc", "layer4.1", "ResNet18_Weights"),
        Architecture(
            "mobilenet_v2_os16",
            "MobileNetV2 (dilated)",
            "mobilenet_v2",
            "classifier.1",
            "features.18",
            "MobileNet_V2_Weights",
            output_stride=16,
        ),
        Architecture(
            "mobilenet_v2_os16_topcells",
            "MobileNetV2 (dilated, top cells)",
            "mobilenet_v2",
            "classifier.1",
            "features.18",
            "MobileNet_V2_Weights",
            output_stride=16,
            pooling="top-cells",
            top_fraction=0.1,
        ),
        # cell windows (trainer/cell_windows.py), pooling the top 10 / 20 / 30 % of the 7x7 cells
        *(
            Architecture(
                name,
                "MobileNetV2 (local map)",
                "mobilenet_v2",
                "classifier.1",
                "cell_map",
                "MobileNet_V2_Weights",
                pooling="top-cells",
                top_fraction=fraction,
                window_margin=1,
            )
            for name, fraction in (
                ("mobilenet_v2_cellwindows", 0.1),
                ("mobilenet_v2_cellwindows_top20", 0.2),
                ("mobilenet_v2_cellwindows_top30", 0.3),
            )
        ),
        Architecture(
            "resnet50_os16",
            "ResNet50 (dilated)",
            "resnet50",
            "fc",
            "layer4.2",
            "ResNet50_Weights",
            output_stride=16,
        ),
    )
}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None


def display_name(name: str) -> str:
    arch = ARCHITECTURES.get(name)
    return arch.display_name if arch else name
