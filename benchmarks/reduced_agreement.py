"""How far the reduced-resolution decode moves the probability, per shipped model, at a given floor.

    .venv/bin/python benchmarks/reduced_agreement.py [--min-side 512]

Over the native test films (../shared/data/native and native1024, 220 JPEGs) and the DICOMs of data/dicom:
the largest abs(P(reduced) - P(full)) per model, the film it happens on, and how many films were reduced.
MIN_SIDE in core/reduced_decode.py was chosen with it (tests/test_reduced_decode.py holds the 0.005 rule).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"

from cxrviewer.core import Predictor, list_bundles, load_bundle, load_study  # noqa: E402
from cxrviewer.core.reduced_decode import MIN_SIDE  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--min-side", type=int, default=MIN_SIDE)
    args = p.parse_args(argv)
    predictors = [Predictor(load_bundle(b), site=False) for b in list_bundles(REPO / "resources" / "models")]
    groups = {
        "native JPEGs": sorted((SHARED / "data" / "native").glob("*/*.jpeg"))
        + sorted((SHARED / "data" / "native1024").glob("*/*.jpeg")),
        "DICOMs": sorted((SHARED / "data" / "dicom").glob("*.dcm")),
    }
    for group, films in groups.items():
        worst = {pr.name: (0.0, "") for pr in predictors}
        reduced = 0
        for path in films:
            small = load_study(path, min_side=args.min_side)
            if small.metadata.get("decode_scale", 1) == 1:
                continue
            reduced += 1
            full = load_study(path)
            for pr in predictors:
                diff = abs(pr.predict(full).probability - pr.predict(small).probability)
                if diff > worst[pr.name][0]:
                    worst[pr.name] = (diff, path.name)
        print(f"{group}: {reduced} of {len(films)} reduced at min_side={args.min_side}")
        for name, (diff, film) in worst.items():
            print(f"  {name}: max abs(dP) {diff:.4f} ({film or '-'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
