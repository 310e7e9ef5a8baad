"""The model contract: one typed object for ``model.json``, read by the app and written by the trainer.

Configuration as data, stored with the weights (as timm does): input size and normalisation, classes and
the positive class, threshold and temperature, the ONNX graph's interface and the Grad-CAM layer's grid.
``ModelCard.from_json`` checks types, not only presence; :func:`update_card` is the one writer of a card
that already exists (the trainer's export writes new ones through :meth:`ModelCard.write`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import BundleError
from .preprocess import PreprocessConfig

CARD_FILE = "model.json"
FORMAT_VERSION = 2  # 1: weights.pt only (the app exported ONNX at every load); 2: model.onnx with logits + cam


@dataclass(frozen=True)
class OnnxSpec:
    """The shipped graph: file, integrity, interface, and what export proved about it."""

    file: str
    sha256: str
    opset: int
    input_name: str
    logits_name: str
    cam_name: str
    initializer_dtype: str  # "float32", or "float16" stored and cast to float32 inside the graph
    verification: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "opset": self.opset,
            "input_name": self.input_name,
            "outputs": {"logits": self.logits_name, "cam": self.cam_name},
            "initializer_dtype": self.initializer_dtype,
            "verification": self.verification,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> OnnxSpec:
        outputs = _typed(d, "outputs", dict, where)
        return cls(
            file=_typed(d, "file", str, where),
            sha256=_typed(d, "sha256", str, where),
            opset=_typed(d, "opset", int, where),
            input_name=_typed(d, "input_name", str, where),
            logits_name=_typed(outputs, "logits", str, where + ".outputs"),
            cam_name=_typed(outputs, "cam", str, where + ".outputs"),
            initializer_dtype=_typed(d, "initializer_dtype", str, where),
            verification=_typed(d, "verification", dict, where, default={}),
        )


@dataclass(frozen=True)
class GradcamSpec:
    """The layer whose activations the map is computed from, and the map's native grid (rows, columns)."""

    layer: str
    grid: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "grid": list(self.grid)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> GradcamSpec:
        grid = _typed(d, "grid", list, where)
        if len(grid) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in grid):
            raise BundleError(f"{where}.grid must be two positive integers, got {grid!r}")
        return cls(layer=_typed(d, "layer", str, where), grid=(grid[0], grid[1]))


@dataclass(frozen=True)
class PopulationSpec:
    """Who and what the model was validated on: outside it the app withholds the score."""

    age_years: tuple[int, int]  # inclusive, in whole years (a child of 5 y 11 mo is 5)
    views: tuple[str, ...]
    modalities: tuple[str, ...]
    description: str = ""
    input_gate: dict[str, Any] = field(default_factory=dict)  # the pixel gate's operating point and rates

    def to_dict(self) -> dict[str, Any]:
        return {
            "age_years": list(self.age_years),
            "views": list(self.views),
            "modalities": list(self.modalities),
            "description": self.description,
            "input_gate": self.input_gate,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> PopulationSpec:
        ages = _typed(d, "age_years", list, where)
        whole = all(isinstance(a, int) and not isinstance(a, bool) for a in ages)
        if len(ages) != 2 or not whole or ages[0] > ages[1]:
            raise BundleError(f"{where}.age_years must be [min, max] in whole years, got {ages!r}")
        views, modalities = _typed(d, "views", list, where), _typed(d, "modalities", list, where)
        if not all(isinstance(v, str) for v in views + modalities):
            raise BundleError(f"{where}: views and modalities must be lists of strings")
        return cls(
            age_years=(ages[0], ages[1]),
            views=tuple(views),
            modalities=tuple(modalities),
            description=_typed(d, "description", str, where, default=""),
            input_gate=_typed(d, "input_gate", dict, where, default={}),
        )

    def age_text(self) -> str:
        return f"children aged {self.age_years[0]}-{self.age_years[1]} y"

    def admits_age(self, years: float) -> bool:
        return self.age_years[0] <= int(years) <= self.age_years[1]


@dataclass(frozen=True)
class BandSpec:
    """Calibrated probabilities in [low, high) get no call ("indeterminate: read without AI")."""

    low: float
    high: float
    rule: str
    how: str = ""
    measured: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "rule": self.rule, "how": self.how, "measured": self.measured}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> BandSpec:
        low, high = _number(d, "low", where), _number(d, "high", where)
        if not 0.0 <= low <= high <= 1.0:
            raise BundleError(f"{where}: the band must satisfy 0 <= low <= high <= 1, got [{low}, {high}]")
        return cls(
            low=low,
            high=high,
            rule=_typed(d, "rule", str, where),
            how=_typed(d, "how", str, where, default=""),
            measured=_typed(d, "measured", dict, where, default={}),
        )


