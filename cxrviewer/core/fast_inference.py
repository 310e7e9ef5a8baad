"""ONNX Runtime for prediction: the bundle's PyTorch model exported in memory at load time.

On the 2-core CPUs this app targets, ONNX Runtime (graph optimisation ORT_ENABLE_ALL) runs the shipped
MobileNetV2 about 10x and ResNet50 about 1.5x faster than eager PyTorch at batch 1 (benchmarks/RESULTS.md).
Grad-CAM stays on the PyTorch model.

The ONNX graph is derived from the sha256-verified weights at every load (never cached on disk, so the
bundle's integrity check covers what runs) and is accepted only if it reproduces PyTorch's logits on a
fixed check batch within :data:`CHECK_TOLERANCE`; otherwise, or when onnxruntime or the exporter is
unavailable, prediction falls back to PyTorch and :attr:`OnnxRunner.reason` says why.
"""
from __future__ import annotations

import io
import os
import threading
import warnings

import numpy as np
import torch

CHECK_TOLERANCE = 1e-4  # max |logit difference| accepted between ONNX Runtime and PyTorch
_memo: dict[tuple, bytes] = {}  # (weights sha256, input size) -> exported graph, per process
_memo_lock = threading.Lock()


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install is the same as none
        return False
    return True


def export_onnx(model: torch.nn.Module, input_size: int) -> bytes:
    """The model as an ONNX graph (opset 17, dynamic batch), exported in memory."""
    example = torch.zeros(1, 3, input_size, input_size)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(model, (example,), buf, dynamo=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                          do_constant_folding=True)
    return buf.getvalue()


def check_batch(input_size: int) -> torch.Tensor:
    """A fixed, image-like batch (smooth gradients plus texture) used to validate the exported graph."""
    g = torch.Generator().manual_seed(1234)
    ramp = torch.linspace(-2, 2, input_size)
    base = ramp[None, :] * ramp[:, None].flip(0)
    return torch.stack([(base * s + torch.randn(input_size, input_size, generator=g) * 0.5).expand(3, -1, -1)
                        for s in (0.5, -1.0)]).contiguous()


class OnnxRunner:
    """Callable (N, 3, S, S) float32 tensor -> logits numpy array, or unusable with ``reason`` set."""

    def __init__(self, model: torch.nn.Module, input_size: int, key: str = "", threads: int | None = None):
        self.session = None
        self.reason = ""
        self.max_check_difference: float | None = None
        if os.environ.get("CXR_BACKEND", "").lower() == "torch":
            self.reason = "PyTorch requested (CXR_BACKEND=torch)"
            return
        if not available():
            self.reason = "onnxruntime is not installed"
            return
        try:
            import onnxruntime as ort

            memo_key = (key, input_size) if key else None
            with _memo_lock:
                graph = _memo.get(memo_key) if memo_key else None
            if graph is None:
                graph = export_onnx(model, input_size)
                if memo_key:
                    with _memo_lock:
                        _memo[memo_key] = graph
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads = threads or torch.get_num_threads()
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            x = check_batch(input_size)
            with torch.inference_mode():
                expected = model(x).float().numpy()
            got = session.run(None, {"input": x.numpy()})[0]
            for row in range(len(x)):  # batch 1 must agree with the batch, too
                got_one = session.run(None, {"input": x[row:row + 1].numpy()})[0]
                got = np.concatenate([got, got_one])
            diff = float(np.abs(got - np.concatenate([expected, expected])).max())
        except Exception as exc:  # noqa: BLE001 - any exporter/runtime failure: fall back to PyTorch
            self.reason = f"ONNX export or session failed ({type(exc).__name__}: {str(exc)[:200]})"
            return
        self.max_check_difference = diff
        if not np.isfinite(diff) or diff > CHECK_TOLERANCE:
            self.reason = f"ONNX Runtime disagrees with PyTorch (max logit difference {diff:.2e})"
            return
        self.session = session

    @property
    def usable(self) -> bool:
        return self.session is not None

    def __call__(self, inputs: torch.Tensor) -> np.ndarray:
        x = np.ascontiguousarray(inputs.detach().numpy(), dtype=np.float32)
        return self.session.run(None, {"input": x})[0]
