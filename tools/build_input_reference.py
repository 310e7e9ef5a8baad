"""Fit resources/input_reference.json (the out-of-distribution check) and measure its false-alarm rate.

    OMP_NUM_THREADS=1 python tools/build_input_reference.py --data ../shared/data/kermany224 \
        --out resources/input_reference.json

Kermany train images are shuffled (fixed seed) and split into three disjoint sets: FIT (principal
components), CALIBRATE (threshold = the --percentile of their distances) and HOLD-OUT (false alarms are
counted there, together with every image of the official val folder). Also prints the distances of the
shared full-resolution films and DICOM files, and of simple corruptions of hold-out images, so the
detection side can be judged too. Reads only; writes only --out.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cxrviewer.core import load_study  # noqa: E402
from cxrviewer.core.input_checks import Reference, fit_reference, metadata_warnings, thumbnail_features  # noqa: E402

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def features(paths: list[Path]) -> np.ndarray:
    return np.stack([thumbnail_features(load_study(p).pixels) for p in paths])


def corruptions(paths: list[Path]) -> dict[str, np.ndarray]:
    """Thumbnails of hold-out images turned into things the model should not score confidently."""
    out: dict[str, list] = {
        "rotated 90": [],
        "inverted (wrong photometric)": [],
        "upside down": [],
        "uniform noise": [],
        "blank grey": [],
    }
    rng = np.random.default_rng(0)
    for p in paths:
        px = load_study(p).pixels
        out["rotated 90"].append(thumbnail_features(np.rot90(px)))
        out["inverted (wrong photometric)"].append(thumbnail_features(1.0 - px))
        out["upside down"].append(thumbnail_features(px[::-1]))
        out["uniform noise"].append(thumbnail_features(rng.random(px.shape, dtype=np.float32)))
        out["blank grey"].append(thumbnail_features(np.full_like(px, 0.5)))
    return {k: np.stack(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/kermany224", help="Kermany root with train/ and val/")
    ap.add_argument("--extra", default="../shared/data", help="folder whose native/ and dicom/ files are reported")
    ap.add_argument("--out", default="resources/input_reference.json")
    ap.add_argument("--fit", type=int, default=800)
    ap.add_argument("--calibrate", type=int, default=800)
    ap.add_argument("--holdout", type=int, default=1000)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--percentile", type=float, default=99.5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    data = Path(args.data)
    train = images_under(data / "train")
    random.Random(args.seed).shuffle(train)
    fit_p = train[: args.fit]
    cal_p = train[args.fit : args.fit + args.calibrate]
    hold_p = train[args.fit + args.calibrate : args.fit + args.calibrate + args.holdout]
    val_p = images_under(data / "val")
    # Test-period films: never used to fit or calibrate, reported so the false-alarm rate on them is rerunnable.
    test_p = images_under(data / "test_public") if (data / "test_public").is_dir() else []

    ref = fit_reference(features(fit_p), features(cal_p), args.percentile, args.components)
    threshold = ref.threshold
    hold = ref.distance(features(hold_p))
    val = ref.distance(features(val_p))
    both = np.concatenate([hold, val])
    test = ref.distance(features(test_p)) if test_p else np.zeros(0)
    rate = lambda d: float(np.mean(d > threshold))  # noqa: E731
    ref.info.update(
        {
            "method": "probabilistic-PCA distances of z-scored 24x24 squashed thumbnails and of 12 intensity/edge "
            "statistics; flagged when either exceeds its threshold (score = largest distance/threshold)",
            "components": int(ref.blocks[0].components.shape[0]),
            "fit_images": len(fit_p),
            "calibration_images": len(cal_p),
            "threshold_rule": f"per block, the {args.percentile:g}th percentile of calibration distances",
            "false_alarm_rate": {
                "kermany_val": rate(val),
                "kermany_val_n": len(val_p),
                "train_holdout": rate(hold),
                "train_holdout_n": len(hold_p),
                "val_plus_holdout": rate(both),
                "val_plus_holdout_n": len(both),
                **({"test_public": rate(test), "test_public_n": len(test_p)} if test_p else {}),
            },
            "command": "python tools/build_input_reference.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        }
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(ref.to_dict()) + "\n", encoding="utf-8")
    stored = Reference.from_dict(json.loads(Path(args.out).read_text()))  # check the rounding changes nothing

    print("block thresholds", [round(b.threshold, 3) for b in ref.blocks], ref.info["threshold_rule"])
    print(
        f"false alarms: val {np.sum(val > threshold)}/{len(val)}, train hold-out {np.sum(hold > threshold)}/"
        f"{len(hold)}, together {100 * rate(both):.2f}%"
    )
    if test_p:
        print(f"false alarms on test_public (test-period films): {np.sum(test > threshold)}/{len(test_p)}")
    print("detections on corrupted hold-out images (first 100):")
    for name, feats in corruptions(hold_p[:100]).items():
        print(f"  {name:30s} {100 * float(np.mean(stored.distance(feats) > threshold)):5.1f}% flagged")
    extra = Path(args.extra)
    for p in sorted((extra / "native").rglob("*.jpeg")) + sorted((extra / "dicom").glob("*.dcm")):
        s = load_study(p)
        d = float(stored.distance(thumbnail_features(s.pixels))[0])
        rules = "; ".join(metadata_warnings(s.metadata))
        print(f"  {p.parent.name}/{p.name:40s} score {d:6.2f} {'OOD' if d > threshold else 'ok '} {rules}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
