"""Reports: the worklist CSV export and the model card text shown in Help ▸ Model card."""

from __future__ import annotations

import csv
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path

from .anonymise import HIDDEN, display_name, format_date, format_person_name
from .batch import StudyResult
from .model_card import ModelCard

DISCLAIMER = (
    "cxrviewer is research and teaching software. It is NOT a medical device, it is not cleared "
    "or approved for clinical use, and its output must not be used for diagnosis or treatment."
)
WORKLIST_COLUMNS = ("file", "patient", "patient_id", "date", "probability", "label", "threshold", "model", "status")


def worklist_rows(results: Sequence[StudyResult], anonymise: bool) -> list[dict]:
    rows = []
    for i, r in enumerate(results):
        rows.append(
            {
                "file": display_name(r.path, anonymise, i) if anonymise else str(r.path),
                "patient": HIDDEN
                if anonymise and (r.patient_name or r.patient_id)
                else format_person_name(r.patient_name),
                "patient_id": HIDDEN if anonymise and r.patient_id else r.patient_id,
                "date": HIDDEN if anonymise and r.study_date else format_date(r.study_date),
                "probability": "" if r.probability is None else f"{r.probability:.6f}",
                "label": r.label,
                "threshold": "" if r.threshold is None else f"{r.threshold:g}",
                "model": r.model,
                "status": r.status,
            }
        )
    return rows


def write_worklist_csv(results: Sequence[StudyResult], path: str | os.PathLike, anonymise: bool) -> Path:
    """Write the worklist (in the given order). Anonymised exports carry no name, ID, date or file path."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=WORKLIST_COLUMNS)
        writer.writeheader()
        writer.writerows(worklist_rows(results, anonymise))
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
    limitations = card.get("limitations") or []
    if limitations:
        parts.append("<h3>Limitations</h3><ul>")
        parts += [f"<li>{e(str(x))}</li>" for x in limitations]
        parts.append("</ul>")
    return "\n".join(parts)


def ai_summary_lines(result: StudyResult | None) -> list[str]:
    """The AI result in words, for exports and the overlay: warnings replace a confident score."""
    if result is None:
        return []
    if result.error:
        return [f"AI: not scored ({result.error})"]
    if not result.scored:
        return ["AI: not scored"]
    if result.warnings:
        return [f"AI: no reliable score - {w}" for w in result.warnings] + [
            f"(model output {result.probability:.2f} shown for reference only; {result.model})"
        ]
    return [
        f"AI: P(pneumonia) {result.probability:.2f} -> {result.label} at threshold {result.threshold:.2f} "
        f"({result.model})",
        "Not a medical device - not for diagnosis",
    ]
