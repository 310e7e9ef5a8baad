"""Contour lines of a heat map's hottest regions: an alternative to the colour wash, which hides lung texture.

The lines enclose the hottest 10 % and 20 % of the film's area by the map's own values (the region the
faithfulness test of issue 14 pastes is the hottest 20 %). They are traced by marching squares on the map
(already upsampled bilinearly to the film's grid by the predictor), reduced to at most ``MAX_SIDE`` samples
a side first: the map's native grid is 7x7 to 16x16, so nothing is lost and a 3000 px film stays quick.
The map is smoothed lightly first (``SMOOTH_SIGMA``) so the lines do not show the upsampling's creases.
Closed loops come back as polylines in the film's pixel coordinates (pixel (r, c) spans [c, c+1) x [r, r+1)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

TOP_FRACTIONS = (0.10, 0.20)
LEVEL_FLOOR = 0.05  # no line around what is numerically nothing (a map that is zero almost everywhere)
MAX_SIDE = 256
SMOOTH_SIGMA = 1 / 60  # of the longer side: a quarter of a 16x16 cell, an eighth of a 7x7 one


@dataclass(frozen=True)
class Contour:
    fraction: float  # the share of the film's area the line encloses, at most (ties and the floor shrink it)
    level: float  # the map value the line follows
    lines: tuple[np.ndarray, ...]  # (N, 2) arrays of (x, y) points; closed loops repeat their first point


def top_levels(heat: np.ndarray, fractions=TOP_FRACTIONS) -> list[tuple[float, float]]:
    """(fraction, level) pairs: the level above which the hottest ``fraction`` of the pixels lie; levels that
    would fall under ``LEVEL_FLOOR``, and repeats of a level, are dropped."""
    if heat.size == 0 or not np.isfinite(heat).all() or float(heat.max()) <= LEVEL_FLOOR:
        return []
    out: list[tuple[float, float]] = []
    for fraction in sorted(fractions):
        level = max(float(np.quantile(heat, 1.0 - fraction)), LEVEL_FLOOR)
        if not out or level < out[-1][1] - 1e-6:
            out.append((fraction, level))
    return out


def heat_contours(heat: np.ndarray, fractions=TOP_FRACTIONS) -> list[Contour]:
    """Contours of the hottest ``fractions`` of ``heat`` (H, W), in ``heat``'s pixel coordinates."""
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        return []
    field, (sx, sy) = _reduced(heat)
    field = _smoothed(field)
    out = []
    for fraction, level in top_levels(field, fractions):
        segments = _marching_squares(field, level)
        lines = tuple(line * np.array([sx, sy], dtype=np.float32) for line in _chain(segments))
        out.append(Contour(fraction, level, lines))
    return out


def _reduced(heat: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    h, w = heat.shape
    factor = max(h, w) / MAX_SIDE
    if factor <= 1.0:
        return heat, (1.0, 1.0)
    rw, rh = max(2, round(w / factor)), max(2, round(h / factor))
    reduced = np.asarray(Image.fromarray(heat, mode="F").resize((rw, rh), Image.Resampling.BOX), dtype=np.float32)
    return reduced, (w / rw, h / rh)


def _smoothed(field: np.ndarray) -> np.ndarray:
    """A Gaussian of ``SMOOTH_SIGMA`` of the longer side: the bilinear upsampling of a 7x7 grid has creases at
    the cell borders, which would show as corners in the lines (the levels are taken on the smoothed map)."""
    sigma = SMOOTH_SIGMA * max(field.shape)
    if sigma < 0.5:
        return field
    radius = int(3 * sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    out = field.astype(np.float64)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        out = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), axis, padded)
    return out.astype(np.float32)


# corner bits: top-left 8, top-right 4, bottom-right 2, bottom-left 1; edges: T, R, B, L
_CASES: dict[int, tuple[tuple[str, str], ...]] = {
    1: (("L", "B"),),
    2: (("B", "R"),),
    3: (("L", "R"),),
    4: (("T", "R"),),
    6: (("T", "B"),),
    7: (("L", "T"),),
    8: (("L", "T"),),
    9: (("T", "B"),),
    11: (("T", "R"),),
    12: (("L", "R"),),
    13: (("B", "R"),),
    14: (("L", "B"),),
}
# saddles: (centre inside, centre outside)
_SADDLES = {
    5: ((("L", "T"), ("B", "R")), (("L", "B"), ("T", "R"))),
    10: ((("T", "R"), ("L", "B")), (("L", "T"), ("B", "R"))),
}


