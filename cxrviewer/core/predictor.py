"""Run a model bundle on studies: calibrated probability, thresholded label, Grad-CAM. No torch."""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .bundle import ModelBundle
from .cam import heatmap_for_study
from .onnx_model import OnnxModel
from .operating_point import softmax_positive
from .preprocess import preprocess
from .study import Study


@dataclass(frozen=True)
class Prediction:
    probability: float  # calibrated P(positive class)
    threshold: float
    band: tuple[float, float] | None
    threshold_source: str  # "shipped" or "site-calibrated (n, date)"
    model_name: str
    positive_class: str
    negative_class: str


class Predictor:
    """A verified bundle on ONNX Runtime. Grad-CAM comes from the same graph's ``cam`` output.

    ``site``: use this bundle's site profile from the user's settings when there is one (the app); the
    trainer's evaluation passes False so that recorded metrics never depend on a user's settings.
    """

    backend = "onnxruntime"

    def __init__(self, bundle: ModelBundle, threads: int | None = None, site: bool = True):
        from .site_calibration import load_profile, shipped_operating_point

        self.bundle = bundle
        self.card = bundle.card
        self.config = bundle.preprocess_config
        self.model = OnnxModel(bundle, threads=threads)
        profile = load_profile(bundle.card) if site else None
        self.site_profile = profile
        self.operating_point = profile.operating_point() if profile else shipped_operating_point(bundle.card)
        self._last_input: tuple[weakref.ref | None, np.ndarray] = (None, np.zeros(0, np.float32))
        self.backend_note = f"ONNX Runtime, {bundle.card.onnx.file} (opset {bundle.card.onnx.opset})"

    @property
    def name(self) -> str:
        return self.bundle.name

    def model_input(self, study: Study) -> np.ndarray:
        """The study's model input; the last one is kept, so Grad-CAM after a prediction of the same study
        does not preprocess it again (a weak reference to its pixels: never confused with another study)."""
        ref, cached = self._last_input
        if ref is not None and ref() is study.pixels:
            return cached
        model_input = preprocess(study.pixels, self.config)
        try:
            self._last_input = (weakref.ref(study.pixels), model_input)
        except TypeError:  # an array type without weak references: just do not cache
            pass
        return model_input

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        """(N, C) logits -> temperature-scaled softmax P(positive class), float32."""
        return softmax_positive(logits, self.operating_point.temperature, self.card.positive_index).astype(np.float32)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) model inputs -> calibrated P(positive) per input."""
        logits, _ = self.model(inputs)
        return self.calibrated(logits)

    def to_prediction(self, probability: float) -> Prediction:
        op = self.operating_point
        return Prediction(
            float(probability),
            op.threshold,
            op.band,
            op.source,
            self.name,
            self.card.positive_class,
            self.card.negative_class,
        )

    def predict(self, study: Study) -> Prediction:
        return self.predict_many([study])[0]

    def predict_many(self, studies: Sequence[Study], batch_size: int = 16) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(studies), batch_size):
            batch = np.stack([self.model_input(s) for s in studies[start : start + batch_size]])
            out.extend(self.to_prediction(p) for p in self.probabilities(batch))
        return out

    def predict_pixels(self, images: Iterable[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Probabilities for raw (H, W) display images; used by evaluation on image folders."""
        probs: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        for img in images:
            batch.append(preprocess(img, self.config))
            if len(batch) == batch_size:
                probs.append(self.probabilities(np.stack(batch)))
                batch = []
        if batch:
            probs.append(self.probabilities(np.stack(batch)))
        return np.concatenate(probs) if probs else np.zeros(0, dtype=np.float32)

    def cam_grid(self, model_input: np.ndarray) -> np.ndarray:
        """The raw positive-class map W_c . A (h, w) for one (3, S, S) input."""
        _, cam = self.model(model_input[None])
        return cam[0]

    def gradcam(self, study: Study) -> np.ndarray:
        """Heat map (H, W) in [0, 1] over the study's pixels, for the positive class."""
        return heatmap_for_study(self.cam_grid(self.model_input(study)), self.config.input_size, study.shape)
