"""Cell-level supervision from composites of two films (``--tissue-composites P``, top-cell models only).

A top-cell model fine-tuned on whole films gives every cell nearly the same log-odds: the cells of a PNEUMONIA
film all read high (14-20 on one validation film), those of a NORMAL film all low, and a PNEUMONIA film's
hottest cells pasted onto a NORMAL film turn negative with the rest (docs/experiments.md). Each cell reports
the film, not its own tissue. With probability P a film of the batch also goes into a composite: a random region
(random cells of a 4..8 grid, or a compact blob; 10-50 % of the film) of another film of the batch, of either
class, pasted at the same place. The composites are scored in a second forward pass and add three losses:

- **film**: the composite keeps the base film's label when the base is PNEUMONIA (most of the film is still the
  pneumonia film) or both films are NORMAL; a NORMAL film that received PNEUMONIA tissue gets no film label,
  since whether that region shows pneumonia is not known;
- **normal tissue** (``--cell-weight``): every cell whose pixels come (>= 90 %) from a NORMAL film is a NORMAL
  example, wherever it sits and whatever surrounds it (binary cross-entropy of its log-odds);
- **context** (``--context-weight``): every cell whose pixels come (>= 90 %) from one film keeps the log-odds it
  had in that film's own forward pass (Huber loss; the clean film's value is the target and gets no gradient),
  so a cell reads its own tissue, not its neighbours'.

No composite is labelled by the model's map, and no pasted region is ever labelled PNEUMONIA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .guidance import films_with_partners, random_region_masks

NO_FILM_LABEL = -100  # F.cross_entropy's ignore_index
ONE_SOURCE_SHARE = 0.9  # a cell belongs to a film when this share of its pixels comes from it


@dataclass
class Composites:
    films: torch.Tensor  # (M, 1, S, S) grey
    base: torch.Tensor  # (M,) index into the batch of the film each composite starts from
    donor: torch.Tensor  # (M,) index of the film its region comes from
    region: torch.Tensor  # (M, 1, S, S) bool: pixels from the donor
    film_labels: torch.Tensor  # (M,) with NO_FILM_LABEL where the label is unknown
    normal: torch.Tensor  # (M, 1, S, S) float: 1 where the pixel comes from a NORMAL film


def tissue_composites(
    x: torch.Tensor,
    y: torch.Tensor,
    p: float,
    generator: torch.Generator,
    positive: int,
    area: tuple[float, float] = (0.1, 0.5),
) -> Composites | None:
    """Composites of a batch of (N, 1, S, S) grey films with labels ``y``; None when none was drawn."""
    drawn = films_with_partners(len(y), p, generator)
    if drawn is None:
        return None
    base, donor = drawn
    region = random_region_masks(len(base), x.shape[-1], generator, area).to(x.device)
    films = torch.where(region, x[donor], x[base])
    base_normal = (y[base] != positive).float()[:, None, None, None].to(x.device)
    donor_normal = (y[donor] != positive).float()[:, None, None, None].to(x.device)
    normal = torch.where(region, donor_normal, base_normal)
    film_labels = y[base].clone()
    film_labels[(y[base] != positive) & (y[donor] == positive)] = NO_FILM_LABEL
    return Composites(films, base, donor, region, film_labels, normal)


def cell_share(pixels: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """(M, 1, S, S) 0/1 pixels -> (M, h, w) share of each cell's pixels that are 1, on the grid of ``cells``."""
    h, w = cells.shape[-2:]
    return F.adaptive_avg_pool2d(pixels.float(), (h, w))[:, 0]


def normal_cell_loss(cells: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy towards NORMAL of the cells (M, h, w) made of NORMAL tissue; 0 if none."""
    keep = cell_share(normal, cells) >= ONE_SOURCE_SHARE
    if not bool(keep.any()):
        return cells.new_zeros(())
    log_odds = cells[keep]
    return F.binary_cross_entropy_with_logits(log_odds, torch.zeros_like(log_odds))


def context_loss(cells: torch.Tensor, clean_cells: torch.Tensor, c: Composites) -> torch.Tensor:
    """Huber distance between each one-source cell of the composites and the same cell of its source film."""
    from_donor = cell_share(c.region, cells)
    target = torch.where(from_donor >= 0.5, clean_cells[c.donor], clean_cells[c.base]).detach()
    keep = (from_donor >= ONE_SOURCE_SHARE) | (from_donor <= 1 - ONE_SOURCE_SHARE)
    return F.smooth_l1_loss(cells[keep], target[keep])


def composite_loss(
    net,
    grey: torch.Tensor,
    y: torch.Tensor,
    clean_cells: torch.Tensor,
    to_input,
    generator: torch.Generator,
    p: float,
    positive: int,
    class_weights: torch.Tensor,
    weights: tuple[float, float],
) -> torch.Tensor:
    """Film + ``weights[0]`` * normal-tissue + ``weights[1]`` * context loss of this batch's composites.
    ``grey``/``y``: the batch the model just scored (CPU labels), ``clean_cells``: its cells' log-odds."""
    c = tissue_composites(grey, y, p, generator, positive)
    if c is None:
        return clean_cells.new_zeros(())
    logits, cells = net.forward_with_cells(to_input(c.films))
    labels = c.film_labels.to(logits.device)
    loss = clean_cells.new_zeros(())
    if bool((labels != NO_FILM_LABEL).any()):
        loss = F.cross_entropy(logits.float(), labels, weight=class_weights, ignore_index=NO_FILM_LABEL)
    cells = cells.float()
    if weights[0]:
        loss = loss + weights[0] * normal_cell_loss(cells, c.normal)
    if weights[1]:
        loss = loss + weights[1] * context_loss(cells, clean_cells.float(), c)
    return loss
