"""Explanation-guided training: batch-level additions meant to make the map's region carry the evidence.

- **Same-class mosaic** (``--mosaic``, label-preserving): a region of another film *of the same class* pasted
  at the same place (random cells of a coarse grid, or a compact blob). The insertion test pastes regions, so
  pasted seams must carry no label. They did: random cells of one NORMAL film pasted onto another raised the
  shipped 7x7 model's P(pneumonia) by 0.105 (0.18 -> 0.29; ``explanations.json``, ``seam_control``).
- **Lung-field prior** (``--lung-prior``, label-preserving): outside two fixed lung-field ellipses the pixels
  come from another film of either class, so framing, neck, abdomen and corner markers carry no label.
- **Evidence sufficiency** (``--evidence-weight``; GAIN's idea, Li et al. 2018, turned from "masking the
  attended region must lower the score" to "the attended region alone must keep it"): the hottest fraction of
  a PNEUMONIA film by the model's own current map (W_pos . A from this very forward pass, the map the app
  draws), pasted onto a NORMAL film of the batch, is a training example of PNEUMONIA; optionally
  (``--necessity-weight``, GAIN's attention mining) the positive film with that region replaced by normal
  tissue is one of NORMAL. The map is detached: the model is not taught to move its map, only to put its
  evidence where the map says it is.

The films of a batch are roughly aligned (Kermany films are framed alike), so regions keep their place. What
each recipe did to the insertion test, its controls and accuracy: docs/experiments.md (none is shipped).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cam_capture import ActivationCapture, class_cam, map_layer_and_head, map_weight
from .data import CLASS_NAMES

POSITIVE = CLASS_NAMES.index("PNEUMONIA")


def attach_map(net: nn.Module, arch_name: str) -> tuple[ActivationCapture, nn.Linear]:
    """The architecture's Grad-CAM layer (captured) and its linear head."""
    layer, head = map_layer_and_head(net, arch_name)
    return ActivationCapture(layer), head


def top_fraction_masks(cam: torch.Tensor, size: int, fraction: float) -> torch.Tensor:
    """(N, h, w) raw W_pos . A -> (N, 1, S, S) masks of the hottest ``fraction`` of pixels, ranked like the
    app's map (ReLU, bilinear with half-pixel centres; the min-max scaling does not change the order)."""
    heat = F.interpolate(cam.detach().float().relu()[:, None], size=(size, size), mode="bilinear", align_corners=False)
    flat = heat.flatten(1)
    k = max(1, int(round(fraction * flat.shape[1])))
    threshold = flat.topk(k, dim=1).values[:, -1:]
    return (flat >= threshold).view_as(heat)


def random_region_masks(n: int, size: int, generator: torch.Generator, area: tuple[float, float]) -> torch.Tensor:
    """(n, 1, S, S) masks of ``area`` (uniform in the range) of the film: half random cells of a 4..8 grid (the
    insertion test's control), half compact blobs (thresholded smooth noise: the shape of a hot region)."""
    masks = torch.zeros(n, 1, size, size, dtype=torch.bool)
    for i in range(n):
        fraction = float(torch.rand(1, generator=generator)) * (area[1] - area[0]) + area[0]
        if float(torch.rand(1, generator=generator)) < 0.5:
            cells = int(torch.randint(4, 9, (1,), generator=generator))
            field = torch.rand(1, 1, cells, cells, generator=generator)
            field = F.interpolate(field, size=(size, size), mode="nearest")
        else:
            field = torch.rand(1, 1, 4, 4, generator=generator)
            field = F.interpolate(field, size=(size, size), mode="bicubic", align_corners=False)
        flat = field.flatten()
        k = max(1, int(round(fraction * flat.numel())))
        masks[i, 0] = (flat >= flat.topk(k).values[-1]).view(size, size)
    return masks


# Where the lungs lie on a Kermany film (normalised x, y of the centre; radii), read off the mean of 1,500
# training films at 112 px (tools/lung_prior.py draws it over that mean), widened for framing; the
# mediastinum's midline stays outside.
LUNG_FIELDS = (((0.29, 0.48), (0.17, 0.36)), ((0.71, 0.48), (0.17, 0.36)))


def lung_prior_mask(size: int) -> torch.Tensor:
    """(S, S) boolean: inside either lung field's ellipse."""
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    inside = torch.zeros(size, size, dtype=torch.bool)
    for (cx, cy), (rx, ry) in LUNG_FIELDS:
        inside |= ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    return inside


