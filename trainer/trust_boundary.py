"""`python -m trainer trust-boundary`: record a bundle's intended population and its indeterminate band.

The band is chosen on the bundle's own validation split, rebuilt from the training pool with the seed and
fractions of its training run (the split's class counts must equal those in the card, else it refuses). The
intended population (ages, views, modalities) is the training data's; the pixel gate's operating point and
measured rates are copied from ``resources/input_gate/gate.json`` when present, with the command behind them.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np

from cxrviewer.core import Predictor, load_bundle, load_study, update_card
from cxrviewer.core.model_card import BandSpec, PopulationSpec

from .backbones import REPO_ROOT
from .data import scan_training_pool
from .operating_band import threshold_band
from .splits import patient_split

DEFAULT_GATE = REPO_ROOT / "resources" / "input_gate" / "gate.json"


def kermany_population(gate: Path = DEFAULT_GATE) -> PopulationSpec:
    """The Kermany training data's population, with the pixel gate's operating point and rates."""
    return PopulationSpec(
        age_years=(1, 5),
        views=("AP", "PA"),
        modalities=("CR", "DX"),
        description="paediatric frontal chest radiographs, children aged 1-5, Guangzhou Women and Children's "
        "Medical Center (Kermany et al. 2018)",
        input_gate=gate_summary(gate),
    )


def gate_summary(path: Path) -> dict:
    if not path.is_file():
        return {}
    gate = json.loads(path.read_text(encoding="utf-8"))
    measured = gate.get("measured", {})
    rates = {  # false alarms on Kermany films, detection of outsiders by kind (held-out groups), Wilson 95 %
        "false_alarms_kermany_test_public": measured.get("test_public"),
        "false_alarms_kermany_native1024": measured.get("native1024"),
        "false_alarms_kermany_native": measured.get("native"),
        "adult_frontal_withheld_held_out_group": measured.get("logo_adult"),
        "lateral_withheld_held_out_group": measured.get("logo_lateral"),
        "ct_withheld_held_out_group": measured.get("logo_ct"),
        "photos_withheld_test_public_films": measured.get("tp_photo"),
        "non_chest_dicoms_withheld": measured.get("dicom_nonchest"),
    }
    return {
        "file": str(path.relative_to(REPO_ROOT)),
        "graph_sha256": gate.get("graph_sha256"),
        "candidate": (gate.get("method") or {}).get("candidate"),
        "operating_point": gate.get("operating_point"),
        "rates": {k: v for k, v in rates.items() if v is not None},
        "command": gate.get("command", "").strip(),
        "details": "docs/input_checks.md",
    }


def validation_split(card, data: Path):
    seed = int(card.training.get("hyperparameters", {}).get("seed", 0))
    splits = patient_split(scan_training_pool(data), 0.1, 0.1, seed)
    val = splits["val"]
    counts = [sum(r.label == 0 for r in val), sum(r.label == 1 for r in val)]
    expected = card.training.get("split_counts_normal_pneumonia", {}).get("val")
    if expected is not None and list(expected) != counts:
        raise SystemExit(f"{card.name}: rebuilt validation split has {counts} films, the card says {expected}: refused")
    return val


def trust_boundary(args) -> dict:
    bundle_dir = Path(args.bundle)
    predictor = Predictor(load_bundle(bundle_dir), site=False)
    card = predictor.card
    val = validation_split(card, Path(args.data))
    labels = np.array([r.label for r in val])
    probs = predictor.predict_pixels(load_study(r.path).pixels for r in val)
    band = threshold_band(probs, labels, card.threshold, args.min_sensitivity)
    how = "python -m trainer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    population = kermany_population(Path(args.gate))
    new = update_card(
        bundle_dir,
        indeterminate_band=BandSpec(band["low"], band["high"], band["rule"], how, band["measured"]),
        intended_population=population,
    )
    out = {"bundle": new.name, "threshold": new.threshold, **band}
    print(json.dumps(out, indent=1))
    return out
