"""`python -m trainer report`: one markdown row per run: recipe, validation, internal test, test_public."""
from __future__ import annotations

import json
from pathlib import Path


def _fmt(m: dict | None, keys=("roc_auc", "accuracy", "sensitivity", "specificity")) -> list[str]:
    return [f"{m[k]:.3f}" if m else "–" for k in keys]


def report(args) -> str:
    runs = Path(args.runs)
    header = ("| run | arch | init | size | intensity | epochs (best) | val AUC | int. test AUC / acc / sens / spec "
              "| test_public AUC / acc / sens / spec |")
    lines = [header, "|" + "---|" * 9]
    for run_json in sorted(runs.glob("*/run.json")):
        s = json.loads(run_json.read_text())
        name = run_json.parent.name
        ev_path = Path(args.evals) / name / "metrics.json"
        ev = json.loads(ev_path.read_text()) if ev_path.is_file() else None
        pre = s["preprocess"]
        lines.append(
            f"| {name} | {s['architecture']} | {s['init'][:40]} | {pre['input_size']} | {pre['intensity']} "
            f"| {s['epochs_run']} ({s['best_epoch']}) | {s['validation']['roc_auc']:.4f} "
            f"| {' / '.join(_fmt(s['internal_test']))} | {' / '.join(_fmt(ev))} |")
    text = "\n".join(lines)
    print(text)
    return text
