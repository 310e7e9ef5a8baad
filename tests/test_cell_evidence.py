"""Top-cell pooling (trainer/cell_evidence.py) and its composites (trainer/tissue_composites.py), on real films."""

import copy

import numpy as np
import pytest
import torch

from cxrviewer.core import PreprocessConfig, load_study, preprocess
from trainer.cell_evidence import TopCellPooled, top_cell_count
from trainer.onnx_export import ExportRefused, check_cam_head, export_graph, verify_graph
from trainer.tissue_composites import NO_FILM_LABEL, context_loss, normal_cell_loss, tissue_composites

from .conftest import NATIVE_DIR
from .test_guidance import labelled_films


def real_inputs(size: int, mean_std, n: int = 3) -> torch.Tensor:
    config = PreprocessConfig(size, tuple(mean_std[0]), tuple(mean_std[1]), "none")
    films = sorted(NATIVE_DIR.glob("*/*.jpeg"))[:n]
    return torch.from_numpy(np.stack([preprocess(load_study(f).pixels, config) for f in films]))


def imagenet_model(arch: str):
    """(model in eval mode, (mean, std)) of ``arch`` from the ImageNet MobileNetV2 weights, heads seeded."""
    from trainer.backbones import init_model

    torch.manual_seed(0)
    model, mean_std, _, _ = init_model(arch, "imagenet")
    return model.eval(), mean_std


@pytest.fixture(scope="module")
def imagenet_top_cells():
    return imagenet_model("mobilenet_v2_os16_topcells")


def test_top_cell_model_keeps_the_average_pooled_weights_and_pools_the_top_cells(imagenet_top_cells):
    from trainer.models import build_model

    model, mean_std = imagenet_top_cells
    assert isinstance(model, TopCellPooled)
    plain = build_model("mobilenet_v2_os16")
    plain.load_state_dict(model.state_dict())  # the same parameter names and shapes: bundles load both ways
    x = real_inputs(112, mean_std)
    with torch.no_grad():
        logits, cells = model.forward_with_cells(x)
    assert cells.shape == (3, 7, 7)
    k = top_cell_count(49, model.top_fraction)
    expected = cells.flatten(1).sort(dim=1, descending=True).values[:, :k].mean(1)
    assert torch.allclose(logits[:, 1], expected, atol=1e-5) and torch.all(logits[:, 0] == 0)


def test_top_cell_graph_exports_with_a_map_equal_to_pytorch_grad_cam(imagenet_top_cells):
    """The exported cam, (W_pos - W_neg) . A, is exact Grad-CAM of the pooled model on real films."""
    model, mean_std = imagenet_top_cells
    x = real_inputs(112, mean_std)
    layer, head = model.get_submodule("features.18"), model.get_submodule("classifier.1")
    check = check_cam_head(model, layer, head, x, "features.18")
    assert check.grid == (7, 7) and "top 5 of 49 cells" in check.head
    graph = export_graph(model, layer, head, 1, 112, half=False)
    assert verify_graph(graph, model, layer, 1, x, batch=2)["max_cam_difference_vs_pytorch_grad_cam"] <= 1e-4


def test_export_refuses_a_top_cell_model_that_pools_differently(imagenet_top_cells):
    model, mean_std = imagenet_top_cells

    class MaxPooled(TopCellPooled):  # a head the check does not know: the max cell instead of the top-k mean
        def forward_with_cells(self, x):
            cells = self.cell_log_odds(self.feature_map(x))
            s = cells.flatten(1).max(dim=1).values
            return torch.stack([torch.zeros_like(s), s], dim=1), cells

    tampered = copy.deepcopy(model)
    tampered.__class__ = MaxPooled
    x = real_inputs(112, mean_std)
    with pytest.raises(ExportRefused, match="top-cell pooling"):
        check_cam_head(tampered, tampered.features[18], tampered.classifier[1], x, "features.18")


