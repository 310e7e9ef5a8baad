"""`python -m trainer export`: turn a run folder into a bundle under resources/models/NAME."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from cxrviewer.core import load_bundle, write_bundle
from cxrviewer.core.architectures import build_model

from .backbones import REPO_ROOT

INTENDED_USE = (
    "Research and teaching demonstration: flags paediatric (age 1-5) frontal chest radiographs that may show "
    "pneumonia, to sort a worklist. Not a medical device; not for diagnosis or treatment decisions."
)
LIMITATIONS = [
    "Trained only on the Kermany et al. 2018 paediatric AP chest radiographs from one centre (Guangzhou); "
    "adult films, other hospitals, lateral views, DX 'FOR PROCESSING' images and non-chest images are out of scope.",
    "Labels are image-level NORMAL vs PNEUMONIA (bacterial and viral merged); no localisation ground truth: "
    "Grad-CAM shows where the network looked, not where disease is.",
    "The decision threshold was chosen for >= 95% sensitivity on a validation split drawn from the training "
    "pool; that pool differs from the official test images, where specificity is lower.",
]


def export(args) -> Path:
    run = Path(args.run)
    summary = json.loads((run / "run.json").read_text())
    model = build_model(summary["architecture"], len(summary["class_names"]))
    model.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=True))
    out = Path(args.models_dir) / args.name if args.models_dir else REPO_ROOT / "resources" / "models" / args.name
    hp = summary["hyperparameters"]
    card = {
        "name": args.name,
        "architecture": summary["architecture"],
        "preprocess": summary["preprocess"],
        "class_names": summary["class_names"],
        "positive_class": "PNEUMONIA",
        "threshold": summary["threshold"],
        "threshold_rule": summary["threshold_rule"],
        "temperature": summary["temperature"],
        "gradcam_layer": "last convolutional block",
        "training": {
            "data": "Kermany et al. 2018 'Chest X-Ray Images (Pneumonia)', official train+val, 224x224 "
                    "(squashed), split by patient into train/validation/internal test",
            "split_counts_normal_pneumonia": summary["split_counts"],
            "init": summary["init"],
            "batchnorm": summary["batchnorm"],
            "epochs_run": summary["epochs_run"],
            "stop_reason": summary.get("stop_reason"),
            "best_epoch": summary["best_epoch"],
            "device": summary["device"],
            "train_seconds": summary["train_seconds"],
            "augmentation": summary["augmentation"],
            "hyperparameters": {k: hp[k] for k in ("epochs", "batch_size", "lr", "weight_decay", "image_size",
                                                   "seed", "label_smoothing", "intensity") if k in hp},
            "command": args.train_command or hp.get("command_line"),
            "export_command": args.command_line,
        },
        "metrics": {
            "validation": {"how": "patient-disjoint validation split (used for early stopping, temperature and "
                                  "threshold)", **summary["validation"]},
            "internal_test": {"how": "patient-disjoint internal test split, never used for any choice",
                              **summary["internal_test"]},
        },
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS + ([args.note] if args.note else []),
    }
    write_bundle(out, model, card, half=args.half)
    load_bundle(out)  # proves the written bundle verifies and loads
    print(f"bundle written to {out}")
    return out
