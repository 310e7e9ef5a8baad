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
    if spec.output_stride not in (16, 32):
        raise ValueError(f"{arch}: output stride {spec.output_stride} is not built (16 or 32)")
    dilate = spec.output_stride == 16
    if spec.constructor.startswith("resnet"):
        # torchvision's own switch: layer4 at stride 1, dilation 2 (same parameters)
        kwargs = {"replace_stride_with_dilation": [False, False, dilate]}
        model = getattr(torchvision.models, spec.constructor)(weights=None, **kwargs)
    else:
        model = getattr(torchvision.models, spec.constructor)(weights=None)
        if dilate:
            dilate_last_stage(model, spec.constructor)
    head = model.get_submodule(spec.head_path)
    set_submodule(model, spec.head_path, nn.Linear(head.in_features, num_classes))
    if spec.pooling == "top-cells" and spec.window_margin is not None:
        from .cell_windows import CellWindowPooled

        return CellWindowPooled(model, spec.constructor, spec.head_path, spec.top_fraction, spec.window_margin)
    if spec.pooling == "top-cells":
        from .cell_evidence import TopCellPooled

        return TopCellPooled(model, spec.constructor, spec.head_path, spec.top_fraction)
    if spec.pooling != "average":
        raise ValueError(f"{arch}: pooling {spec.pooling!r} is not built")
    return model


# MobileNetV2's last stride-2 block and the blocks after it that share its stride-32 resolution
_MOBILENET_V2_LAST_STAGE = range(14, 18)


def dilate_last_stage(model: nn.Module, constructor: str) -> None:
    """Stride 1 and dilation 2 in the last stage's 3x3 depthwise convolutions (DeepLab's atrous trick):
    output stride 32 -> 16, every weight unchanged, so ImageNet or stride-32 weights load as they are."""
    if constructor != "mobilenet_v2":
        raise ValueError(f"no dilated variant of {constructor}")
    for index in _MOBILENET_V2_LAST_STAGE:
        for conv in model.get_submodule(f"features.{index}").modules():
            if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
                conv.stride, conv.dilation, conv.padding = (1, 1), (2, 2), (2, 2)


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
