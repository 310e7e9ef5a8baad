"""Grad-CAM by pytorch-grad-cam, the reference implementation: export proves the shipped graph against it,
and ``trainer evaluate`` draws its panels with it."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget


def reference_gradcam(
    model: torch.nn.Module, target_layer: torch.nn.Module, model_input: torch.Tensor, class_index: int
) -> np.ndarray:
    """pytorch-grad-cam's map in [0, 1] at the input's size (S, S) for one (3, S, S) input."""
    with GradCAM(model=model, target_layers=[target_layer]) as cam:
        heat = cam(input_tensor=model_input.unsqueeze(0), targets=[ClassifierOutputTarget(class_index)])[0]
    return np.nan_to_num(heat.astype(np.float32))


def reference_heatmap(
    model: torch.nn.Module,
    target_layer: torch.nn.Module,
    model_input: torch.Tensor,
    class_index: int,
    out_shape: tuple[int, int],
) -> np.ndarray:
    """The reference map stretched over a study's pixels (H, W), as the app stretches its own."""
    heat = reference_gradcam(model, target_layer, model_input, class_index)
    h, w = out_shape
    resized = Image.fromarray(heat, mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
