"""Grad-CAM for a bundle's positive class, returned in the study's own pixel grid."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget



def gradcam_heatmap(model: torch.nn.Module, target_layer: torch.nn.Module, model_input: torch.Tensor,
                    class_index: int, out_shape: tuple[int, int]) -> np.ndarray:
    """Heat map in [0, 1] of shape ``out_shape`` (H, W) for one (3, S, S) input.

    Preprocessing squashes the study to a square without cropping, so stretching the map back to
    (H, W) puts each cell over the pixels it was computed from.
    """
    with GradCAM(model=model, target_layers=[target_layer]) as cam:
        heat = cam(input_tensor=model_input.unsqueeze(0), targets=[ClassifierOutputTarget(class_index)])[0]
    heat = np.nan_to_num(heat.astype(np.float32))
    h, w = out_shape
    resized = Image.fromarray(heat, mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
