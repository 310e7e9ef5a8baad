"""ONNX Runtime prediction reproduces PyTorch (1e-4) and falls back to PyTorch when it cannot."""
import numpy as np
import pytest
import torch

from cxrviewer.core import Predictor, load_study
from cxrviewer.core import fast_inference
from cxrviewer.core.fast_inference import OnnxRunner

from .conftest import DICOM_DIR, NATIVE_DIR

pytestmark = pytest.mark.skipif(not fast_inference.available(), reason="onnxruntime not installed")


def _studies():
    return [load_study(p) for p in sorted(NATIVE_DIR.glob("*/*.jpeg"))[:4] + [DICOM_DIR / "siim_acr_chest_pa.dcm"]]


def test_onnxruntime_matches_pytorch(viewer_predictor):
    from cxrviewer.core import load_bundle

    fast = Predictor(load_bundle(viewer_predictor.bundle.path), backend="onnxruntime")
    slow = Predictor(load_bundle(viewer_predictor.bundle.path), backend="torch")
    assert fast.backend == "onnxruntime" and slow.backend == "torch"
    studies = _studies()
    a = np.array([p.probability for p in fast.predict_many(studies, batch_size=1)])
    b = np.array([p.probability for p in slow.predict_many(studies, batch_size=1)])
    c = np.array([p.probability for p in fast.predict_many(studies, batch_size=5)])
    assert np.abs(a - b).max() <= 1e-4
    assert np.abs(a - c).max() <= 1e-5
    # Grad-CAM stays on PyTorch and is the same whichever backend predicts
    np.testing.assert_allclose(fast.gradcam(studies[0]), slow.gradcam(studies[0]), atol=1e-6)


def test_disagreeing_graph_is_refused(monkeypatch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2)).eval()
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(4, 2)).eval()
    assert OnnxRunner(model, 16).usable
    real_export = fast_inference.export_onnx
    monkeypatch.setattr(fast_inference, "export_onnx", lambda m, s: real_export(other, s))
    runner = OnnxRunner(model, 16)
    assert not runner.usable and "disagrees" in runner.reason


def test_backend_can_be_forced_to_torch(monkeypatch, viewer_predictor):
    monkeypatch.setenv("CXR_BACKEND", "torch")
    p = Predictor(viewer_predictor.bundle)
    assert p.backend == "torch"
