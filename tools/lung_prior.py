"""Draw trainer/guidance.py's lung-field prior over the mean of Kermany training films (one per class).

.venv/bin/python tools/lung_prior.py [--films 1500] [--out runs/lung_prior.png]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainer.data import scan_training_pool  # noqa: E402
from trainer.guidance import lung_prior_mask  # noqa: E402
from trainer.tensors import load_cache  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "kermany224"))
    ap.add_argument("--films", type=int, default=1500)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--out", default=str(REPO / "runs" / "lung_prior.png"))
    args = ap.parse_args()
    records = scan_training_pool(args.data)
    records = random.Random(0).sample(records, min(args.films, len(records)))
    films = load_cache(records, args.size).float().numpy() / 255
    labels = np.array([r.label for r in records])
    inside = lung_prior_mask(args.size).numpy()
    outline = inside ^ np.roll(inside, 1, 0) | inside ^ np.roll(inside, 1, 1)
    panels = []
    for label in (0, 1):
        mean = (films[labels == label].mean(0) * 255).astype(np.uint8)
        mean[outline] = 255
        panels.append(mean)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(panels, axis=1)).save(args.out)
    print(f"{args.out}: NORMAL and PNEUMONIA means of {len(records)} films with the prior's outline")


if __name__ == "__main__":
    main()
