"""Population gate: withhold the score when a film is outside the children's films the models were trained on.

The shipped models were trained on Kermany et al. (2018): AP chest films of children aged 1-5 from one hospital
in Guangzhou. This gate looks only at the pixels (PNG/JPEG carry no metadata) and says whether a study looks
like an adult chest film, a photo or screenshot of a film, a lateral view or not a chest film at all.

Every image first goes through ONE processing, :func:`normalise_for_gate` (squash to 224x224, a JPEG
re-encode, a mild blur). The Kermany training files were themselves squashed to 224 px and re-encoded, while
every other film reaches the app at its own resolution: without this step a gate learns the files' history
(resolution, compression) instead of the patients, and withholds Kermany films seen at their original size.

The fitted gate is ``resources/input_gate/gate.onnx`` (an ImageNet MobileNetV2 cut into pooled features at
several depths, then a multinomial logistic model and a Mahalanobis distance to the Kermany films, all in one
graph) plus ``gate.json`` (operating point, sha256 of the graph, measured rates), both written by
``tools/build_input_gate.py``; see docs/input_checks.md. This module needs only numpy, Pillow and onnxruntime.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .errors import BundleError

GATE_DIR = "input_gate"
GRAPH_FILE = "gate.onnx"
CONFIG_FILE = "gate.json"

# The one normalisation (recorded in gate.json; a gate fitted with other values is refused).
GATE_SIZE = 224
GATE_JPEG_QUALITY = 75
GATE_BLUR_RADIUS = 1.0

KINDS = ("adult", "photo", "lateral", "non-chest")
REASONS = {
    "adult": "looks like an adult chest film; the model was validated on children aged 1-5 y",
    "photo": "looks like a photo or screenshot of a film, not the film itself",
    "lateral": "looks like a lateral view; the model was validated on frontal (AP) films only",
    "non-chest": "does not look like a chest film",
    None: "looks like the paediatric frontal chest films the model was validated on",
}


UNLIKE = "is unlike the paediatric frontal chest films the model was validated on"


class InputGateError(BundleError):
    """The gate's files are present but unusable (tampered graph, wrong normalisation, unreadable JSON)."""


def default_gate_path() -> Path:
    """resources/input_gate of the source tree, or of the packaged app (PyInstaller's ``sys._MEIPASS``)."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / GATE_DIR


def normalise_for_gate(pixels: np.ndarray) -> np.ndarray:
    """The one processing every image goes through before the gate sees it.

    (H, W) (or (H, W, C)) display pixels in [0, 1] -> (224, 224) float32 in [0, 1]: quantised to 8 bits,
    squashed to 224x224 with no crop (Pillow bilinear, which antialiases when shrinking, as the Kermany
    224 px files were made), re-encoded as JPEG quality 75, then a Gaussian blur of radius 1 px.
    """
    a = np.asarray(pixels, dtype=np.float32)
    if a.ndim == 3:
        a = a.mean(axis=2)
    if a.ndim != 2 or min(a.shape) < 1:
        raise ValueError(f"expected a (H, W) image, got shape {a.shape}")
    a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)
    img = Image.fromarray(np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8), mode="L")
    if img.size != (GATE_SIZE, GATE_SIZE):
        img = img.resize((GATE_SIZE, GATE_SIZE), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=GATE_JPEG_QUALITY)
    buf.seek(0)
    with Image.open(buf) as decoded:
        img = decoded.convert("L")
    img = img.filter(ImageFilter.GaussianBlur(GATE_BLUR_RADIUS))
    return np.asarray(img, dtype=np.float32) / 255.0


def outside_logit(probs: np.ndarray) -> np.ndarray:
    """log(P(outside) / P(Kermany)) per row of (n, classes) probabilities (first class: Kermany).

    P(outside) is summed over the outside classes rather than taken as 1 - P(Kermany), which keeps its
    precision for confident in-population films; both are floored so the log stays finite.
    """
    probs = np.asarray(probs, dtype=np.float64)
    p_out = np.maximum(probs[:, 1:].sum(axis=1), 1e-12)
    return np.log(p_out) - np.log(np.maximum(probs[:, 0], 1e-12))


def gate_scores(probs: np.ndarray, distance: np.ndarray, op: dict) -> np.ndarray:
    """The gate's score per study (withheld when > 1) from the graph's outputs and gate.json's operating point.

    ``fusion`` "sum" (the shipped rule): the classifier's log-odds of outside and the log distance, each
    standardised on the Kermany calibration films, are added and divided by their limit. Adding them withholds a
    film on which both are raised but neither alone crosses its own limit (most adult films the older rule
    missed). ``fusion`` "any" (gates written before): the larger of P(outside)/limit and distance/limit.
    """
    probs = np.asarray(probs, dtype=np.float64)
    dist = np.asarray(distance, dtype=np.float64)
    if op.get("fusion", "any") == "sum":
        za = (outside_logit(probs) - float(op["logit_p_mean"])) / float(op["logit_p_sd"])
        zb = (np.log(np.maximum(dist, 1e-12)) - float(op["log_d_mean"])) / float(op["log_d_sd"])
        return (za + zb) / float(op["limit"])
    p_out = 1.0 - probs[:, 0]
    return np.maximum(p_out / float(op["p_outside"]), dist / float(op["distance"]))


def _check_operating_point(op: dict) -> None:
    """KeyError / ValueError / TypeError when gate.json's operating point lacks what its fusion rule needs."""
    keys = ("logit_p_mean", "logit_p_sd", "log_d_mean", "log_d_sd", "limit", "p_outside")
    if op.get("fusion", "any") == "sum":
        values = [float(op[k]) for k in keys]
        if min(values[1], values[3], values[4]) <= 0:
            raise ValueError("non-positive scale or limit in the operating point")
    elif op.get("fusion", "any") == "any":
        float(op["p_outside"]), float(op["distance"])
    else:
        raise ValueError(f"unknown fusion rule {op.get('fusion')!r}")


