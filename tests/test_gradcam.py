"""Grad-CAM peaks where a tiny model learned to look: a bright square."""
import numpy as np
import torch
import torch.nn as nn

from cxrviewer.core.gradcam import gradcam_heatmap


def square_images(n, size, rng):
    x = rng.normal(0.3, 0.05, (n, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, n)
    boxes = []
    for i in range(n):
        r, c = rng.integers(4, size - 12, 2)
        boxes.append((r, c))
        if y[i]:
            x[i, 0, r:r + 8, c:c + 8] = 1.0
    return torch.from_numpy(x).repeat(1, 3, 1, 1), torch.from_numpy(y), boxes


def test_heatmap_peaks_on_the_square():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(150):
        x, y, _ = square_images(32, 48, rng)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x, y, boxes = square_images(64, 48, rng)
    assert (model(x).argmax(1) == y).float().mean() > 0.95
    hits = 0
    positives = [i for i in range(64) if y[i] == 1][:10]
    for i in positives:
        heat = gradcam_heatmap(model, model[5], x[i], 1, (96, 96))  # stretched to a 2x larger grid
        assert heat.shape == (96, 96)
        r, c = np.unravel_index(np.argmax(heat), heat.shape)
        br, bc = boxes[i]
        hits += (2 * br - 4 <= r < 2 * (br + 8) + 4) and (2 * bc - 4 <= c < 2 * (bc + 8) + 4)
    assert hits >= 9, hits
