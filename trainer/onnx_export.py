"""Write a bundle's ONNX graph (outputs ``logits`` and ``cam``) and prove it, once, at export.

The ``cam`` output is the positive class's w . A at the Grad-CAM layer (before ReLU and scaling). It equals
Grad-CAM only for the two heads the registry knows, right after that layer:

- global-average-pool -> (dropout) -> linear: w = W_c; :func:`check_cam_head` proves logits = W . mean(A) + b
  and the autograd gradient d logit_c / dA = W_c / (H*W) everywhere;
- top-cell pooling (``trainer/cell_evidence.py``): w = W_pos - W_neg; it proves the positive logit is the mean
  of the top cells of w . A + b (the negative one 0) and that the spatial mean of its gradient, Grad-CAM's
  channel weights, is w / (H*W).

Any other head is refused. :func:`verify_graph` then compares ONNX Runtime with PyTorch (logits, batch 1 and
batch N) and the scaled map with pytorch-grad-cam.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

from cxrviewer.core.cam import gradcam_from_cam

from .cam_capture import map_weight
from .cell_evidence import TopCellPooled, top_cell_count
from .gradcam_reference import reference_gradcam

OPSET = 17
INPUT_NAME, LOGITS_NAME, CAM_NAME = "input", "logits", "cam"
LOGIT_TOLERANCE = 1e-4
CAM_TOLERANCE = 1e-4


class ExportRefused(RuntimeError):
    """The model cannot be shipped as a verified logits + cam graph; the message says why."""


class LogitsAndCam(nn.Module):
    """model(x) plus the positive class's w . A at ``layer``, captured by a forward hook (traced into ONNX)."""

    def __init__(self, model: nn.Module, layer: nn.Module, head: nn.Linear, positive_index: int):
        super().__init__()
        self.model = model
        self.register_buffer("w_pos", map_weight(model, head, positive_index).detach().clone())
        self._acts: list[torch.Tensor] = []
        self._hook = layer.register_forward_hook(lambda _m, _i, out: self._acts.append(out))

    def remove_hook(self) -> None:
        self._hook.remove()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._acts.clear()
        logits = self.model(x)
        cam = torch.einsum("k,nkhw->nhw", self.w_pos, self._acts[-1])
        return logits, cam


@dataclass(frozen=True)
class HeadCheck:
    grid: tuple[int, int]
    max_logit_difference: float  # model logits vs W . mean(A) + b (or the top-cell mean of w . A + b)
    max_gradient_difference: float  # autograd gradient vs w / (H*W), relative to max |w| / (H*W)
    head: str = "global-average-pool -> linear"


