"""Explanation-guided training (trainer/guidance.py) on films and maps whose content is known."""

import numpy as np
import torch

from cxrviewer.core.cam import gradcam_from_cam
from trainer.explanations import top_fraction_mask
from trainer.guidance import (
    ActivationCapture,
    evidence_composites,
    evidence_loss,
    lung_prior_mask,
    outside_lung_swap,
    random_region_masks,
    same_class_mosaic,
    top_fraction_masks,
)

from .bright_square_model import BrightSquareNet, film_with_square
from .bright_square_model import to_input as grey_to_input


def labelled_films(n: int = 8, size: int = 112) -> tuple[torch.Tensor, torch.Tensor]:
    """Film i is filled with the value i / n (each pixel says which film it came from); labels alternate."""
    x = torch.stack([torch.full((1, size, size), i / n) for i in range(n)])
    return x, torch.arange(n) % 2


def test_training_masks_rank_pixels_like_the_app_map():
    cam = torch.randn(3, 7, 7, generator=torch.Generator().manual_seed(0))
    masks = top_fraction_masks(cam, 112, 0.2)
    for m, c in zip(masks, cam):
        app = top_fraction_mask(gradcam_from_cam(c.numpy(), 112), 0.2)
        agreement = (m[0].numpy() == app).mean()
        assert agreement > 0.995  # the same region up to ties on the boundary


def test_region_masks_cover_the_drawn_area():
    masks = random_region_masks(40, 112, torch.Generator().manual_seed(1), area=(0.1, 0.5))
    fractions = masks.float().mean(dim=(1, 2, 3))
    # cell masks take whole cells, so they may overshoot by up to one cell of the coarsest (4x4) grid
    assert fractions.min() >= 0.09 and fractions.max() <= 0.5 + 1 / 16
    assert fractions.std() > 0.05  # areas vary across the range


def test_mosaic_pastes_only_films_of_the_same_class():
    x, y = labelled_films()
    out = same_class_mosaic(x, y, 1.0, torch.Generator().manual_seed(2))
    n = len(x)
    changed = 0
    for i in range(n):
        sources = torch.unique((out[i] * n).round().long())
        assert all(int(s) % 2 == int(y[i]) for s in sources)  # every pixel from a film of its own label
        changed += len(sources) > 1
    assert changed == n  # p = 1: every film got a region
    assert torch.equal(same_class_mosaic(x, y, 0.0, torch.Generator()), x)


def test_evidence_composites_put_the_hot_region_of_a_positive_on_a_normal():
    rng = np.random.default_rng(3)
    positives = [film_with_square(rng, top=8, left=64) for _ in range(2)]
    normals = [(0.2 + 0 * film_with_square(rng)).astype(np.float32) for _ in range(2)]
    grey = torch.from_numpy(np.stack(positives + normals))[:, None]
    y = torch.tensor([1, 1, 0, 0])
    model = BrightSquareNet().eval()
    capture = ActivationCapture(model.features)
    model(torch.from_numpy(grey_to_input(grey[:, 0].numpy())))
    cam = torch.einsum("k,nkhw->nhw", model.classifier.weight[1], capture.value)
    composites, removed = evidence_composites(grey, y, cam, 1, torch.Generator().manual_seed(4), fraction=0.1)
    assert len(composites) == 2
    for c in composites[:, 0]:
        from_positive = c != np.float32(0.2)
        assert float((c[8:32, 64:88] == np.float32(0.95)).float().mean()) > 0.9  # the square came along
        assert float(from_positive.float().mean()) <= 0.11  # and little else: the rest is the normal film
        assert not bool(from_positive[60:, :].any())
    for r in removed[:, 0]:  # the positive without its hot region: the square is gone, its texture stays
        assert float((r[8:32, 64:88] == np.float32(0.95)).float().mean()) < 0.1
        assert float((r == np.float32(0.2)).float().mean()) <= 0.11
    kept, removed = evidence_composites(grey[2:], y[2:], cam[2:], 1, torch.Generator())
    assert len(kept) == len(removed) == 0


def test_evidence_loss_falls_when_the_classifier_learns_the_pasted_evidence():
    rng = np.random.default_rng(5)
    films = [film_with_square(rng, top=int(rng.integers(0, 88)), left=int(rng.integers(0, 88))) for _ in range(4)]
    films += [(0.15 + 0.1 * rng.random((112, 112))).astype(np.float32) for _ in range(4)]
    grey = torch.from_numpy(np.stack(films))[:, None]
    y = torch.tensor([1, 1, 1, 1, 0, 0, 0, 0])
    model = BrightSquareNet()
    with torch.no_grad():  # start from a classifier that ignores the evidence
        model.classifier.weight.zero_()
    capture = ActivationCapture(model.features)

    def to_input(g: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(grey_to_input(g[:, 0].numpy()))

    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        model(to_input(grey))
        loss = evidence_loss(model, capture, model.classifier, grey, y, 1, to_input, torch.Generator().manual_seed(6))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert float(model.classifier.weight[1, 0] - model.classifier.weight[0, 0]) > 0  # brightness now counts


def test_lung_prior_covers_two_fields_and_leaves_the_midline_and_corners_out():
    inside = lung_prior_mask(112)
    assert 0.25 < float(inside.float().mean()) < 0.45
    assert not inside[:, 55:57].any()  # the mediastinum's midline
    assert not inside[:8].any() and not inside[-8:].any()  # neck and abdomen
    assert inside[54, 32] and inside[54, 80]  # the middle of each lung field


def test_outside_lung_swap_replaces_only_what_lies_outside_the_lungs():
    x, _ = labelled_films()
    out = outside_lung_swap(x, 1.0, torch.Generator().manual_seed(7))
    inside = lung_prior_mask(112)
    n = len(x)
    for i in range(n):
        assert torch.equal(out[i, 0][inside], x[i, 0][inside])  # the lungs are the film's own
        outside = torch.unique((out[i, 0][~inside] * n).round().long())
        assert len(outside) == 1 and int(outside[0]) != i  # everything else from one other film
    assert torch.equal(outside_lung_swap(x, 0.0, torch.Generator()), x)
