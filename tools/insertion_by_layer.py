"""The insertion test (trainer/explanations.py) with Grad-CAM taken at earlier layers of a bundle's model.

    .venv/bin/python tools/insertion_by_layer.py --bundle resources/models/NAME [--layers features.18 features.13]

An earlier layer's cells see less of the film. If its map carries evidence that stays put when moved, its hot
region should win more pairs than the last layer's. The app draws the last layer's map, which it can compute
exactly from one ONNX forward pass; an earlier layer's map needs the gradient, so this is a measurement for
choosing what to build, not something the app shows. P(pneumonia) here is the PyTorch model's softmax
(uncalibrated), so compare layers with each other, not with the card.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cxrviewer.core import to_model_input  # noqa: E402
from cxrviewer.core.architectures import get_architecture  # noqa: E402
from trainer.cam_capture import ActivationCapture  # noqa: E402
from trainer.data import scan_images  # noqa: E402
from trainer.explanations import insertion_films, insertion_test  # noqa: E402
from trainer.models import load_torch_model  # noqa: E402


def gradcam_scorer(model, layer, positive: int, config):
    """grey (N, S, S) -> (softmax P(positive), Grad-CAM at the layer's own grid before upsampling)."""

    def score(grey: np.ndarray):
        capture = ActivationCapture(layer)
        try:
            x = torch.from_numpy(to_model_input(np.asarray(grey, dtype=np.float32), config))
            logits = model(x)
            a = capture.value
            assert a is not None
            grads = torch.autograd.grad(logits[:, positive].sum(), a)[0]
            cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * a).sum(1))
        finally:
            capture.close()
        return torch.softmax(logits.detach(), 1)[:, positive].numpy(), cam.detach().numpy()

    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "kermany224" / "test_public"))
    ap.add_argument("--layers", nargs="+", default=None, help="module paths (default: Grad-CAM layer, 3 earlier)")
    args = ap.parse_args()
    card, model = load_torch_model(Path(args.bundle))
    model.eval()
    config = card.preprocess
    arch = get_architecture(card.architecture)
    layers = args.layers or [arch.gradcam_layer, "features.16", "features.13", "features.10"]
    _, pos, neg = insertion_films(scan_images(args.data), card.positive_index, config.input_size)  # as evaluate
    out = {}
    for path in layers:
        result = insertion_test(gradcam_scorer(model, model.get_submodule(path), card.positive_index, config), pos, neg)
        out[path] = {k: result[k] for k in ("grid", "win_rate", "mean_gain", "mean_p_hot", "mean_p_random")}
        out[path]["shape_matched_control"] = result["shape_matched_control"]
        out[path]["seam_control"] = result["seam_control"]
        print(path, json.dumps(out[path]), flush=True)


if __name__ == "__main__":
    main()
