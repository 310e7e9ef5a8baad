"""Model initialisation for training: ImageNet weights (local only), scratch, or a state-dict file."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from cxrviewer.core.architectures import get_architecture

from .models import build_model, classifier_path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MOBILENET = REPO_ROOT.parent / "shared" / "weights" / "mobilenet_v2_imagenet_coral_quant.pth"

# Normalisation each ImageNet source was trained with. The shared MobileNetV2 (TF-slim) expects [-1, 1].
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
TF_MEAN_STD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


class InitError(RuntimeError):
    pass


def imagenet_state_dict(arch: str, weights_path: str | Path | None) -> tuple[dict, tuple, str, bool]:
    """(state dict, (mean, std), provenance text, batchnorm_folded) for ImageNet init, never downloading."""
    if weights_path:
        path = Path(weights_path)
        if not path.is_file():
            raise InitError(f"--imagenet-weights {path}: no such file")
        folded = get_architecture(arch).constructor == "mobilenet_v2" and path.resolve() == SHARED_MOBILENET.resolve()
        mean_std = TF_MEAN_STD if folded else IMAGENET_MEAN_STD
        return torch.load(path, map_location="cpu", weights_only=True), mean_std, f"file {path.name}", folded
    if get_architecture(arch).constructor == "mobilenet_v2" and SHARED_MOBILENET.is_file():
        sd = torch.load(SHARED_MOBILENET, map_location="cpu", weights_only=True)
        return sd, TF_MEAN_STD, f"ImageNet, {SHARED_MOBILENET.name} (TF-slim, BatchNorm folded)", True
    import torchvision

    enum_name = get_architecture(arch).torchvision_weights
    weights = getattr(torchvision.models, enum_name).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        raise InitError(
            f"--init imagenet: no ImageNet weights for {arch} on this machine (looked for {cached}; "
            "this program never downloads). Pass --imagenet-weights PATH, or train with --init scratch."
        )
    return (
        torch.load(cached, map_location="cpu", weights_only=True),
        IMAGENET_MEAN_STD,
        f"ImageNet, torchvision {weights}",
        False,
    )


def init_model(arch: str, init: str, num_classes: int = 2, imagenet_weights: str | None = None):
    """Returns (model, (mean, std), provenance, batchnorm_folded)."""
    model = build_model(arch, num_classes)
    if init == "scratch":
        return model, IMAGENET_MEAN_STD, "random initialisation (trained from scratch)", False
    if init == "imagenet":
        state, mean_std, provenance, folded = imagenet_state_dict(arch, imagenet_weights)
    else:
        path = Path(init)
        if not path.is_file():
            raise InitError(f"--init {init}: expected imagenet, scratch or an existing weights file")
        state = torch.load(path, map_location="cpu", weights_only=True)
        card = bundle_card_beside(path)
        if card is not None:
            # fine-tuning a shipped bundle: keep its classifier and its own normalisation (e.g. with the last
            # stage dilated, see cxrviewer.core.architectures); the weights are the same shapes
            model.load_state_dict({k: v.float() for k, v in state.items()})
            mean_std = (tuple(card.preprocess.mean), tuple(card.preprocess.std))
            return model, mean_std, fine_tuned_provenance(card), False
        mean_std, provenance, folded = IMAGENET_MEAN_STD, f"file {path.name}", False
    head = classifier_path(arch)
    backbone_state = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    missing, unexpected = model.load_state_dict(backbone_state, strict=False)
    missing = [k for k in missing if not k.startswith(head + ".")]
    if missing or unexpected:
        raise InitError(f"weights do not fit {arch}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model, mean_std, provenance, folded


def fine_tuned_provenance(card) -> str:
    """The source bundle's own init first (the model menu reads it: "ImageNet init", "from scratch")."""
    first = str(card.training.get("init", "")) or "unknown init"
    return f"{first}; then fine-tuned from bundle {card.name} ({card.architecture})"


def bundle_card_beside(weights: Path):
    """The model card of the bundle a weights file belongs to (model.json beside it), else None."""
    from cxrviewer.core.errors import BundleError
    from cxrviewer.core.model_card import ModelCard

    if not (weights.parent / "model.json").is_file():
        return None
    try:
        return ModelCard.read(weights.parent)
    except BundleError:
        return None


@torch.no_grad()
def reestimate_folded_batchnorm(model: nn.Module, batches) -> int:
    """Give folded BatchNorm layers real statistics without changing the eval-mode function.

    Folded layers hold mean 0, var 1, weight 1. Measure each layer's input mean/var (eval mode, so every
    layer sees exactly the activations the pretrained net produces), then set running stats to them and
    gamma = sqrt(var + eps), beta = mean + folded bias: eval output stays x + bias, and train-mode batch
    statistics now match the running ones, so fine-tuning does not wipe the features.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    sums: dict[nn.BatchNorm2d, list] = {m: [0.0, 0.0, 0] for m in bns}

    def hook(module, inputs, _output):
        x = inputs[0].double()
        s = sums[module]
        s[0] = s[0] + x.sum(dim=(0, 2, 3))
        s[1] = s[1] + (x * x).sum(dim=(0, 2, 3))
        s[2] += x.numel() // x.shape[1]

    handles = [m.register_forward_hook(hook) for m in bns]
    model.eval()
    for batch in batches:
        model(batch)
    for h in handles:
        h.remove()
    for m, (s1, s2, n) in sums.items():
        assert m.running_mean is not None and m.running_var is not None  # BatchNorm2d tracks statistics
        mean: torch.Tensor = s1 / n
        var = (s2 / n - mean * mean).clamp_min(0)
        folded_bias = m.bias.clone()
        m.running_mean.copy_(mean.float())
        m.running_var.copy_(var.float())
        m.weight.copy_(torch.sqrt(var + m.eps).float())
        m.bias.copy_(mean.float() + folded_bias)
    return len(bns)