def activations(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, A) for a batch, A kept in the graph for autograd."""
    acts: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: acts.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    return logits, acts[-1]


def check_cam_head(
    model: nn.Module, layer: nn.Module, head: nn.Module, inputs: torch.Tensor, layer_name: str = "the Grad-CAM layer"
) -> HeadCheck:
    """Refuse (ExportRefused) unless the network after ``layer`` is global-average-pool -> (dropout) -> ``head``,
    or ``head`` applied per cell with top-cell pooling (a :class:`TopCellPooled` model)."""
    if not isinstance(head, nn.Linear):
        raise ExportRefused(
            f"the classifier is {type(head).__name__}, not a linear layer: the cam output would not be Grad-CAM"
        )
    if isinstance(model, TopCellPooled):
        return check_top_cell_head(model, layer, head, inputs, layer_name)
    model.eval()
    x = inputs.clone().requires_grad_(False)
    logits, acts = activations(model, layer, x)
    if acts.dim() != 4:
        raise ExportRefused(f"{layer_name} gives a {acts.dim()}-d output, not (N, C, H, W) feature maps")
    h, w = acts.shape[-2:]
    with torch.no_grad():
        linear = acts.mean(dim=(2, 3)) @ head.weight.T + head.bias
        scale = float(logits.abs().max()) + 1.0
        logit_diff = float((linear - logits).abs().max()) / scale
    if not logit_diff <= LOGIT_TOLERANCE:
        raise ExportRefused(
            f"the network after {layer_name} is not global-average-pool -> (dropout) -> linear (its logits differ "
            f"from the linear map of the pooled activations by {logit_diff:.1e} relative): Grad-CAM would not equal "
            "W_c . A, so no cam output is exported"
        )
    grad_diff = 0.0
    for c in range(int(head.weight.shape[0])):
        logits, acts = activations(model, layer, x)
        acts.retain_grad()
        logits[:, c].sum().backward()
        assert acts.grad is not None
        expected = (head.weight[c] / (h * w)).detach()[None, :, None, None]
        rel = float((acts.grad - expected).abs().max() / (expected.abs().max() + 1e-12))
        grad_diff = max(grad_diff, rel)
        model.zero_grad(set_to_none=True)
    if not grad_diff <= 1e-4:
        raise ExportRefused(
            f"the gradient of the logits at {layer_name} is not W_c / (H*W) everywhere (relative difference "
            f"{grad_diff:.1e}): the head is not global-average-pool -> linear, so no cam output is exported"
        )
    return HeadCheck(grid=(int(h), int(w)), max_logit_difference=logit_diff, max_gradient_difference=grad_diff)


def check_top_cell_head(
    model: TopCellPooled, layer: nn.Module, head: nn.Linear, inputs: torch.Tensor, layer_name: str
) -> HeadCheck:
    """Top-cell pooling, proven on real inputs: logits = (0, mean of the top k cells of w . A + b), and the
    spatial mean of d logit_pos / dA (Grad-CAM's channel weights) = w / (H*W) for every image."""
    from .cell_evidence import POSITIVE_INDEX, evidence_weight

    model.eval()
    w, b = (t.detach() for t in evidence_weight(head, POSITIVE_INDEX))
    logits, acts = activations(model, layer, inputs.clone())
    h, wd = acts.shape[-2:]
    with torch.no_grad():
        cells = (torch.einsum("k,nkhw->nhw", w, acts) + b).flatten(1)
        k = top_cell_count(h * wd, model.top_fraction)
        expected_logits = torch.stack([torch.zeros(len(cells)), cells.topk(k, dim=1).values.mean(1)], dim=1)
        scale = float(logits.abs().max()) + 1.0
        logit_diff = float((expected_logits - logits).abs().max()) / scale
    if not logit_diff <= LOGIT_TOLERANCE:
        raise ExportRefused(
            f"the network after {layer_name} is not linear-per-cell -> top-cell pooling (its logits differ by "
            f"{logit_diff:.1e} relative): Grad-CAM would not equal w . A, so no cam output is exported"
        )
    logits, acts = activations(model, layer, inputs.clone())
    acts.retain_grad()
    logits[:, POSITIVE_INDEX].sum().backward()
    assert acts.grad is not None
    channel_weights = acts.grad.mean(dim=(2, 3))  # what Grad-CAM weighs the channels with, per image
    expected = (w / (h * wd))[None, :]
    grad_diff = float((channel_weights - expected).abs().max() / (expected.abs().max() + 1e-12))
    model.zero_grad(set_to_none=True)
    if not grad_diff <= 1e-4:
        raise ExportRefused(
            f"Grad-CAM's channel weights at {layer_name} are not w / (H*W) (relative difference {grad_diff:.1e}): "
            "no cam output is exported"
        )
    return HeadCheck(
        grid=(int(h), int(wd)),
        max_logit_difference=logit_diff,
        max_gradient_difference=grad_diff,
        head=f"linear per cell -> mean of the top {k} of {h * wd} cells (top-cell pooling)",
    )


def export_graph(
    model: nn.Module, layer: nn.Module, head: nn.Linear, positive_index: int, input_size: int, half: bool
) -> bytes:
    """The ONNX graph (opset 17, dynamic batch). ``half``: initializers stored as float16 and cast to float32
    in the graph, so it computes in float32 on weights that are exactly the float16 PyTorch weights."""
    wrapper = LogitsAndCam(model, layer, head, positive_index).eval()
    buf = io.BytesIO()
    try:
        _trace(wrapper, buf, input_size, fold=not half)
    finally:
        wrapper.remove_hook()
    graph = onnx.load_from_string(buf.getvalue())
    if half:
        graph = store_initializers_as_float16(graph)
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def _trace(wrapper: nn.Module, buf: io.BytesIO, input_size: int, fold: bool) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(
            wrapper,
            (torch.zeros(1, 3, input_size, input_size),),
            buf,  # type: ignore[arg-type]  # a file object is accepted (torch.onnx docs)
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[LOGITS_NAME, CAM_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, LOGITS_NAME: {0: "batch"}, CAM_NAME: {0: "batch"}},
            # folding merges BatchNorm into the convolutions, whose products are no longer float16-exact;
            # ONNX Runtime folds the same at session start (in float32)
            do_constant_folding=fold,
        )


def store_initializers_as_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Float32 initializers that are exactly float16 values are stored as float16 with a Cast back to float32."""
    casts, kept = [], []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            kept.append(init)
            continue
        a = numpy_helper.to_array(init)
        half = a.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), a):
            raise ExportRefused(f"initializer {init.name} is not float16-exact: export with float32 weights")
        kept.append(numpy_helper.from_array(half, init.name + "_fp16"))
        casts.append(
            helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=TensorProto.FLOAT, name=f"cast_{init.name}")
        )
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    nodes = casts + list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def verify_graph(
    graph: bytes, model: nn.Module, layer: nn.Module, positive_index: int, inputs: torch.Tensor, batch: int = 8
) -> dict[str, Any]:
    """Compare the graph with PyTorch and pytorch-grad-cam on ``inputs`` (real images); ExportRefused if off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    x = inputs.float().contiguous()
    with torch.no_grad():
        expected = model(x).float().numpy()
    one = np.concatenate([session.run([LOGITS_NAME], {INPUT_NAME: x[i : i + 1].numpy()})[0] for i in range(len(x))])
    many, cams = [], []
    for start in range(0, len(x), batch):
        logits, cam = session.run([LOGITS_NAME, CAM_NAME], {INPUT_NAME: x[start : start + batch].numpy()})
        many.append(logits)
        cams.append(cam)
    d1 = float(np.abs(one - expected).max())
    dn = float(np.abs(np.concatenate(many) - expected).max())
    cam_all = np.concatenate(cams)
    size = x.shape[-1]
    dcam = max(
        float(np.abs(gradcam_from_cam(cam_all[i], size) - reference_gradcam(model, layer, x[i], positive_index)).max())
        for i in range(len(x))
    )
    report = {
        "images": int(len(x)),
        "batch_n": batch,
        "max_logit_difference_batch_1": d1,
        "max_logit_difference_batch_n": dn,
        "max_cam_difference_vs_pytorch_grad_cam": dcam,
        "tolerance": LOGIT_TOLERANCE,
    }
    if not (d1 <= LOGIT_TOLERANCE and dn <= LOGIT_TOLERANCE):
        raise ExportRefused(f"ONNX Runtime logits differ from PyTorch by {max(d1, dn):.1e} (> {LOGIT_TOLERANCE:g})")
    if not dcam <= CAM_TOLERANCE:
        raise ExportRefused(f"the graph's map differs from pytorch-grad-cam's by {dcam:.1e} (> {CAM_TOLERANCE:g})")
    return report
