"""Time to trace the heat map's contour lines (the view traces them once per map and orientation).

    .venv/bin/python benchmarks/heat_contours.py

A 7x7 class-activation grid is upsampled the predictor's way (cxrviewer.core.cam.heatmap_for_study) to films
of common sizes, then heat_contours() traces the hottest 10 % and 20 %. Median of 5 runs per size.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from cxrviewer.core.cam import heatmap_for_study
from cxrviewer.core.heat_contours import heat_contours


def main() -> None:
    rng = np.random.default_rng(0)
    grid = rng.random((7, 7)).astype(np.float32) ** 3  # a few hot cells
    print("| film (rows x cols) | trace (ms, median of 5) | lines | points |")
    print("|---|---|---|---|")
    for shape in ((224, 224), (1024, 1024), (2048, 2500), (3000, 2500)):
        heat = heatmap_for_study(grid, 224, shape)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            contours = heat_contours(heat)
            times.append((time.perf_counter() - t0) * 1000)
        lines = sum(len(c.lines) for c in contours)
        points = sum(len(line) for c in contours for line in c.lines)
        print(f"| {shape[0]} x {shape[1]} | {statistics.median(times):.1f} | {lines} | {points} |")


if __name__ == "__main__":
    main()
