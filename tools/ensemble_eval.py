"""Would an ensemble help? Averages the logits of several `trainer evaluate` outputs on the same images.

    python tools/ensemble_eval.py runs/eval/RUN_A runs/eval/RUN_B [...]

Each argument is an evaluate --out folder (its predictions.csv). Prints ROC-AUC of each member and of
the logit average, and the largest probability difference between two members on one image (how much the
members disagree; also how a fp16 bundle is compared with its fp32 twin). No threshold is chosen here: an
ensemble's operating point would have to come from validation like any bundle's, so only the ranking (AUC)
is compared. Reads only.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainer.data import POSITIVE_CLASS  # noqa: E402 - after the repo is on the path


def read_predictions(folder: Path) -> dict[str, tuple[int, float]]:
    with open(folder / "predictions.csv", newline="") as f:
        return {
            row["path"]: (int(row["label"] == POSITIVE_CLASS), float(row["probability"])) for row in csv.DictReader(f)
        }


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("evals", nargs="+", help="evaluate output folders")
    args = ap.parse_args(argv)
    members = {Path(e).name: read_predictions(Path(e)) for e in args.evals}
    paths = sorted(next(iter(members.values())))
    if any(sorted(m) != paths for m in members.values()):
        sys.exit("the evaluations are not on the same images")
    y = np.array([next(iter(members.values()))[p][0] for p in paths])
    probs = []
    for name, preds in members.items():
        probs.append(np.array([preds[p][1] for p in paths]))
        print(f"{name}: ROC-AUC {roc_auc_score(y, probs[-1]):.4f}")
    spread = np.max(probs, axis=0) - np.min(probs, axis=0)
    print(f"largest probability difference between members: {spread.max():.4f}")
    logits = [logit(prob) for prob in probs]
    print(f"logit average of {len(members)}: ROC-AUC {roc_auc_score(y, np.mean(logits, axis=0)):.4f} (n = {len(y)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
