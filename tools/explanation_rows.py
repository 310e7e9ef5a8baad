"""Rows of docs/experiments.md's explanation table from evaluated folders (`trainer evaluate` output).

    .venv/bin/python tools/explanation_rows.py runs/eval/RUN [runs/eval/RUN2 ...]

Each folder holds `metrics.json` and `explanations.json`; the row gives test metrics, the insertion test with
its shape-matched and seam controls, substitution, ROAD and the sanity check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(folder: Path) -> str:
    m = json.loads((folder / "metrics.json").read_text())
    e = json.loads((folder / "explanations.json").read_text())
    i, s = e["insertion"], e["sanity"]
    grid = "×".join(str(g) for g in i["grid"])
    metrics = " / ".join(f"{m[k]:.3f}" for k in ("roc_auc", "accuracy", "sensitivity", "specificity"))
    shaped, seams = i["shape_matched_control"], i.get("seam_control")
    seam = f"{seams['rise_over_base']:+.3f}" if seams else "–"
    verdict = "passes" if s["passes"] else "**fails**"
    return (
        f"| {folder.name} | {grid} | {metrics} | {i['win_rate']:.0%} / {i['mean_gain']:+.3f} "
        f"| {shaped['win_rate']:.0%} / {shaped['mean_gain']:+.3f} | {seam} "
        f"| {i['mean_p_hot']:.2f} / {i['mean_p_random']:.2f} / {i['mean_p_normal_base']:.2f} "
        f"| {e['substitution']['random_minus_hot']:+.3f} | {e['road']['lerf_minus_morf']:+.3f} "
        f"| {s['max_mean_spearman']:.2f} ({verdict}) |"
    )


if __name__ == "__main__":
    print(
        "| run | grid | test_public AUC / acc / sens / spec | insertion wins / gain | vs same-shape control "
        "| seam rise | P hot / random / normal base | substitution random − hot | ROAD LeRF − MoRF | sanity max ρ |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arg in sys.argv[1:]:
        print(row(Path(arg)))
