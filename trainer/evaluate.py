"""`python -m trainer evaluate`: metrics, per-image CSV, figures and a Grad-CAM panel for a bundle."""

from __future__ import annotations

import csv
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from cxrviewer.core import ModelCard, Predictor, load_bundle, load_study, update_card

from .data import scan_images
from .gradcam_reference import reference_heatmap
from .metrics import compute_metrics
from .models import gradcam_layer, load_torch_model
from .plots import evaluation_figures, gradcam_panel, insertion_panel


def evaluate(args) -> dict:
    bundle = load_bundle(args.bundle)
    predictor = Predictor(
        bundle, site=False
    )  # the shipped graph and operating point on ONNX Runtime: what the app runs
    records = scan_images(args.data)
    labels = np.array([r.label for r in records])
    probs = predictor.predict_pixels(load_study(r.path).pixels for r in records)
    threshold = args.threshold if args.threshold is not None else bundle.threshold
    metrics = compute_metrics(labels, probs, threshold, n_boot=args.bootstrap, seed=0)
    metrics["bundle"] = bundle.name
    metrics["data"] = str(Path(args.data))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with open(out / "predictions.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "probability", "predicted"])
        for r, p in zip(records, probs):
            w.writerow(
                [
                    str(r.path),
                    r.class_name,
                    f"{p:.6f}",
                    bundle.card.positive_class if p >= threshold else bundle.card.negative_class,
                ]
            )
    evaluation_figures(labels, probs, metrics, out, f"{bundle.name} on {Path(args.data).name}", bundle.card.class_names)
    _gradcam_cases(Path(args.bundle), predictor, records, labels, probs, threshold, out / "gradcam_panel.png")
    explanations = None
    if getattr(args, "explanations", True):
        from .explanations import explain_bundle

        explanations = explain_bundle(Path(args.bundle), predictor, records)
        explanations["data"] = str(Path(args.data))
        insertion_panel(explanations["insertion"].pop("examples"), out / "insertion_panel.png")
        (out / "explanations.json").write_text(json.dumps(explanations, indent=2) + "\n")
    if args.record_as:
        _record_in_card(Path(args.bundle), args.record_as, metrics, explanations)
    print(
        json.dumps(
            {
                k: metrics[k]
                for k in ("n_images", "threshold", "accuracy", "sensitivity", "specificity", "roc_auc", "f1")
            },
            indent=1,
        )
    )
    return metrics


def _gradcam_cases(
    bundle_dir: Path, predictor, records, labels, probs, threshold, path: Path, per_kind: int = 2
) -> None:
    """The most confident cases of each kind, with pytorch-grad-cam's map (the reference) on the PyTorch weights."""
    import torch

    card, model = load_torch_model(bundle_dir)
    layer = gradcam_layer(model, card.architecture)
    pred = probs >= threshold
    kinds = {
        "TP": (labels == 1) & pred,
        "TN": (labels == 0) & ~pred,
        "FP": (labels == 0) & pred,
        "FN": (labels == 1) & ~pred,
    }
    items = []
    for kind, mask in kinds.items():
        # the most confident cases of each kind: the clearest view of what drives the model
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(-np.abs(probs[idx] - threshold))][:per_kind]
        for i in idx:
            study = load_study(records[i].path)
            x = torch.from_numpy(predictor.model_input(study))
            items.append(
                (
                    f"{kind} p={probs[i]:.2f} {records[i].path.name[:24]}",
                    study.pixels,
                    reference_heatmap(model, layer, x, card.positive_index, study.shape),
                )
            )
    gradcam_panel(items, path)


def _record_in_card(bundle_dir: Path, key: str, metrics: dict, explanations: dict | None = None) -> ModelCard:
    """Store metrics (and the explanation summary) in model.json with the command that produced them
    (weights, graph and hashes untouched)."""
    card = ModelCard.read(bundle_dir)
    how = "python -m trainer " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    extra = dict(card.extra)
    if explanations is not None:
        explained = dict(extra.get("explanations", {}))
        explained[key] = {"how": how, **explanation_summary(explanations)}
        extra["explanations"] = explained
    return update_card(bundle_dir, metrics={**card.metrics, key: {"how": how, **metrics}}, extra=extra)


def explanation_summary(explanations: dict) -> dict:
    """The card's copy: the headline numbers of explanations.json (the film lists stay in the file)."""
    insertion, road, sanity = explanations["insertion"], explanations["road"], explanations["sanity"]
    return {
        "data": explanations.get("data", ""),
        "insertion": {k: v for k, v in insertion.items()},
        "substitution": {k: v for k, v in explanations["substitution"].items()},
        "road": {k: road[k] for k in ("films", "fractions_removed", "mean_p_after_removal", "lerf_minus_morf")},
        "sanity": {k: sanity[k] for k in ("films", "draws", "cascade", "max_mean_spearman", "passes")},
    }
