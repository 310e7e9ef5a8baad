"""`python -m trainer export`: a run (or an existing bundle's weights) -> a format-2 bundle.

A bundle holds ``weights.pt`` (PyTorch, for the trainer), ``model.onnx`` (what the app runs: logits and the
positive class's activation map) and ``model.json`` (the :class:`~cxrviewer.core.model_card.ModelCard`).
The graph is proven here, once: the head is global-average-pool -> linear, ONNX Runtime reproduces PyTorch's
logits at batch 1 and batch N on real images, and its map reproduces pytorch-grad-cam's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cxrviewer.core import load_bundle, load_study
from cxrviewer.core.architectures import get_architecture
from cxrviewer.core.bundle import sha256_file
from cxrviewer.core.errors import BundleError, StudyError
from cxrviewer.core.model_card import CARD_FILE, FORMAT_VERSION, GradcamSpec, ModelCard, OnnxSpec
from cxrviewer.core.preprocess import PreprocessConfig, preprocess

from .backbones import REPO_ROOT
from .data import CLASS_NAMES, POSITIVE_CLASS
from .models import WEIGHTS_FILE, build_model, load_weights, write_weights
from .onnx_export import (
    CAM_NAME,
    INPUT_NAME,
    LOGITS_NAME,
    OPSET,
    ExportRefused,
    check_cam_head,
    export_graph,
    verify_graph,
)
from .trust_boundary import kermany_population

ONNX_FILE = "model.onnx"
DEMO_DIR = REPO_ROOT / "resources" / "demo"
DEFAULT_CHECK_DATA = REPO_ROOT.parent / "shared" / "data" / "native"
CHECK_IMAGES = 16

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


def check_images(
    config: PreprocessConfig, check_data: str | os.PathLike[str] | None, n: int = CHECK_IMAGES
) -> tuple[torch.Tensor, list[str]]:
    """Real studies (the demo studies, then films from ``check_data``) as model inputs, with their names."""
    candidates = sorted(p for p in DEMO_DIR.iterdir() if p.suffix.lower() in {".dcm", ".jpeg", ".jpg", ".png"})
    folder = Path(check_data) if check_data else DEFAULT_CHECK_DATA
    if folder.is_dir():
        candidates += sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".dcm", ".jpeg", ".jpg", ".png"})
    inputs, names = [], []
    for path in candidates:
        try:
            inputs.append(torch.from_numpy(preprocess(load_study(path).pixels, config)))
        except StudyError:
            continue
        names.append(path.name)
        if len(inputs) == n:
            break
    if len(inputs) < 2:
        raise ExportRefused("fewer than 2 real images to verify the graph on (resources/demo, --check-data)")
    return torch.stack(inputs), names


def write_bundle(
    out: Path,
    model: nn.Module,
    card: dict[str, Any],
    half: bool,
    check_data: str | os.PathLike[str] | None = None,
    keep_weights: bool = False,
) -> ModelCard:
    """Weights (unless ``keep_weights``: the bundle's own, untouched), the proven graph, and the card."""
    arch = get_architecture(card["architecture"])
    model = model.eval()
    config = PreprocessConfig.from_dict(card["preprocess"])
    positive_index = list(card["class_names"]).index(card["positive_class"])
    layer, head = model.get_submodule(arch.gradcam_layer), model.get_submodule(arch.head_path)
    if not isinstance(head, nn.Linear):
        raise ExportRefused(f"{arch.head_path} is {type(head).__name__}, not a linear classifier")
    inputs, names = check_images(config, check_data)
    head_check = check_cam_head(model, layer, head, inputs[:4], arch.gradcam_layer)
    graph = export_graph(model, layer, head, positive_index, config.input_size, half)
    verification = verify_graph(graph, model, layer, positive_index, inputs)
    verification.update(
        check_images=names,
        head=f"{head_check.head} (logits and gradient checked: "
        f"{head_check.max_logit_difference:.1e} / "
        f"{head_check.max_gradient_difference:.1e} relative)",
    )
    out.mkdir(parents=True, exist_ok=True)
    if keep_weights:
        weights = (card["weights_file"], card["weights_sha256"], card["weights_dtype"])
    else:
        weights = write_weights(out, model, half)
    (out / ONNX_FILE).write_bytes(graph)
    raw = {k: v for k, v in card.items() if k not in ("gradcam_layer",)}
    raw.update(
        format_version=FORMAT_VERSION,
        weights_file=weights[0],
        weights_sha256=weights[1],
        weights_dtype=weights[2],
        gradcam=GradcamSpec(arch.gradcam_layer, head_check.grid).to_dict(),
        onnx=OnnxSpec(
            file=ONNX_FILE,
            sha256=sha256_file(out / ONNX_FILE),
            opset=OPSET,
            input_name=INPUT_NAME,
            logits_name=LOGITS_NAME,
            cam_name=CAM_NAME,
            initializer_dtype="float16" if half else "float32",
            verification=verification,
        ).to_dict(),
    )
    written = ModelCard.from_json(raw, where=f"{out.name}/{CARD_FILE}")
    written.write(out)
    load_bundle(out)  # proves the written bundle verifies
    return written


def export(args) -> Path:
    if getattr(args, "bundle", None):
        return reexport(Path(args.bundle), args.check_data)
    if not args.run or not args.name:
        raise SystemExit("trainer export: give --run RUN --name NAME, or --bundle DIR to re-export a bundle")
    run = Path(args.run)
    summary = json.loads((run / "run.json").read_text())
    model = build_model(summary["architecture"], len(summary["class_names"]))
    model.load_state_dict(torch.load(run / "best.pt", map_location="cpu", weights_only=True))
    if args.half:  # the graph and the card describe the weights as stored
        model = model.half().float()
    out = Path(args.models_dir) / args.name if args.models_dir else REPO_ROOT / "resources" / "models" / args.name
    hp = summary["hyperparameters"]
    card = {
        "name": args.name,
        "architecture": summary["architecture"],
        "preprocess": summary["preprocess"],
        "class_names": summary["class_names"],
        "positive_class": POSITIVE_CLASS if POSITIVE_CLASS in summary["class_names"] else CLASS_NAMES[-1],
        "threshold": summary["threshold"],
        "threshold_rule": summary["threshold_rule"],
        "temperature": summary["temperature"],
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
            "world_size": summary.get("world_size", 1),
            "train_seconds": summary["train_seconds"],
            "augmentation": summary["augmentation"],
            "hyperparameters": {
                k: hp[k]
                for k in (
                    "epochs",
                    "batch_size",
                    "lr",
                    "weight_decay",
                    "image_size",
                    "seed",
                    "label_smoothing",
                    "intensity",
                    "cutmix",
                )
                if k in hp
            },
            "command": args.train_command or hp.get("command_line"),
            "export_command": args.command_line,
        },
        "metrics": {
            "validation": {
                "how": "patient-disjoint validation split (used for early stopping, temperature and threshold)",
                **summary["validation"],
            },
            "internal_test": {
                "how": "patient-disjoint internal test split, never used for any choice",
                **summary["internal_test"],
            },
        },
        "intended_use": INTENDED_USE,
        "limitations": LIMITATIONS + ([args.note] if args.note else []),
        "intended_population": kermany_population().to_dict(),
    }
    if "indeterminate_band" in summary:
        card["indeterminate_band"] = dict(summary["indeterminate_band"], how="python -m trainer train (validation)")
    write_bundle(out, model, card, half=args.half, check_data=args.check_data)
    print(f"bundle written to {out}")
    return out


def reexport(bundle_dir: Path, check_data: str | os.PathLike[str] | None = None) -> Path:
    """Rewrite a bundle's graph and card from its own weights (sha256 checked, file untouched).

    Also upgrades a format-1 card (weights only) to format 2; everything else in the card is kept.
    """
    card_path = bundle_dir / CARD_FILE
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"{bundle_dir.name}: {CARD_FILE} is unreadable ({exc})") from exc
    weights = bundle_dir / card.get("weights_file", WEIGHTS_FILE)
    if not weights.is_file() or sha256_file(weights) != card.get("weights_sha256"):
        raise BundleError(f"{bundle_dir.name}: weights missing or not the ones its card names: not re-exported")
    model = load_weights(weights, card["architecture"], len(card["class_names"]), card.get("name", ""))
    half = card.get("weights_dtype") == "float16"
    write_bundle(bundle_dir, model, card, half=half, check_data=check_data, keep_weights=True)
    print(f"bundle re-exported in {bundle_dir}")
    return bundle_dir
