"""Backbones the bundles may use: torchvision constructors, never downloading weights."""
from __future__ import annotations

import torch.nn as nn
import torchvision

# name -> (constructor, classifier attribute path, Grad-CAM target layer path)
ARCHITECTURES = {
    "mobilenet_v2": (torchvision.models.mobilenet_v2, "classifier.1", "features.18"),
    "resnet50": (torchvision.models.resnet50, "fc", "layer4.2"),
    "resnet18": (torchvision.models.resnet18, "fc", "layer4.1"),
}


def build_model(arch: str, num_classes: int = 2) -> nn.Module:
    """An untrained ``arch`` with a ``num_classes`` head (weights come from a bundle or the trainer)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    constructor, head_path, _ = ARCHITECTURES[arch]
    model = constructor(weights=None)
    head = get_submodule(model, head_path)
    set_submodule(model, head_path, nn.Linear(head.in_features, num_classes))
    return model


def gradcam_layer(model: nn.Module, arch: str) -> nn.Module:
    return get_submodule(model, ARCHITECTURES[arch][2])


def classifier_path(arch: str) -> str:
    return ARCHITECTURES[arch][1]


def get_submodule(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path)


def set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, leaf, module)
