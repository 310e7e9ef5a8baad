"""PyTorch models from the architecture registry, and a bundle's PyTorch weights (verified by sha256)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from cxrviewer.core.architectures import get_architecture
from cxrviewer.core.bundle import sha256_file, verified_file
from cxrviewer.core.model_card import ModelCard

WEIGHTS_FILE = "weights.pt"


def build_model(arch: str, num_classes: int = 2) -> nn.Module:
    """An untrained ``arch`` with a ``num_classes`` head (weights come from a bundle or the trainer)."""
    spec = get_architecture(arch)
    model = getattr(torchvision.models, spec.constructor)(weights=None)
    head = model.get_submodule(spec.head_path)
    set_submodule(model, spec.head_path, nn.Linear(head.in_features, num_classes))
    return model


def classifier_path(arch: str) -> str:
    return get_architecture(arch).head_path


def gradcam_layer(model: nn.Module, arch: str) -> nn.Module:
    return model.get_submodule(get_architecture(arch).gradcam_layer)


def set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, leaf, module)


def load_torch_model(bundle_dir: str | Path) -> tuple[ModelCard, nn.Module]:
    """The bundle's card and its PyTorch model (CPU, eval, float32), refusing weights whose sha256 differs."""
    bundle_dir = Path(bundle_dir)
    card = ModelCard.read(bundle_dir)
    path = verified_file(bundle_dir, card, card.weights_file, card.weights_sha256, "weights")
    return card, load_weights(path, card.architecture, len(card.class_names), card.name)


def load_weights(path: Path, arch: str, num_classes: int, name: str = "") -> nn.Module:
    from cxrviewer.core.errors import BundleError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model = build_model(arch, num_classes)
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as exc:  # weights that pass the hash but do not fit the architecture
        raise BundleError(f"{name or path.parent.name}: weights do not load into {arch} ({exc})") from exc
    return model.eval()


def write_weights(bundle_dir: Path, model: nn.Module, half: bool) -> tuple[str, str, str]:
    """Save the state dict (float16 storage if ``half``); returns (file name, sha256, dtype)."""
    bundle_dir.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu() for k, v in model.state_dict().items()
    }
    path = bundle_dir / WEIGHTS_FILE
    torch.save(state, path)
    return path.name, sha256_file(path), "float16" if half else "float32"
