"""Input checks: warn instead of scoring confidently when a study is not what the model was trained on.

Two kinds of check run on every study before its score is shown:

* metadata rules (DICOM only): a non-chest body part, a modality that is not radiography, a lateral view,
  a DX "FOR PROCESSING" (raw detector) image, colour pixels, or an image too small to assess;
* a measured out-of-distribution test that needs no model. Features: the study squashed to a 24x24
  thumbnail (the same squash the model input uses) and 12 intensity/edge statistics of a 64x64 squash
  (percentiles, contrast, mean gradients, clipped fraction, left-right symmetry). Each block is z-scored
  and scored with a probabilistic-PCA distance (Mahalanobis in the top principal components plus the
  scaled residual) against Kermany training images; each block's threshold is a high percentile of
  held-out training distances. The study is flagged when either block exceeds its threshold. The fitted
  reference is ``resources/input_reference.json``, written by ``tools/build_input_reference.py``, which
  also measures the false-alarm rate (see docs/input_checks.md).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .preprocess import resize_to_input
from .study import Study

THUMBNAIL = 24
MIN_SIDE = 64  # smaller images cannot be assessed (the model input is larger than the whole image)
CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS", "CHEST_LAT", "TORSO"}
RADIOGRAPHY_MODALITIES = {"CR", "DX", "DR", "RG", "OT"}  # OT: secondary captures of films
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "LLD", "RLD", "LLO", "RLO"}
REFERENCE_FILE = "input_reference.json"


def default_reference_path() -> Path:
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / REFERENCE_FILE


@dataclass(frozen=True)
class Block:
    """Probabilistic-PCA model of one block of z-scored features."""

    start: int
    stop: int
    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,) per-feature standard deviation
    components: np.ndarray  # (K, D), orthonormal rows
    variances: np.ndarray  # (K,) variance along each component
    residual_variance: float  # mean variance per dimension outside the K components
    threshold: float = float("inf")

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance in the components plus scaled residual, divided by D, for (N, F) features."""
        x = (features[:, self.start : self.stop] - self.mean) / self.scale
        coeffs = x @ self.components.T
        inside = np.sum(coeffs**2 / self.variances, axis=1)
        residual = np.maximum(np.sum(x**2, axis=1) - np.sum(coeffs**2, axis=1), 0.0)
        return (inside + residual / self.residual_variance) / x.shape[1]

    def to_dict(self) -> dict:
        def r(a):
            return [float(f"{v:.6g}") for v in np.ravel(a)]

        return {
            "start": self.start,
            "stop": self.stop,
            "mean": r(self.mean),
            "scale": r(self.scale),
            "components": [r(c) for c in self.components],
            "variances": r(self.variances),
            "residual_variance": float(f"{self.residual_variance:.6g}"),
            "threshold": float(f"{self.threshold:.6g}"),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Block:
        f = lambda k: np.asarray(d[k], dtype=np.float64)  # noqa: E731
        return cls(
            int(d["start"]),
            int(d["stop"]),
            f("mean"),
            f("scale"),
            np.atleast_2d(f("components")),
            f("variances"),
            float(d["residual_variance"]),
            float(d["threshold"]),
        )


@dataclass(frozen=True)
class Reference:
    """Models of the training images' thumbnails and statistics; a study is out of distribution when
    either block's distance exceeds that block's threshold (the ratio below is then > 1)."""

    blocks: tuple[Block, ...]
    info: dict

    @property
    def threshold(self) -> float:
        return 1.0

    def distance(self, features: np.ndarray) -> np.ndarray:
        """(N, F) or (F,) features -> (N,) largest distance/threshold ratio over the blocks."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        return np.max(np.stack([b.distance(x) / b.threshold for b in self.blocks]), axis=0)

    def to_dict(self) -> dict:
        return {"thumbnail": THUMBNAIL, "blocks": [b.to_dict() for b in self.blocks], "info": self.info}

    @classmethod
    def from_dict(cls, d: dict) -> Reference:
        if int(d.get("thumbnail", THUMBNAIL)) != THUMBNAIL:
            raise ValueError(f"reference built for {d['thumbnail']} px thumbnails, this code uses {THUMBNAIL}")
        return cls(tuple(Block.from_dict(b) for b in d["blocks"]), dict(d.get("info", {})))


N_STATS = 12


def thumbnail_features(pixels: np.ndarray) -> np.ndarray:
    """Display pixels (H, W) in [0, 1] -> 24x24 squashed thumbnail (576 values) + 12 statistics."""
    thumb = resize_to_input(pixels, THUMBNAIL).astype(np.float64).ravel()
    small = resize_to_input(pixels, 64).astype(np.float64)
    gy, gx = np.abs(np.diff(small, axis=0)), np.abs(np.diff(small, axis=1))
    left, right = small[:, :32], small[:, 32:][:, ::-1]
    symmetry = np.corrcoef(left.ravel(), right.ravel())[0, 1] if left.std() > 0 and right.std() > 0 else 0.0
    stats = np.concatenate(
        [
            np.percentile(small, [1, 5, 25, 50, 75, 95, 99]),
            [small.std(), gx.mean(), gy.mean(), float(np.mean(small < 0.02) + np.mean(small > 0.98)), symmetry],
        ]
    )
    return np.concatenate([thumb, stats])


def fit_block(features: np.ndarray, start: int, stop: int, components: int) -> Block:
    x = np.asarray(features, dtype=np.float64)[:, start:stop]
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), 1e-3)
    _, s, vt = np.linalg.svd((x - mean) / scale, full_matrices=False)
    var = s**2 / max(len(x) - 1, 1)
    k = min(components, x.shape[1] - 1, len(var))
    residual = float(var[k:].sum() / (x.shape[1] - k))
    return Block(start, stop, mean, scale, vt[:k], np.maximum(var[:k], 1e-9), max(residual, 1e-6))


def fit_reference(
    fit: np.ndarray, calibrate: np.ndarray, percentile: float = 99.5, components: int = 16, info: dict | None = None
) -> Reference:
    """Fit each block on ``fit`` features; set its threshold at ``percentile`` of ``calibrate`` distances."""
    n_thumb = THUMBNAIL * THUMBNAIL
    blocks = []
    for start, stop, k in ((0, n_thumb, components), (n_thumb, n_thumb + N_STATS, N_STATS - 2)):
        b = fit_block(fit, start, stop, k)
        t = float(np.percentile(b.distance(np.asarray(calibrate, dtype=np.float64)), percentile))
        blocks.append(Block(b.start, b.stop, b.mean, b.scale, b.components, b.variances, b.residual_variance, t))
    return Reference(tuple(blocks), dict(info or {}))


def load_reference(path: str | Path | None = None) -> Reference | None:
    """The stored reference, or None when the file is absent or unreadable (the check is then skipped)."""
    path = Path(path) if path else default_reference_path()
    return _load_reference_cached(str(path))


@lru_cache(maxsize=4)
def _load_reference_cached(path: str) -> Reference | None:
    try:
        return Reference.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ood_distance(study: Study, reference: Reference) -> float:
    return float(reference.distance(thumbnail_features(study.pixels))[0])


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


def check_study(study: Study, reference: Reference | None = None, use_stored: bool = True) -> list[str]:
    """All warnings for a study; empty when it looks like the frontal chest films the model knows."""
    warnings = metadata_warnings(study.metadata)
    if reference is None and use_stored:
        reference = load_reference()
    if reference is not None and min(study.shape) >= 2:
        distance = ood_distance(study, reference)
        if distance > reference.threshold:
            warnings.append(
                f"Unlike the training images (out-of-distribution score {distance:.2f}, limit 1.00): "
                "possibly not a frontal chest film, or unusual exposure, orientation or inversion"
            )
    return warnings
