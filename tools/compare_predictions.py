"""Largest per-image probability difference between two `trainer evaluate` outputs of the same images.

    python tools/compare_predictions.py runs/eval-before/NAME runs/eval/NAME

Used to check that a re-exported bundle reproduces the recorded scores (predictions.csv keeps 6 decimals,
so 1e-6 is the resolution).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def read(folder: Path) -> dict[str, float]:
    with open(folder / "predictions.csv", newline="") as fh:
        return {Path(r["path"]).name: float(r["probability"]) for r in csv.DictReader(fh)}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (read(Path(x)) for x in argv)
    if a.keys() != b.keys():
        print(f"different images: {len(a.keys() ^ b.keys())} not in both", file=sys.stderr)
        return 1
    diff = max(abs(a[k] - b[k]) for k in a)
    print(f"{len(a)} images; largest probability difference {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
