"""CPU cost of one training step (batch 32, forward + backward) and the Grad-CAM grid, per architecture and
input size: the measurement behind the choice of a finer map (docs/experiments.md, issue 14).

    OMP_NUM_THREADS=1 .venv/bin/python tools/step_cost.py mobilenet_v2:96 mobilenet_v2_os16:112

Reports process CPU seconds (not wall time), so a shared machine changes the numbers less.
"""

from __future__ import annotations

import sys
import time

import torch

from trainer.models import build_model, gradcam_layer


def step_cost(arch: str, size: int, batch: int = 32, repeats: int = 2) -> tuple[float, tuple[int, int]]:
    model = build_model(arch).train()
    grid: list[tuple[int, int]] = []
    gradcam_layer(model, arch).register_forward_hook(lambda _m, _i, out: grid.append(tuple(out.shape[-2:])))
    x = torch.randn(batch, 3, size, size)
    model(x).sum().backward()  # warm-up
    start = time.process_time()
    for _ in range(repeats):
        model(x).sum().backward()
    return (time.process_time() - start) / repeats, grid[-1]


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    for item in argv or ["mobilenet_v2:96", "mobilenet_v2_os16:112"]:
        arch, size = item.split(":")
        seconds, grid = step_cost(arch, int(size))
        print(f"{arch} at {size} px: {seconds:.2f} CPU-s per step, Grad-CAM grid {grid[0]}x{grid[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