def _marching_squares(field: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2, 2) segments [(x0, y0), (x1, y1)] and (N, 2) edge ids, on ``field`` padded so every loop closes."""
    # The ring around the film is kept under the level, mirrored so each crossing falls on the film's edge:
    # a region touching the border is closed along it.
    f = np.pad(field.astype(np.float64), 1, mode="edge")
    ring = np.ones(f.shape, dtype=bool)
    ring[1:-1, 1:-1] = False
    f[ring] = np.where(f[ring] >= level, np.minimum(2.0 * level - f[ring], level - 1e-6), f[ring])
    h, w = f.shape
    inside = f >= level
    tl, tr, br, bl = inside[:-1, :-1], inside[:-1, 1:], inside[1:, 1:], inside[1:, :-1]
    case = tl * 8 + tr * 4 + br * 2 + bl * 1
    centre_in = (f[:-1, :-1] + f[:-1, 1:] + f[1:, 1:] + f[1:, :-1]) / 4.0 >= level

    def crossing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (level - a) / (b - a)
        return np.clip(np.nan_to_num(t, nan=0.5), 0.0, 1.0)

    # edge points: horizontal edges between (i, j) and (i, j+1); vertical ones between (i, j) and (i+1, j).
    # Sample (i, j) of the padded field sits at (j - 0.5, i - 0.5) in the film's pixel coordinates.
    tx = crossing(f[:, :-1], f[:, 1:])
    ty = crossing(f[:-1, :], f[1:, :])
    n_h = h * (w - 1)

    def edge(name: str, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if name == "T":
            return j + tx[i, j] - 0.5, i - 0.5, i * (w - 1) + j
        if name == "B":
            return j + tx[i + 1, j] - 0.5, i + 0.5, (i + 1) * (w - 1) + j
        if name == "L":
            return j - 0.5, i + ty[i, j] - 0.5, n_h + i * w + j
        return j + 0.5, i + ty[i, j + 1] - 0.5, n_h + i * w + j + 1

    points: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    groups: list[tuple[tuple[tuple[str, str], ...], np.ndarray]]
    for code in range(1, 15):
        ii, jj = np.nonzero(case == code)
        if ii.size == 0:
            continue
        if code in _SADDLES:
            pairs_in, pairs_out = _SADDLES[code]
            groups = [(pairs_in, centre_in[ii, jj]), (pairs_out, ~centre_in[ii, jj])]
        else:
            groups = [(_CASES[code], np.ones(ii.size, dtype=bool))]
        for pairs, keep in groups:
            i, j = ii[keep], jj[keep]
            for a, b in pairs:
                xa, ya, ida = edge(a, i, j)
                xb, yb, idb = edge(b, i, j)
                points.append(np.stack([np.stack([xa, ya], -1), np.stack([xb, yb], -1)], 1))
                ids.append(np.stack([ida, idb], -1))
    if not points:
        return np.zeros((0, 2, 2)), np.zeros((0, 2), dtype=np.int64)
    seg = np.clip(np.concatenate(points), 0.0, [field.shape[1], field.shape[0]])
    return seg, np.concatenate(ids)


def _chain(segments) -> list[np.ndarray]:
    """Join segments that share an edge point into polylines (closed loops end where they start)."""
    seg, ids = segments
    if len(seg) == 0:
        return []
    by_edge: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(ids.tolist()):
        by_edge.setdefault(a, []).append(k)
        by_edge.setdefault(b, []).append(k)
    used = np.zeros(len(seg), dtype=bool)
    lines = []
    for start in range(len(seg)):
        if used[start]:
            continue
        used[start] = True
        pts = [seg[start, 0], seg[start, 1]]
        current = int(ids[start, 1])
        while True:
            nxt = next((k for k in by_edge.get(current, ()) if not used[k]), None)
            if nxt is None:
                break
            used[nxt] = True
            a, b = int(ids[nxt, 0]), int(ids[nxt, 1])
            far = 1 if a == current else 0
            pts.append(seg[nxt, far])
            current = b if far == 1 else a
        lines.append(np.asarray(pts, dtype=np.float32))
    return lines
