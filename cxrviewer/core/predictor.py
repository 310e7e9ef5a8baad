"""Run a model bundle on studies: calibrated probability, thresholded label, Grad-CAM."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from .architectures import gradcam_layer
from .bundle import ModelBundle
from .preprocess import preprocess
from .study import Study


@dataclass(frozen=True)
class Prediction:
    probability: float  # calibrated P(positive class)
    label: str
    threshold: float
    model_name: str


class Predictor:
    """``backend``: "auto" (ONNX Runtime when it is installed and reproduces PyTorch, else PyTorch),
    "onnxruntime" or "torch"; the CXR_BACKEND environment variable overrides "auto". Grad-CAM always
    runs on the PyTorch model."""

    def __init__(self, bundle: ModelBundle, backend: str = "auto"):
        import os

        self.bundle = bundle
        self.config = bundle.preprocess_config
        self.model = bundle.model.eval()
        backend = os.environ.get("CXR_BACKEND", backend) if backend == "auto" else backend
        self._runner = None
        self.backend = "torch"
        self.backend_note = "PyTorch requested" if backend == "torch" else ""
        if backend in ("auto", "onnxruntime"):
            from .fast_inference import OnnxRunner

            runner = OnnxRunner(self.model, self.config.input_size, key=bundle.card.get("weights_sha256", ""))
            if runner.usable:
                self._runner, self.backend = runner, "onnxruntime"
                self.backend_note = f"ONNX Runtime (max logit difference to PyTorch {runner.max_check_difference:.1e})"
            elif backend == "onnxruntime":
                from .errors import BundleError

                raise BundleError(f"{bundle.name}: ONNX Runtime backend unavailable: {runner.reason}")
            else:
                self.backend_note = f"PyTorch ({runner.reason})"

    @property
    def name(self) -> str:
        return self.bundle.name

    def model_input(self, study: Study) -> torch.Tensor:
        return preprocess(study.pixels, self.config)

    def probabilities(self, inputs: torch.Tensor) -> np.ndarray:
        """(N, 3, S, S) model inputs -> calibrated P(positive) per input."""
        if self._runner is not None:  # numpy only: no torch dispatch around an ONNX Runtime call
            logits = self._runner(inputs).astype(np.float64) / self.bundle.temperature
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            return (e[:, self.bundle.positive_index] / e.sum(axis=1)).astype(np.float32)
        with torch.inference_mode():
            logits = self.model(inputs).float() / self.bundle.temperature
            return torch.softmax(logits, dim=1)[:, self.bundle.positive_index].numpy()

    def to_prediction(self, probability: float) -> Prediction:
        card = self.bundle.card
        names = card["class_names"]
        positive = card["positive_class"]
        negative = next(n for n in names if n != positive)
        label = positive if probability >= self.bundle.threshold else negative
        return Prediction(float(probability), label, self.bundle.threshold, self.name)

    def predict(self, study: Study) -> Prediction:
        return self.predict_many([study])[0]

    def predict_many(self, studies: Sequence[Study], batch_size: int = 16) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(studies), batch_size):
            batch = torch.stack([self.model_input(s) for s in studies[start:start + batch_size]])
            out.extend(self.to_prediction(p) for p in self.probabilities(batch))
        return out

    def predict_pixels(self, images: Iterable[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Probabilities for raw (H, W) display images; used by evaluation on image folders."""
        probs: list[np.ndarray] = []
        batch: list[torch.Tensor] = []
        for img in images:
            batch.append(preprocess(img, self.config))
            if len(batch) == batch_size:
                probs.append(self.probabilities(torch.stack(batch)))
                batch = []
        if batch:
            probs.append(self.probabilities(torch.stack(batch)))
        return np.concatenate(probs) if probs else np.zeros(0, dtype=np.float32)

    def gradcam(self, study: Study) -> np.ndarray:
        """Heat map (H, W) in [0, 1] over the study's pixels, for the positive class."""
        from .gradcam import gradcam_heatmap  # pytorch-grad-cam takes ~1 s to import: only when asked

        return gradcam_heatmap(self.model, gradcam_layer(self.model, self.bundle.architecture),
                               self.model_input(study), self.bundle.positive_index, study.shape)
