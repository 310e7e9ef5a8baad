"""Grad-CAM on a tiny model that learned to look at a bright square: the reference (pytorch-grad-cam) and the
exported graph's ``cam`` output agree and peak on the square; a head that is not GAP -> linear is refused."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from cxrviewer.core.cam import gradcam_from_cam, heatmap_for_study
from trainer.gradcam_reference import reference_gradcam, reference_heatmap
from trainer.onnx_export import ExportRefused, check_cam_head, export_graph, verify_graph


def square_images(n, size, rng):
    x = rng.normal(0.3, 0.05, (n, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, n)
    boxes = []
    for i in range(n):
        r, c = rng.integers(4, size - 12, 2)
        boxes.append((r, c))
        if y[i]:
            x[i, 0, r : r + 8, c : c + 8] = 1.0
    return torch.from_numpy(x).repeat(1, 3, 1, 1), torch.from_numpy(y), boxes


def trained_square_model(pool: nn.Module, steps: int = 150) -> tuple[nn.Module, np.random.Generator]:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        pool,
        nn.Flatten(),
        nn.Linear(16, 2),
    )
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(steps):
        x, y, _ = square_images(32, 48, rng)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), rng


def hits_on_square(maps, boxes, scale):
    hits = 0
    for heat, (br, bc) in zip(maps, boxes):
        r, c = np.unravel_index(np.argmax(heat), heat.shape)
        hits += (scale * br - 4 <= r < scale * (br + 8) + 4) and (scale * bc - 4 <= c < scale * (bc + 8) + 4)
    return hits


def test_reference_heatmap_peaks_on_the_square():
    model, rng = trained_square_model(nn.AdaptiveMaxPool2d(1))
    x, y, boxes = square_images(64, 48, rng)
    assert (model(x).argmax(1) == y).float().mean() > 0.95
    positives = [i for i in range(64) if y[i] == 1][:10]
    maps = [reference_heatmap(model, model[5], x[i], 1, (96, 96)) for i in positives]  # on a 2x larger grid
    assert all(m.shape == (96, 96) for m in maps)
    assert hits_on_square(maps, [boxes[i] for i in positives], 2) >= 9


def test_exported_cam_equals_pytorch_grad_cam_and_peaks_on_the_square():
    model, rng = trained_square_model(nn.AdaptiveAvgPool2d(1), steps=250)
    x, y, boxes = square_images(64, 48, rng)
    assert (model(x).argmax(1) == y).float().mean() > 0.9
    check = check_cam_head(model, model[6], model[9], x[:4])  # the ReLU right before pooling
    assert check.grid == (24, 24)
    graph = export_graph(model, model[6], model[9], 1, 48, half=False)
    report = verify_graph(graph, model, model[6], 1, x[:12], batch=5)
    assert report["max_cam_difference_vs_pytorch_grad_cam"] <= 1e-4
    import onnxruntime as ort

    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    positives = [i for i in range(64) if y[i] == 1][:10]
    _, cams = session.run(None, {"input": x[positives].numpy()})
    ours = [gradcam_from_cam(c, 48) for c in cams]
    refs = [reference_gradcam(model, model[6], x[i], 1) for i in positives]
    assert max(float(np.abs(a - b).max()) for a, b in zip(ours, refs)) <= 1e-4
    assert hits_on_square(ours, [boxes[i] for i in positives], 1) >= 9
    study_map = heatmap_for_study(cams[0], 48, (96, 120))  # a non-square study: stretched, in [0, 1]
    assert study_map.shape == (96, 120) and study_map.min() >= 0.0 and study_map.max() <= 1.0


def test_export_refuses_a_head_that_is_not_gap_linear():
    model, rng = trained_square_model(nn.AdaptiveMaxPool2d(1), steps=20)
    x, _, _ = square_images(4, 48, rng)
    with pytest.raises(ExportRefused, match="not global-average-pool"):
        check_cam_head(model, model[5], model[9], x)


def test_export_refuses_a_nonlinear_head_after_average_pooling():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 8),
        nn.ReLU(),
        nn.Linear(8, 2),
    ).eval()
    x = torch.randn(4, 3, 32, 32)
    with pytest.raises(ExportRefused):
        check_cam_head(model, model[1], model[6], x)


@pytest.mark.parametrize(("arch", "base", "size", "grid"), [("mobilenet_v2_os16", "mobilenet_v2", 112, 7)])
def test_dilated_variant_keeps_the_weights_doubles_the_grid_and_stays_exact(arch, base, size, grid):
    """Output stride 16 (last stage dilated): the same parameters as the stride-32 net, a map twice as fine,
    and still global-average-pool -> linear, so the exported cam equals pytorch-grad-cam on real films."""
    from cxrviewer.core import PreprocessConfig, load_study, preprocess
    from trainer.backbones import init_model
    from trainer.models import build_model, gradcam_layer

    from .conftest import NATIVE_DIR

    torch.manual_seed(0)
    dilated, (mean, std), _, _ = init_model(arch, "imagenet")
    dilated = dilated.eval()
    plain = build_model(base).eval()
    plain.load_state_dict(dilated.state_dict())  # loads unchanged: the same parameter names and shapes
    config = PreprocessConfig(size, tuple(mean), tuple(std), "none")
    films = sorted(NATIVE_DIR.glob("*/*.jpeg"))[:3]
    x = torch.from_numpy(np.stack([preprocess(load_study(f).pixels, config) for f in films]))
    layer = gradcam_layer(dilated, arch)
    head = dilated.get_submodule("classifier.1")
    assert check_cam_head(dilated, layer, head, x, arch).grid == (grid, grid)
    plain_grid = check_cam_head(plain, gradcam_layer(plain, base), plain.get_submodule("classifier.1"), x).grid
    assert plain_grid == ((size + 31) // 32,) * 2
    graph = export_graph(dilated, layer, head, 1, size, half=False)
    assert verify_graph(graph, dilated, layer, 1, x, batch=2)["max_cam_difference_vs_pytorch_grad_cam"] <= 1e-4
