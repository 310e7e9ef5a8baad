"""ROC-AUC of a top-cell run's validation and internal-test splits if its film score averaged the top k cells.

    .venv/bin/python tools/top_cell_sweep.py --run runs/RUN --arch ARCH [--image-size 112]

One forward pass per film gives every cell's log-odds (``TopCellPooled.forward_with_cells``); the film score
is then re-pooled for each k without retraining. It shows how much of the accuracy a small k gives up
(docs/experiments.md); a k is only shipped after a run trained with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.metrics import roc_auc_score  # noqa: E402

from cxrviewer.core.preprocess import PreprocessConfig  # noqa: E402
from trainer.cell_evidence import TopCellPooled  # noqa: E402
from trainer.models import load_weights  # noqa: E402
from trainer.splits import read_splits  # noqa: E402
from trainer.tensors import load_cache, model_batch  # noqa: E402

KS = (1, 3, 5, 7, 10, 15, 25, 49)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--image-size", type=int, default=112)
    args = ap.parse_args()
    run = Path(args.run)
    model = load_weights(run / "best.pt", args.arch, 2)
    assert isinstance(model, TopCellPooled), f"{args.arch} has no top-cell head"
    config = PreprocessConfig(args.image_size, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "none")
    splits = read_splits(run / "splits.csv")
    for split in ("val", "test"):
        records = splits[split]
        cache = load_cache(records, args.image_size)
        labels = np.array([r.label for r in records])
        cells = []
        with torch.no_grad():
            for start in range(0, len(cache), 64):
                x = model_batch(cache[start : start + 64].float().div(255).unsqueeze(1), config)
                cells.append(model.forward_with_cells(x)[1].flatten(1))
        ranked = torch.cat(cells).sort(dim=1, descending=True).values.numpy()
        ks = [k for k in KS if k <= ranked.shape[1]]
        print(split, " ".join(f"k={k}: {roc_auc_score(labels, ranked[:, :k].mean(1)):.4f}" for k in ks))


if __name__ == "__main__":
    main()
