"""Input checks: the score is withheld when a study is not what the model was validated on.

Two kinds of check run on every study before its score is shown:

* metadata rules (DICOM only): a non-chest body part, a modality that is not radiography, a lateral view,
  a DX "FOR PROCESSING" (raw detector) image, colour pixels, or an image too small to assess;
* the pixel gate (:mod:`cxrviewer.core.input_gate`): a small ONNX graph on ImageNet MobileNetV2 features,
  fitted with leave-one-group-out over external films, that tells adult chest films, photos or screenshots
  of films, laterals and non-chest images from the paediatric frontal films the models were trained on.
  Measured rates are in ``resources/input_gate/gate.json`` and docs/input_checks.md.

The patient's age (DICOM) is checked against each model card's intended population in ``batch``.
"""

from __future__ import annotations

import threading

from .input_gate import InputGate, InputGateError, load_gate
from .study import Study

MIN_SIDE = 64  # smaller images cannot be assessed (the model input is larger than the whole image)
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_LAT", "TORSO"}
RADIOGRAPHY_MODALITIES = {"CR", "DX", "DR", "RG", "OT"}  # OT: secondary captures of films
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD", "LLO", "RLO"}
GATE_UNAVAILABLE = "the input check from the pixels could not run ({why}); the score is withheld"

# The type the rest of the core passes around as "the input reference".
Reference = InputGate

_shipped: dict[str, object] = {}
_shipped_lock = threading.Lock()


def load_reference() -> InputGate | None:
    """The shipped pixel gate, loaded once per process; None when it is missing or refused (see gate_problem)."""
    with _shipped_lock:
        if "gate" not in _shipped:
            try:
                _shipped["gate"], _shipped["problem"] = load_gate(), ""
            except InputGateError as exc:
                _shipped["gate"], _shipped["problem"] = None, str(exc)
            if _shipped["gate"] is None and not _shipped["problem"]:
                _shipped["problem"] = "resources/input_gate is missing"
        return _shipped["gate"]  # type: ignore[return-value]


def gate_problem() -> str:
    """Why the shipped gate is not in use ("" when it is)."""
    load_reference()
    return str(_shipped.get("problem", ""))


def metadata_warnings(meta: dict) -> list[str]:
    """Rule-based warnings from what the file says about itself (DICOM tags, colour)."""
    out: list[str] = []
    body = str(meta.get("body_part", "")).strip().upper()
    if body and body not in CHEST_BODY_PARTS:
        out.append(f"Not a chest image: body part is {body}")
    modality = str(meta.get("modality", "")).strip().upper()
    if modality and modality not in RADIOGRAPHY_MODALITIES:
        out.append(f"Not a radiograph: modality is {modality}")
    view = str(meta.get("view_position", "")).strip().upper()
    descriptions = " ".join(str(meta.get(k, "")) for k in ("series_description", "study_description")).upper()
    words = set(descriptions.replace("/", " ").replace(",", " ").replace("_", " ").split())
    if view in LATERAL_VIEWS or words & {"LAT", "LATERAL"}:
        out.append(f"Lateral view ({view or 'from description'}): the model was trained on frontal views only")
    intent = str(meta.get("presentation_intent", "")).strip().upper()
    if intent == "FOR PROCESSING" or "FOR PROCESSING" in str(meta.get("image_type", "")).upper():
        out.append("DX 'FOR PROCESSING' image (raw detector data, not meant for viewing or scoring)")
    if meta.get("is_colour"):
        out.append("Colour image: chest radiographs are grayscale (photo or screenshot?)")
    rows, cols = meta.get("rows"), meta.get("columns")
    if rows and cols and min(int(rows), int(cols)) < MIN_SIDE:
        out.append(f"Image too small to assess ({cols}x{rows} pixels)")
    return out


def check_study(study: Study, reference: InputGate | None = None, use_stored: bool = True) -> list[str]:
    """Every reason to withhold the score of a study; empty when it looks like the films the model knows.

    ``reference``: the pixel gate (default: the shipped one). A gate that cannot run withholds the score
    with that reason: the app never vouches for a film it could not check.
    """
    warnings = metadata_warnings(study.metadata)
    gate = reference if reference is not None or not use_stored else load_reference()
    if gate is None:
        if use_stored:
            warnings.append(GATE_UNAVAILABLE.format(why=gate_problem()))
        return warnings
    if min(study.shape) >= 2:
        result = gate.assess(study.pixels)
        if result.withheld:
            warnings.append(f"The image {result.reason} (input check score {result.score:.2f}, limit 1.00)")
    return warnings