def test_tissue_composites_label_films_and_normal_pixels_by_where_they_came_from():
    x, y = labelled_films(16)  # film i filled with i / 16; odd films PNEUMONIA (label 1)
    c = tissue_composites(x, y, 1.0, torch.Generator().manual_seed(4), positive=1)
    assert c is not None and len(c.films) == 16  # p = 1: every film starts a composite
    n = len(x)
    for film, base, donor, region, label, normal in zip(c.films, c.base, c.donor, c.region, c.film_labels, c.normal):
        source = (film[0] * n).round().long()
        assert torch.equal(source[region[0]], torch.full_like(source[region[0]], int(donor)))
        assert torch.equal(source[~region[0]], torch.full_like(source[~region[0]], int(base)))
        assert torch.equal(normal[0].bool(), source % 2 == 0)  # NORMAL pixels are those of even films
        received_pneumonia = y[base] == 0 and y[donor] == 1
        assert int(label) == (NO_FILM_LABEL if received_pneumonia else int(y[base]))
    assert tissue_composites(x, y, 0.0, torch.Generator(), positive=1) is None


def test_normal_cell_loss_counts_only_cells_of_normal_tissue():
    cells = torch.full((1, 7, 7), 5.0)  # every cell reads PNEUMONIA
    normal = torch.zeros(1, 1, 112, 112)
    assert float(normal_cell_loss(cells, normal)) == 0.0  # no NORMAL tissue: nothing to learn
    normal[..., :16, :16] = 1  # exactly the top-left cell
    normal[..., 16:24, 16:32] = 1  # half of another cell: under the 90 % share, not an example
    loss = normal_cell_loss(cells, normal)
    assert float(loss) == pytest.approx(float(torch.nn.functional.softplus(torch.tensor(5.0))))
    cells[0, 0, 0] = -5.0  # the NORMAL cell now reads NORMAL: the loss falls
    assert float(normal_cell_loss(cells, normal)) < float(loss)


def test_context_loss_compares_each_pasted_cell_with_its_own_film():
    x, y = labelled_films(4)
    c = tissue_composites(x, y, 1.0, torch.Generator().manual_seed(5), positive=1)
    assert c is not None
    clean = torch.randn(4, 7, 7, generator=torch.Generator().manual_seed(6))
    share = torch.nn.functional.adaptive_avg_pool2d(c.region.float(), (7, 7))[:, 0]
    faithful = torch.where(share >= 0.5, clean[c.donor], clean[c.base])  # every cell keeps its source's value
    assert float(context_loss(faithful, clean, c)) == 0.0
    assert float(context_loss(clean[c.base], clean, c)) > 0.0  # pasted cells that kept the base's values


@pytest.fixture(scope="module")
def imagenet_cell_windows():
    return imagenet_model("mobilenet_v2_cellwindows")


def test_a_cell_window_sees_only_the_film_around_its_cell(imagenet_cell_windows):
    """Replacing the film far from a cell (beyond its window and the early blocks' reach) leaves its log-odds
    exactly as it was; replacing the cell's own pixels changes it."""
    model, mean_std = imagenet_cell_windows
    x = real_inputs(112, mean_std, n=2)
    other = real_inputs(112, mean_std, n=4)[2:]
    with torch.no_grad():
        _, cells = model.forward_with_cells(x)
        far = x.clone()
        far[..., 72:, :] = other[..., 72:, :]  # the lower 40 rows from other films
        _, far_cells = model.forward_with_cells(far)
        near = x.clone()
        near[..., :16, :16] = other[..., :16, :16]  # the top-left cell's own 16 x 16 px
        _, near_cells = model.forward_with_cells(near)
    assert cells.shape == (2, 7, 7)
    # cell rows 0-1 (with their windows and the early blocks' reach) end above px 72
    assert torch.allclose(far_cells[:, :2], cells[:, :2], rtol=0, atol=1e-6)
    assert not torch.equal(far_cells[:, -1], cells[:, -1])
    assert float((near_cells[:, 0, 0] - cells[:, 0, 0]).abs().min()) > 0


def test_cell_window_graph_exports_with_a_map_equal_to_pytorch_grad_cam(imagenet_cell_windows):
    model, mean_std = imagenet_cell_windows
    x = real_inputs(112, mean_std)
    layer, head = model.get_submodule("cell_map"), model.get_submodule("classifier.1")
    check = check_cam_head(model, layer, head, x, "cell_map")
    assert check.grid == (7, 7)
    graph = export_graph(model, layer, head, 1, 112, half=False)
    assert verify_graph(graph, model, layer, 1, x, batch=2)["max_cam_difference_vs_pytorch_grad_cam"] <= 1e-4
