"""`python -m trainer report`: one markdown row per run: recipe, validation, internal test, test_public."""

from __future__ import annotations

import json
from pathlib import Path


def _fmt(m: dict | None, keys=("roc_auc", "accuracy", "sensitivity", "specificity")) -> list[str]:
    return [f"{m[k]:.3f}" if m else "–" for k in keys]


def _geometry(augmentation: dict) -> str:
    lo, hi = augmentation["scale"]
    text = f"zoom {lo:g}–{hi:g}"
    aspect = augmentation.get("aspect", 1.0)  # runs from before aspect jitter existed had none
    return text + (f", aspect ×{aspect:g}" if aspect != 1.0 else "")


def report(args) -> str:
    runs = Path(args.runs)
    header = (
        "| run | arch | init | size | intensity | geometry | epochs (best) | val AUC "
        "| int. test AUC / acc / sens / spec | test_public AUC / acc / sens / spec |"
    )
    lines = [header, "|" + "---|" * 10]
    for run_json in sorted(runs.glob("*/run.json")):
        s = json.loads(run_json.read_text())
        name = run_json.parent.name
        ev_path = Path(args.evals) / name / "metrics.json"
        ev = json.loads(ev_path.read_text()) if ev_path.is_file() else None
        pre = s["preprocess"]
        lines.append(
            f"| {name} | {s['architecture']} | {s['init'][:40]} | {pre['input_size']} | {pre['intensity']} "
            f"| {_geometry(s['augmentation'])} | {s['epochs_run']} ({s['best_epoch']}) "
            f"| {s['validation']['roc_auc']:.4f} "
            f"| {' / '.join(_fmt(s['internal_test']))} | {' / '.join(_fmt(ev))} |"
        )
    text = "\n".join(lines)
    print(text)
    return text


def cards_table(models_dir: str | Path) -> str:
    """Internal-test and test_public metrics of every bundle, from the model cards."""
    keys = ("accuracy", "f1", "sensitivity", "specificity", "roc_auc")
    lines = [
        "| bundle | data | n | threshold | accuracy | F1 (weighted) | sensitivity | specificity | ROC-AUC [95% CI] |",
        "|" + "---|" * 9,
    ]
    for card_path in sorted(Path(models_dir).glob("*/model.json")):
        card = json.loads(card_path.read_text())
        for split in ("internal_test", "test_public"):
            m = card.get("metrics", {}).get(split)
            if not m:
                continue
            lo, hi = m.get("ci95", {}).get("roc_auc", [float("nan")] * 2)
            vals = " | ".join(f"{m[k]:.3f}" for k in keys)
            lines.append(
                f"| {card['name']} | {split} | {m['n_images']} | {m['threshold']:.3f} | {vals} [{lo:.3f}–{hi:.3f}] |"
            )
    text = "\n".join(lines)
    print(text)
    return text
