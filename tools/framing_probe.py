"""How much does a bundle's score depend on framing? Re-scores a labelled folder zoomed in and out.

    python tools/framing_probe.py --data ../shared/data/kermany224/test_public \
        resources/models/NAME [runs/bundles/OTHER ...]

For every image: the film as is, its central 1/ZOOM crop (tighter framing, as if collimated closer) and the
film shrunk inside an edge-replicated border (looser framing). A model that reads pneumonia from the lungs
should score all three alike; one that learned "tightly framed film = PNEUMONIA" (in the Kermany training
pool most PNEUMONIA films are framed tighter than NORMAL ones) raises NORMAL scores when zoomed in.
Prints, per bundle and variant: mean probability per class, ROC-AUC, and the share of NORMAL films above
the bundle's threshold. Reads only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cxrviewer.core import Predictor, load_bundle, load_study  # noqa: E402
from trainer.data import scan_images  # noqa: E402


def zoom_in(px: np.ndarray, zoom: float) -> np.ndarray:
    h, w = px.shape
    ch, cw = round(h / zoom), round(w / zoom)
    top, left = (h - ch) // 2, (w - cw) // 2
    return px[top : top + ch, left : left + cw]


def zoom_out(px: np.ndarray, zoom: float) -> np.ndarray:
    h, w = px.shape
    ph, pw = round(h * (zoom - 1) / 2), round(w * (zoom - 1) / 2)
    return np.pad(px, ((ph, ph), (pw, pw)), mode="edge")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="+", help="bundle folders")
    ap.add_argument("--data", required=True, help="folder with NORMAL/ and PNEUMONIA/")
    ap.add_argument("--zoom", type=float, default=1.25)
    args = ap.parse_args(argv)

    records = scan_images(args.data)  # the evaluate command's dataset contract
    y = np.array([r.label for r in records])  # 1 = PNEUMONIA
    films = [load_study(r.path).pixels for r in records]
    variants = {
        "as is": films,
        f"zoomed in x{args.zoom:g}": [zoom_in(f, args.zoom) for f in films],
        f"zoomed out x{args.zoom:g}": [zoom_out(f, args.zoom) for f in films],
    }

    print("| bundle | framing | mean p NORMAL | mean p PNEUMONIA | ROC-AUC | NORMAL above threshold |")
    print("|---|---|---|---|---|---|")
    for folder in args.bundles:
        predictor = Predictor(load_bundle(folder), site=False)
        threshold = predictor.bundle.threshold
        for name, images in variants.items():
            p = predictor.predict_pixels(images)
            print(
                f"| {Path(folder).name} | {name} | {p[y == 0].mean():.3f} | {p[y == 1].mean():.3f} "
                f"| {roc_auc_score(y, p):.3f} | {np.mean(p[y == 0] >= threshold):.3f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
