"""A bundle's ``model.onnx`` on ONNX Runtime: logits and the positive class's activation map in one pass.

On the 2-core CPUs this app targets ONNX Runtime (graph optimisation ORT_ENABLE_ALL) runs the shipped
models several times faster than eager PyTorch at batch 1 (benchmarks/RESULTS.md), and it needs no torch.
The graph was proven against PyTorch and pytorch-grad-cam when ``trainer export`` wrote it; here it is only
run after its sha256 matched the card (:func:`cxrviewer.core.bundle.load_bundle`).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from .bundle import ModelBundle
from .errors import BundleError


def default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class OnnxModel:
    """Callable (N, 3, S, S) float32 -> (logits (N, C), cam (N, h, w)); thread-safe (ORT sessions are)."""

    def __init__(self, bundle: ModelBundle, threads: int | None = None):
        try:
            import onnxruntime as ort
        except Exception as exc:  # a broken install is the same as none
            raise BundleError(f"{bundle.name}: ONNX Runtime is not available ({type(exc).__name__}: {exc})") from exc
        spec = bundle.card.onnx
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between runs: spinning intra-op threads take the CPU from the UI thread and the decode
        # threads (benchmarks/ui_contention.py: longer UI heartbeat gaps with spinning on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            # bytes, not the path: the graph run is the graph whose sha256 was just checked
            self.session = ort.InferenceSession(
                bundle.onnx_path.read_bytes(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # truncated or otherwise invalid graph
            first_line = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"{bundle.name}: model.onnx cannot be loaded by ONNX Runtime ({first_line})") from exc
        names_in = [i.name for i in self.session.get_inputs()]
        names_out = [o.name for o in self.session.get_outputs()]
        if names_in != [spec.input_name] or not {spec.logits_name, spec.cam_name} <= set(names_out):
            raise BundleError(
                f"{bundle.name}: model.onnx has inputs {names_in} and outputs {names_out}, "
                f"not the {spec.input_name} -> {spec.logits_name}, {spec.cam_name} its card names"
            )
        self._input = spec.input_name
        self._outputs = [spec.logits_name, spec.cam_name]
        self._lock = threading.Lock()  # one run at a time: the intra-op threads are sized for the machine

    def __call__(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(inputs, dtype=np.float32)
        with self._lock:
            logits, cam = self.session.run(self._outputs, {self._input: x})
        return logits, cam