@dataclass(frozen=True)
class ModelCard:
    name: str
    architecture: str
    preprocess: PreprocessConfig
    class_names: tuple[str, ...]
    positive_class: str
    threshold: float
    temperature: float
    weights_file: str
    weights_sha256: str
    weights_dtype: str
    onnx: OnnxSpec
    gradcam: GradcamSpec
    threshold_rule: str = ""
    intended_use: str = ""
    limitations: tuple[str, ...] = ()
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    intended_population: PopulationSpec | None = None
    indeterminate_band: BandSpec | None = None
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept on rewrite

    # -- derived -----------------------------------------------------------------------------------
    @property
    def positive_index(self) -> int:
        return self.class_names.index(self.positive_class)

    @property
    def negative_class(self) -> str:
        return next(n for n in self.class_names if n != self.positive_class)

    # -- serialisation -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format_version": self.format_version,
            "name": self.name,
            "architecture": self.architecture,
            "preprocess": self.preprocess.to_dict(),
            "class_names": list(self.class_names),
            "positive_class": self.positive_class,
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "temperature": self.temperature,
            "gradcam": self.gradcam.to_dict(),
            "onnx": self.onnx.to_dict(),
            "training": self.training,
            "metrics": self.metrics,
            "intended_use": self.intended_use,
            "limitations": list(self.limitations),
            "weights_file": self.weights_file,
            "weights_sha256": self.weights_sha256,
            "weights_dtype": self.weights_dtype,
        }
        if self.intended_population is not None:
            d["intended_population"] = self.intended_population.to_dict()
        if self.indeterminate_band is not None:
            d["indeterminate_band"] = self.indeterminate_band.to_dict()
        d.update(self.extra)
        return d

    @classmethod
    def from_json(cls, d: Any, where: str = CARD_FILE) -> ModelCard:
        """A validated card; BundleError with a one-line reason when a field is missing or of the wrong type."""
        if not isinstance(d, dict):
            raise BundleError(f"{where} must hold a JSON object")
        version = _typed(d, "format_version", int, where, default=1)
        if version != FORMAT_VERSION:
            raise BundleError(
                f"{where}: bundle format {version}, this app reads format {FORMAT_VERSION} "
                "(re-export it with `python -m trainer export --bundle DIR`)"
            )
        names = tuple(_typed(d, "class_names", list, where))
        if len(names) != 2 or not all(isinstance(n, str) and n for n in names) or names[0] == names[1]:
            raise BundleError(f"{where}: class_names must be two different names, got {list(names)!r}")
        positive = _typed(d, "positive_class", str, where)
        if positive not in names:
            raise BundleError(f"{where}: positive_class {positive!r} is not one of {list(names)}")
        threshold = _number(d, "threshold", where)
        temperature = _number(d, "temperature", where)
        if not 0.0 <= threshold <= 1.0 or temperature <= 0.0:
            raise BundleError(f"{where}: threshold must lie in [0, 1] and temperature be > 0")
        try:
            pre = PreprocessConfig.from_dict(_typed(d, "preprocess", dict, where))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: preprocess is invalid ({exc})") from exc
        limitations = _typed(d, "limitations", list, where, default=[])
        if not all(isinstance(x, str) for x in limitations):
            raise BundleError(f"{where}: limitations must be a list of strings")
        metrics = _typed(d, "metrics", dict, where, default={})
        if not all(isinstance(v, dict) for v in metrics.values()):
            raise BundleError(f"{where}: every metrics entry must be an object")
        known = {f.name for f in fields(cls)}
        population = _typed(d, "intended_population", dict, where, default=None)
        band = _typed(d, "indeterminate_band", dict, where, default=None)
        return cls(
            name=_typed(d, "name", str, where),
            architecture=_typed(d, "architecture", str, where),
            preprocess=pre,
            class_names=names,
            positive_class=positive,
            threshold=threshold,
            temperature=temperature,
            weights_file=_typed(d, "weights_file", str, where),
            weights_sha256=_typed(d, "weights_sha256", str, where),
            weights_dtype=_typed(d, "weights_dtype", str, where, default="float32"),
            onnx=OnnxSpec.from_dict(_typed(d, "onnx", dict, where), where + ".onnx"),
            gradcam=GradcamSpec.from_dict(_typed(d, "gradcam", dict, where), where + ".gradcam"),
            threshold_rule=_typed(d, "threshold_rule", str, where, default=""),
            intended_use=_typed(d, "intended_use", str, where, default=""),
            limitations=tuple(limitations),
            training=_typed(d, "training", dict, where, default={}),
            metrics=metrics,
            intended_population=(
                None if population is None else PopulationSpec.from_dict(population, where + ".intended_population")
            ),
            indeterminate_band=None if band is None else BandSpec.from_dict(band, where + ".indeterminate_band"),
            format_version=version,
            extra={k: v for k, v in d.items() if k not in known},
        )

    @classmethod
    def read(cls, bundle_dir: str | os.PathLike[str]) -> ModelCard:
        bundle_dir = Path(bundle_dir)
        path = bundle_dir / CARD_FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BundleError(f"{bundle_dir.name}: no {CARD_FILE} in the model folder") from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"{bundle_dir.name}: {CARD_FILE} is unreadable ({exc})") from exc
        return cls.from_json(raw, where=f"{bundle_dir.name}/{CARD_FILE}")

    def write(self, bundle_dir: str | os.PathLike[str]) -> Path:
        """Write the card atomically (a crash never leaves half a card beside good weights)."""
        path = Path(bundle_dir) / CARD_FILE
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".model.", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(self.to_json(), indent=2) + "\n")
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a card is as readable as the rest of the bundle
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def update_card(bundle_dir: str | os.PathLike[str], **changes: Any) -> ModelCard:
    """Read, change (dataclass fields by name), validate and rewrite a bundle's card; returns the new card."""
    card = ModelCard.read(bundle_dir)
    new = replace(card, **changes)
    ModelCard.from_json(json.loads(json.dumps(new.to_json())))  # the written card must read back
    new.write(bundle_dir)
    return new


def _typed(d: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if key not in d:
        if default is ...:
            raise BundleError(f"{where} lacks {key}")
        return default
    value = d[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise BundleError(f"{where}: {key} must be {expected}, got {type(value).__name__}")
    return value


def _number(d: dict[str, Any], key: str, where: str) -> float:
    value = _typed(d, key, (int, float), where)
    if isinstance(value, bool) or value != value:  # NaN
        raise BundleError(f"{where}: {key} must be a number")
    return float(value)