def films_with_partners(n: int, p: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Films of a batch of ``n`` drawn with probability ``p`` each, and for each a partner: any other film of
    the batch. None when none was drawn."""
    if p <= 0 or n < 2:
        return None
    chosen = (torch.rand(n, generator=generator) < p).nonzero().flatten()
    if not len(chosen):
        return None
    partner = torch.randint(n - 1, (len(chosen),), generator=generator)
    return chosen, partner + (partner >= chosen).long()


def outside_lung_swap(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """(N, 1, S, S) -> with probability ``p`` a film's pixels outside the lung fields come from another film of
    the batch, whatever its class; the label is kept. Framing, neck, abdomen and burned-in corner markers
    then carry no label, and both classes get the same seams."""
    drawn = films_with_partners(len(x), p, generator)
    if drawn is None:
        return x
    chosen, partner = drawn
    x = x.clone()
    lungs = lung_prior_mask(x.shape[-1]).to(x.device)
    x[chosen] = torch.where(lungs, x[chosen], x[partner])
    return x


def _same_class_partners(y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each film, a random other film of the batch with the same label; -1 if none."""
    out = torch.full_like(y, -1)
    for i in range(len(y)):
        pool = (y == y[i]).nonzero().flatten()
        pool = pool[pool != i]
        if len(pool):
            out[i] = pool[int(torch.randint(len(pool), (1,), generator=generator))]
    return out


def same_class_mosaic(
    x: torch.Tensor, y: torch.Tensor, p: float, generator: torch.Generator, area: tuple[float, float] = (0.1, 0.5)
) -> torch.Tensor:
    """(N, 1, S, S) grey films -> with probability ``p`` each gets a region of another film of its class."""
    if p <= 0 or len(y) < 2:
        return x
    chosen = (torch.rand(len(y), generator=generator) < p).nonzero().flatten()
    partner = _same_class_partners(y, generator)
    chosen = chosen[partner[chosen] >= 0]
    if not len(chosen):
        return x
    x = x.clone()
    masks = random_region_masks(len(chosen), x.shape[-1], generator, area).to(x.device)
    x[chosen] = torch.where(masks, x[partner[chosen]], x[chosen])
    return x


def evidence_composites(
    x: torch.Tensor,
    y: torch.Tensor,
    cam: torch.Tensor,
    positive: int,
    generator: torch.Generator,
    fraction: float = 0.2,
    max_pairs: int = 8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``max_pairs`` PNEUMONIA films of the batch, each paired with a NORMAL film: (kept, removed).

    ``kept``: the normal film with the positive's hottest ``fraction`` (by ``cam``, its map) pasted at the same
    place; ``removed``: the positive film with that region replaced by the normal film's pixels (real tissue,
    no haze). Each (K, 1, S, S); K = 0 when the batch lacks a class."""
    positives = (y == positive).nonzero().flatten()
    normals = (y != positive).nonzero().flatten()
    if not len(positives) or not len(normals):
        return x[:0], x[:0]
    take = positives[torch.randperm(len(positives), generator=generator)[:max_pairs]]
    bases = normals[torch.randint(len(normals), (len(take),), generator=generator)]
    masks = top_fraction_masks(cam[take], x.shape[-1], fraction).to(x.device)
    return torch.where(masks, x[take], x[bases]), torch.where(masks, x[bases], x[take])


def evidence_loss(
    model: nn.Module,
    capture: ActivationCapture,
    head: nn.Linear,
    grey: torch.Tensor,
    y: torch.Tensor,
    positive: int,
    to_input,
    generator: torch.Generator,
    weights: tuple[float, float] = (1.0, 0.0),
    fraction: float = 0.2,
    max_pairs: int = 8,
) -> torch.Tensor:
    """Weighted cross-entropy of the evidence composites, with the maps of the forward pass just run on
    ``grey`` (its Grad-CAM layer output is in ``capture``). ``weights``: (sufficiency: the hot region kept on a
    normal film must read PNEUMONIA, necessity: the positive film without it must read NORMAL, GAIN's attention
    mining). Zero when the batch lacks a class."""
    assert capture.value is not None, "run the model on the batch first"
    with torch.no_grad():  # the map steers the composites; only their classification is learned
        cam = class_cam(map_weight(model, head, positive), capture.value)
    kept, removed = evidence_composites(grey, y.cpu(), cam.cpu(), positive, generator, fraction, max_pairs)
    if not len(kept) or not any(weights):
        return grey.new_zeros(())
    logits = model(to_input(torch.cat([kept, removed]))).float()
    k = len(kept)
    targets = torch.full((2 * k,), positive, device=logits.device)
    targets[k:] = 1 - positive
    per_film = F.cross_entropy(logits, targets, reduction="none")
    return weights[0] * per_film[:k].mean() + weights[1] * per_film[k:].mean()
