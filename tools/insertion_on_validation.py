"""The insertion test and its controls (trainer/explanations.py) on a run's own validation split.

    .venv/bin/python tools/insertion_on_validation.py --run runs/RUN --arch ARCH [--weights best.pt]

``--weights`` is relative to the run folder or absolute (a bundle's ``weights.pt`` on the same patient split:
every recipe here uses seed 0, so every run's ``splits.csv`` is the same split).

Recipes for the explanations are compared here, on the patient-disjoint validation films of the training pool,
so that test_public is measured once, for the bundle that ships (``trainer evaluate``), and not chosen on.
P(pneumonia) is the PyTorch model's softmax (before the temperature the bundle gets at export).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cxrviewer.core import to_model_input  # noqa: E402
from cxrviewer.core.preprocess import PreprocessConfig  # noqa: E402
from trainer.cam_capture import map_layer_and_head  # noqa: E402
from trainer.data import CLASS_NAMES, POSITIVE_CLASS  # noqa: E402
from trainer.explanations import insertion_films, insertion_test, torch_scorer  # noqa: E402
from trainer.models import load_weights  # noqa: E402
from trainer.splits import read_splits  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run folder written by trainer train")
    ap.add_argument("--arch", required=True)
    ap.add_argument("--weights", default="best.pt", help="state dict, relative to --run or absolute")
    ap.add_argument("--image-size", type=int, default=112)
    args = ap.parse_args()
    run = Path(args.run)
    positive = CLASS_NAMES.index(POSITIVE_CLASS)
    model = load_weights(run / args.weights, args.arch, len(CLASS_NAMES))
    config = PreprocessConfig(args.image_size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "none")
    layer, head = map_layer_and_head(model, args.arch)
    scorer = torch_scorer(model, layer, head, positive, lambda g: to_model_input(np.asarray(g, np.float32), config))
    _, pos, neg = insertion_films(read_splits(run / "splits.csv")["val"], positive, args.image_size)
    result = insertion_test(scorer, pos, neg)
    keys = ("grid", "win_rate", "mean_gain", "mean_p_hot", "mean_p_random", "mean_p_normal_base")
    out = {k: result[k] for k in keys}
    out.update(shape_matched_control=result["shape_matched_control"], seam_control=result["seam_control"])
    print(json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
