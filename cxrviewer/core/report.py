"""Reports: the worklist CSV export and the model card text shown in Help ▸ Model card."""

from __future__ import annotations

import csv
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path

from .map_check import map_check
from .model_card import ModelCard
from .result_csv import RESULT_COLUMNS, result_row
from .study_result import StudyResult
from .verdict import Verdict

DISCLAIMER = (
    "cxrviewer is research and teaching software. It is NOT a medical device, it is not cleared "
    "or approved for clinical use, and its output must not be used for diagnosis or treatment."
)


def worklist_rows(
    results: Sequence[StudyResult], anonymise: bool, indices: Sequence[int | None] | None = None
) -> list[dict]:
    """``indices``: each row's "study N" index as the screen shows it (default: the order given)."""
    numbers = list(indices) if indices is not None else list(range(len(results)))
    return [result_row(r, anonymise, i) for r, i in zip(results, numbers)]


def write_worklist_csv(
    results: Sequence[StudyResult],
    path: str | os.PathLike,
    anonymise: bool,
    indices: Sequence[int | None] | None = None,
) -> Path:
    """Write the worklist (in the given order). Anonymised exports carry no name, ID, date or file path."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(worklist_rows(results, anonymise, indices))
    return path


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def model_card_html(model_card: ModelCard | None) -> str:
    """Data, metrics and intended use of a bundle, plus the not-a-medical-device statement."""
    e = html.escape
    parts = ["<h2>cxrviewer</h2>", f"<p><b>{e(DISCLAIMER)}</b></p>"]
    if model_card is None:
        parts.append("<p>No model bundle is installed: images can be viewed, but nothing is scored.</p>")
        return "\n".join(parts)
    card = model_card.to_json()
    parts.append(f"<h3>Model: {e(str(card.get('name', '?')))}</h3>")
    parts.append("<table>")
    rows = [
        ("Architecture", card.get("architecture")),
        ("Classes", ", ".join(card.get("class_names", []))),
        ("Positive class", card.get("positive_class")),
        ("Decision threshold", card.get("threshold")),
        ("Threshold rule", card.get("threshold_rule")),
        ("Calibration temperature", card.get("temperature")),
        ("Input", card.get("preprocess")),
    ]
    parts += [f"<tr><td><b>{e(k)}</b></td><td>{e(_fmt(v))}</td></tr>" for k, v in rows if v is not None]
    parts.append("</table>")
    if card.get("intended_use"):
        parts.append(f"<h3>Intended use</h3><p>{e(card['intended_use'])}</p>")
    training = card.get("training") or {}
    if training:
        parts.append("<h3>Training data</h3><ul>")
        parts += [f"<li><b>{e(str(k))}</b>: {e(_fmt(v))}</li>" for k, v in training.items()]
        parts.append("</ul>")
    metrics = card.get("metrics") or {}
    if metrics:
        parts.append("<h3>Metrics</h3>")
        for split, values in metrics.items():
            if not isinstance(values, dict):
                parts.append(f"<p><b>{e(split)}</b>: {e(_fmt(values))}</p>")
                continue
            how = values.get("how", "")
            parts.append(f"<p><b>{e(split)}</b> {e(how)}</p><ul>")
            parts += [f"<li>{e(str(k))}: {e(_fmt(v))}</li>" for k, v in values.items() if k != "how"]
            parts.append("</ul>")
    gradcam = card.get("gradcam") or {}
    grid = "×".join(str(g) for g in gradcam.get("grid", []))
    parts.append(f"<h3>Heat map (Grad-CAM, {e(grid)} grid)</h3><p>{e(map_check(model_card).summary)}</p>")
    limitations = card.get("limitations") or []
    if limitations:
        parts.append("<h3>Limitations</h3><ul>")
        parts += [f"<li>{e(str(x))}</li>" for x in limitations]
        parts.append("</ul>")
    return "\n".join(parts)


def ai_summary_lines(result: StudyResult | None) -> list[str]:
    """The verdict in words, for the PNG export and the on-image text: a withheld study shows no score."""
    if result is None:
        return []
    verdict = result.verdict
    if verdict is Verdict.UNREADABLE:
        return [f"AI: {verdict.wording} ({result.reason})"]
    if verdict is Verdict.WITHHELD:
        return [f"AI: {verdict.wording}", f"Reason: {result.reason}"]
    source = f", {result.threshold_source}" if result.threshold_source not in ("", "shipped") else ""
    score = f"P({result.positive_class.lower() or 'positive'}) {result.probability:.2f}"
    lines = [f"AI: {verdict.wording}", f"{score}, threshold {result.threshold:.2f}{source}"]
    if verdict is Verdict.INDETERMINATE:
        lines.append(result.reason)
    return [*lines, f"{result.model} - not a medical device, not for diagnosis"]
