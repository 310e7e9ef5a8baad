"""Command line: python -m trainer {train,evaluate,export} …"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from cxrviewer.core.architectures import ARCHITECTURES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainer",
        description="Train, evaluate and export the pneumonia classifiers that cxrviewer ships.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser(
        "train",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="train a backbone on a patient-disjoint split of a Kermany-layout folder",
        description="Trains on train+val of --data (never its test folders), split by patient into "
        "train/validation/internal test; early-stops on validation ROC-AUC, then fits a "
        "temperature and a decision threshold on validation and reports the internal test.",
    )
    t.add_argument("--arch", choices=sorted(ARCHITECTURES), required=True)
    t.add_argument(
        "--data",
        required=True,
        help="Kermany root (train/ and val/ with NORMAL/ PNEUMONIA/), a folder with NORMAL/ and PNEUMONIA/, "
        "or a manifest CSV with columns path,label,patient_id[,view,age] (paths relative to the CSV)",
    )
    t.add_argument(
        "--init",
        default="imagenet",
        help="imagenet (local weights only: ../shared/weights for MobileNetV2, torchvision's cache), "
        "scratch, or a path to a state dict",
    )
    t.add_argument("--imagenet-weights", default=None, help="explicit ImageNet state-dict file for --init imagenet")
    t.add_argument(
        "--batchnorm",
        choices=["reestimate", "freeze"],
        default="reestimate",
        help="for BatchNorm-folded ImageNet weights: re-estimate statistics, or keep BatchNorm frozen",
    )
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="the global batch: under torchrun each of the W processes takes batch-size / W of it",
    )
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate of the one-cycle schedule")
    t.add_argument("--weight-decay", type=float, default=1e-4)
    t.add_argument("--label-smoothing", type=float, default=0.0)
    t.add_argument("--image-size", type=int, default=224, help="model input side (images are squashed to square)")
    t.add_argument(
        "--intensity",
        choices=["none", "equalize"],
        default="none",
        help="per-image intensity standardisation, applied identically in the app",
    )
    t.add_argument("--blur-p", type=float, default=0.3, help="probability of a random Gaussian blur")
    t.add_argument(
        "--scale-range",
        type=float,
        nargs=2,
        default=(0.9, 1.1),
        metavar=("LO", "HI"),
        help="random zoom factor range (>1 zooms in)",
    )
    t.add_argument(
        "--aspect-jitter", type=float, default=1.0, help="stretch one axis by up to this factor (log-uniform); 1.0: off"
    )
    t.add_argument(
        "--cutmix",
        type=float,
        default=0.0,
        help="probability per image of CutMix: a rectangle of another film of the batch at the same place, "
        "target mixed by area (sharper, better placed class-activation maps); 0: off",
    )
    t.add_argument(
        "--mosaic",
        type=float,
        default=0.0,
        help="probability per image of a same-class mosaic: random cells or a blob of another film of its class "
        "at the same place, label kept (pasted seams carry no label); 0: off",
    )
    t.add_argument(
        "--evidence-weight",
        type=float,
        default=0.0,
        help="weight of the evidence-sufficiency loss: a PNEUMONIA film's hottest 20 %% by its current map, "
        "pasted onto a NORMAL film of the batch, must read PNEUMONIA (trainer/guidance.py); 0: off",
    )
    t.add_argument(
        "--necessity-weight",
        type=float,
        default=0.0,
        help="weight of the evidence-necessity loss: the PNEUMONIA film with that region replaced by a NORMAL "
        "film's pixels must read NORMAL (GAIN's attention mining); 0: off",
    )
    t.add_argument(
        "--lung-prior",
        type=float,
        default=0.0,
        help="probability per image that everything outside the lung fields (a fixed prior, trainer/guidance.py) "
        "comes from another film of the batch, label kept: framing and markers carry no label; 0: off",
    )
    t.add_argument(
        "--tissue-composites",
        type=float,
        default=0.0,
        help="top-cell architectures: probability per image of a region of another film of either class; every "
        "cell of NORMAL tissue is then a NORMAL example (trainer/tissue_composites.py); 0: off",
    )
    t.add_argument(
        "--cell-weight", type=float, default=1.0, help="weight of the NORMAL-tissue cell loss of --tissue-composites"
    )
    t.add_argument(
        "--context-weight",
        type=float,
        default=0.0,
        help="weight of the context loss of --tissue-composites: a pasted cell keeps its own film's log-odds",
    )
    t.add_argument("--noise-std", type=float, default=0.02, help="maximum std of additive Gaussian noise")
    t.add_argument(
        "--no-augment", action="store_true", help="train on the images as they are (equivalence tests, ablations)"
    )
    t.add_argument(
        "--no-dropout",
        action="store_true",
        help="set the architecture's dropout to 0: with --no-augment a step is a deterministic function of the "
        "weights and the batch (equivalence tests)",
    )
    t.add_argument("--val-fraction", type=float, default=0.1)
    t.add_argument("--test-fraction", type=float, default=0.1)
    t.add_argument(
        "--min-sensitivity",
        type=float,
        default=0.95,
        help="threshold = highest value keeping validation sensitivity at least this",
    )
    t.add_argument("--patience", type=int, default=4, help="early-stopping patience in epochs (0: off)")
    t.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="wall-clock budget for the epochs: stop before an epoch that would overrun it, keeping the "
        "best checkpoint so far (0: no budget)",
    )
    t.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="float64: a slow CPU reference run, precise enough that one optimizer step compares exactly "
        "across world sizes (Adam's first step amplifies float32 rounding in near-zero gradients)",
    )
    t.add_argument(
        "--max-steps",
        type=int,
        default=0,
        help="stop after this many optimizer steps in all (timing, equivalence tests; 0: no limit)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=0, help="use only this many images (smoke tests)")
    t.add_argument(
        "--cache",
        choices=["ram", "disk", "none"],
        default="ram",
        help="ram: decode every image once into memory (fastest where it fits); disk: write the resized "
        "images once to one memory-mapped uint8 file in --cache-dir and read it from there; none: decode "
        "on the fly in --workers DataLoader processes (RAM stays flat whatever the set's size)",
    )
    t.add_argument("--cache-dir", default=None, help="where --cache disk keeps its file (default: OUT/cache)")
    t.add_argument(
        "--workers",
        type=int,
        default=0,
        help="DataLoader worker processes decoding or reading images for --cache disk/none (0: min(4, cores))",
    )
    t.add_argument(
        "--no-sync-bn",
        dest="sync_bn",
        action="store_false",
        help="under torchrun: BatchNorm statistics per process instead of over the global batch",
    )
    t.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    t.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for PyTorch (0: its default); use 1 when another busy process shares 2 cores",
    )
    t.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    t.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    t.add_argument("--out", required=True, help="run folder (checkpoints, splits, logs, curves)")

    e = sub.add_parser(
        "evaluate",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="score a bundle on a folder with NORMAL/ and PNEUMONIA/",
    )
    e.add_argument("--bundle", required=True, help="bundle folder, e.g. resources/models/NAME")
    e.add_argument("--data", required=True, help="folder with NORMAL/ and PNEUMONIA/ subfolders")
    e.add_argument("--out", required=True, help="folder for metrics.json, predictions.csv and figures")
    e.add_argument("--threshold", type=float, default=None, help="override the bundle's threshold")
    e.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    e.add_argument(
        "--no-explanations",
        dest="explanations",
        action="store_false",
        help="skip explanations.json (insertion test, ROAD curve, sanity check of the Grad-CAM maps)",
    )
    e.add_argument(
        "--record-as",
        default=None,
        help="also store the metrics in the bundle's model.json under this key (e.g. test_public)",
    )

    x = sub.add_parser(
        "export",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="write a run's best checkpoint as a bundle in resources/models/NAME (weights, a proven "
        "ONNX graph with logits and cam, the model card); or re-export a bundle (--bundle)",
    )
    x.add_argument("--run", default=None, help="run folder written by train")
    x.add_argument("--name", default=None, help="bundle name, e.g. mobilenet_v2-kermany-imagenet-224")
    x.add_argument(
        "--bundle",
        default=None,
        help="instead: rewrite this bundle's model.onnx and card from its own weights.pt (kept as is)",
    )
    x.add_argument(
        "--check-data",
        default=None,
        help="folder of real films the graph is verified on, after resources/demo "
        "(default: ../shared/data/native when present)",
    )
    x.add_argument("--half", action="store_true", help="store weights as float16")
    x.add_argument("--models-dir", default=None, help="where bundles go (default: resources/models)")
    x.add_argument("--note", default=None, help="an extra limitation line for the model card")
    x.add_argument("--train-command", default=None, help="the training command, recorded in the card")
    tb = sub.add_parser(
        "trust-boundary",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="record a bundle's intended population and the indeterminate band around its threshold (validation)",
    )
    tb.add_argument("--bundle", required=True, help="bundle folder, e.g. resources/models/NAME")
    tb.add_argument("--data", required=True, help="the Kermany root the bundle was trained on (its validation split)")
    tb.add_argument("--min-sensitivity", type=float, default=0.95, help="the threshold rule the bundle was made with")
    tb.add_argument(
        "--gate",
        default=str(Path(__file__).resolve().parents[1] / "resources" / "input_gate" / "gate.json"),
        help="the pixel gate whose operating point and rates go into the card",
    )
    r = sub.add_parser(
        "report",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="markdown table of runs (run.json) with their test_public evaluations",
    )
    r.add_argument("--runs", default="runs", help="folder of run folders")
    r.add_argument("--evals", default="runs/eval", help="folder of evaluate outputs named like the runs")
    r.add_argument(
        "--cards",
        default=None,
        metavar="MODELS_DIR",
        help="instead: tabulate the metrics stored in the model cards under MODELS_DIR",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = "python -m trainer " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if args.command == "train":
        from .train import train

        train(args)
    elif args.command == "evaluate":
        from .evaluate import evaluate

        evaluate(args)
    elif args.command == "export":
        from .export import export

        export(args)
    elif args.command == "trust-boundary":
        from .trust_boundary import trust_boundary

        trust_boundary(args)
    else:
        from .report import cards_table, report

        cards_table(args.cards) if args.cards else report(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