@dataclass(frozen=True)
class GateResult:
    """``score``: the gate's score (see :func:`gate_scores`); withheld when it exceeds 1."""

    score: float
    withheld: bool
    kind: str | None  # "adult", "photo", "non-chest", "lateral" or None (looks in-population)
    reason: str  # one line for the radiologist
    p_outside: float = 0.0  # 1 - P(Kermany-like paediatric AP film) from the classifier in the graph
    distance: float = 0.0  # Mahalanobis distance to the Kermany films' features, per dimension


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class InputGate:
    """The fitted gate: ``assess(pixels)`` / ``assess_many([...])``. Thread-safe (one ONNX run at a time)."""

    def __init__(self, graph: bytes, config: dict, threads: int | None = None):
        try:
            import onnxruntime as ort
        except Exception as exc:  # a broken install is the same as none
            raise InputGateError(f"input gate: ONNX Runtime is not available ({type(exc).__name__}: {exc})") from exc
        self.config = config
        self.classes: tuple[str, ...] = tuple(config["classes"])  # first class: in-population
        self.operating_point: dict = dict(config["operating_point"])
        # the classifier names the kind of outsider only above this P(outside); below it the reason says "unlike"
        self.p_limit = float(self.operating_point["p_outside"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or max(1, min(2, os.cpu_count() or 1))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between runs: spinning intra-op threads take the CPU from the UI thread and the decode
        # threads (benchmarks/ui_contention.py: longer UI heartbeat gaps with spinning on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # truncated or otherwise invalid graph
            raise InputGateError(f"input gate: {GRAPH_FILE} cannot be loaded by ONNX Runtime ({exc})") from exc
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    @property
    def info(self) -> dict:
        return dict(self.config.get("measured", {}))

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            probs, dist = self._session.run(["probs", "distance"], {self._input: batch})
        return np.asarray(probs, dtype=np.float64), np.asarray(dist, dtype=np.float64)

    def _result(self, probs: np.ndarray, dist: float) -> GateResult:
        p_out = float(1.0 - probs[0])
        score = float(gate_scores(probs[None], np.array([dist]), self.operating_point)[0])
        withheld = bool(score > 1.0)
        kind = None
        reason = REASONS[None]
        if withheld:
            kind = self.classes[1 + int(np.argmax(probs[1:]))]
            # the classifier names a kind only when it is the one that fired; the distance alone says "unlike"
            reason = REASONS[kind] if p_out > self.p_limit else UNLIKE
        return GateResult(float(score), withheld, kind, reason, p_out, float(dist))

    def assess(self, pixels: np.ndarray) -> GateResult:
        """Display pixels (H, W) in [0, 1] (``Study.pixels``) -> the gate's verdict for this study."""
        return self.assess_many([pixels])[0]

    def assess_many(self, images: Iterable[np.ndarray], batch_size: int = 16) -> list[GateResult]:
        out: list[GateResult] = []
        items = list(images)
        for i in range(0, len(items), batch_size):
            batch = np.stack([normalise_for_gate(p) for p in items[i : i + batch_size]])[:, None]
            probs, dist = self._run(np.ascontiguousarray(batch, dtype=np.float32))
            out.extend(self._result(p, float(d)) for p, d in zip(probs, dist))
        return out


def load_gate(path: Path | None = None, threads: int | None = None) -> InputGate | None:
    """The shipped gate from ``path`` (a folder holding gate.onnx + gate.json; default resources/input_gate).

    Returns None when the files are absent: the caller must then say that the population check did not run
    (scores are not gated). Raises :class:`InputGateError` when the files are there but must not be used:
    the graph's sha256 differs from the one recorded in gate.json (tampered or truncated), the JSON is
    unreadable, or the gate was fitted with another normalisation than :func:`normalise_for_gate`.
    """
    folder = Path(path) if path is not None else default_gate_path()
    if folder.is_file():
        folder = folder.parent
    graph_path, config_path = folder / GRAPH_FILE, folder / CONFIG_FILE
    if not graph_path.is_file() or not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        expected = str(config["graph_sha256"]).lower()
        norm = config["normalisation"]
        fitted = (int(norm["size"]), int(norm["jpeg_quality"]), float(norm["blur_radius"]))
        _check_operating_point(config["operating_point"])
        config["classes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputGateError(f"input gate: {config_path.name} is unreadable ({exc})") from exc
    if fitted != (GATE_SIZE, GATE_JPEG_QUALITY, GATE_BLUR_RADIUS):
        raise InputGateError(
            f"input gate: fitted with normalisation {fitted}, this code applies "
            f"{(GATE_SIZE, GATE_JPEG_QUALITY, GATE_BLUR_RADIUS)}"
        )
    graph = graph_path.read_bytes()  # run the bytes whose hash is checked, not the path
    if _sha256(graph) != expected:
        raise InputGateError(
            f"input gate: {GRAPH_FILE} does not match the sha256 recorded in {CONFIG_FILE} "
            "(modified or truncated); refusing to use it"
        )
    return InputGate(graph, config, threads)
