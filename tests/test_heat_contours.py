"""Contour lines of the hottest regions: they enclose the stated share of the film, where the heat is."""

from __future__ import annotations

import numpy as np
import pytest

from cxrviewer.core.cam import heatmap_for_study
from cxrviewer.core.heat_contours import LEVEL_FLOOR, heat_contours, top_levels
from cxrviewer.core.rendering import Orientation, orient


def enclosed_area(line: np.ndarray) -> float:
    x, y = line[:, 0], line[:, 1]
    return 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))


def blob(h: int, w: int, cx: float, cy: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_lines_enclose_the_hottest_ten_and_twenty_percent():
    heat = blob(300, 400, cx=150, cy=120, sigma=50)
    contours = heat_contours(heat)
    assert [c.fraction for c in contours] == [0.10, 0.20]
    for c in contours:
        assert len(c.lines) == 1
        line = c.lines[0]
        assert np.allclose(line[0], line[-1])  # closed
        assert enclosed_area(line) / heat.size == pytest.approx(c.fraction, abs=0.01)
        centre = line.mean(axis=0)
        assert centre == pytest.approx([150, 120], abs=2.0)  # around the blob, in the film's pixel coordinates
        assert heat[int(line[0, 1]), int(line[0, 0])] == pytest.approx(c.level, abs=0.05)


def test_a_real_coarse_cam_grid_on_a_large_film():
    """A 7x7 grid, upsampled the predictor's way onto a 2500x2048 film (reduced before tracing)."""
    grid = np.zeros((7, 7), np.float32)
    grid[2, 1], grid[4, 5] = 1.0, 0.6  # two hot cells
    heat = heatmap_for_study(grid, 224, (2500, 2048))
    contours = heat_contours(heat)
    hottest = contours[0]
    # the hottest region surrounds cell (row 2, col 1): its centre at x = 1.5/7 of the width, y = 2.5/7
    centres = [line.mean(axis=0) for line in hottest.lines]
    assert any(abs(cx - 1.5 / 7 * 2048) < 60 and abs(cy - 2.5 / 7 * 2500) < 60 for cx, cy in centres)
    for line in hottest.lines:
        assert line[:, 0].min() >= 0 and line[:, 0].max() <= 2048 and line[:, 1].max() <= 2500


def test_region_at_the_border_is_closed_along_the_edge():
    heat = np.zeros((50, 50), np.float32)
    heat[:, :10] = 1.0  # a hot strip along the left edge: 20 % of the film
    contours = heat_contours(heat, fractions=(0.2,))
    (line,) = contours[0].lines
    assert np.allclose(line[0], line[-1]) and line[:, 0].min() == 0.0
    assert enclosed_area(line) / heat.size == pytest.approx(0.2, abs=0.02)


def test_empty_or_flat_maps_give_no_lines():
    assert heat_contours(np.zeros((40, 40), np.float32)) == []
    assert heat_contours(np.full((40, 40), LEVEL_FLOOR / 2, np.float32)) == []
    # a map hot on 5 % of the film: the 10 % and 20 % levels fall to the floor and merge into one line
    heat = np.zeros((100, 100), np.float32)
    heat[40:50, 40:90] = 1.0
    levels = top_levels(heat)
    assert len(levels) == 1 and levels[0][1] == LEVEL_FLOOR


@pytest.mark.parametrize("orientation", [Orientation(90), Orientation(0, True), Orientation(270, False, True)])
def test_contours_of_the_oriented_map_are_the_oriented_contours(orientation):
    """The view traces the map oriented like the image; the lines land where orient() puts the hot pixels."""
    heat = blob(120, 160, cx=40, cy=30, sigma=15)
    shown = orient(heat, orientation)
    (line,) = heat_contours(shown, fractions=(0.1,))[0].lines
    cx, cy = line.mean(axis=0)
    hot_y, hot_x = np.unravel_index(np.argmax(shown), shown.shape)
    assert abs(cx - (hot_x + 0.5)) < 2 and abs(cy - (hot_y + 0.5)) < 2


def test_export_draws_the_same_lines_and_leaves_the_film_elsewhere():
    from cxrviewer.core.rendering import CONTOUR_KEY, draw_heat_contours, export_image

    gray = np.tile(np.linspace(40, 200, 400, dtype=np.uint8), (300, 1))
    rgb = np.repeat(gray[..., None], 3, axis=2)
    heat = blob(300, 400, cx=150, cy=120, sigma=50)
    drawn = draw_heat_contours(rgb, heat)
    changed = np.any(drawn != rgb, axis=2)
    assert 0.005 < changed.mean() < 0.08  # thin lines, not a wash
    ys, xs = np.nonzero((drawn[..., 0] > 220) & (drawn[..., 1] > 200) & (drawn[..., 2] < 90))
    line = heat_contours(heat)[0].lines[0]
    gaps = np.hypot(xs[:, None] - line[None, :, 0], ys[:, None] - line[None, :, 1]).min(axis=1)
    assert xs.size > 100 and gaps.max() < 3  # the yellow pixels are the hottest-10 % line
    assert not changed[:, 350:].any()  # far from the heat: the film untouched
    with_key = export_image(drawn, ["banner"], heat_shown=False, heat_key=CONTOUR_KEY)
    assert with_key.width == 400 and with_key.height > export_image(drawn, ["banner"], heat_shown=False).height


def test_export_text_wraps_to_the_image_width():
    from cxrviewer.core.rendering import CONTOUR_KEY, export_image

    rgb = np.zeros((400, 300, 3), np.uint8)
    short = export_image(rgb, ["one line"], heat_shown=False)
    long = export_image(rgb, ["one line"], heat_shown=False, heat_key="Regions that raised the score; " + CONTOUR_KEY)
    assert long.width == 300
    strip = np.asarray(long)[: long.height - 400]
    assert strip[:, -3:].max() == 0  # no text runs into the right edge
    line_h = int(14 * 1.35)  # the export's text size at this height, 14 px
    assert long.height - short.height >= 2 * line_h  # the key was wrapped over two lines or more
