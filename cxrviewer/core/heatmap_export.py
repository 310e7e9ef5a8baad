"""The audit path's heat maps: each scored study's map in its own pixel grid, as a 16-bit grayscale PNG.

``python -m cxrviewer --batch DIR --csv OUT --heatmaps MAPDIR`` writes ``MAPDIR/<relative folder>/<stem>.png``
for every study whose score the verdict vouches for (withheld and unreadable ones get none), so anyone can
check the maps outside the app: pixel (r, c) of the PNG is the map over pixel (r, c) of the study as
``load_study`` returns it, 0..65535 = map 0..1. The same numbers the viewer draws (``heatmap_for_study``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from .cam import heatmap_for_study

MAP_LEVELS = 65535  # 16-bit PNG full scale = map value 1.0


def heatmap_path(maps_dir: Path, study_path: Path, folder: Path) -> Path:
    """``maps_dir`` mirrors the scanned folder's subfolders, so equal stems in different folders never clash."""
    try:
        relative_dir = Path(os.path.relpath(study_path.parent, folder))
    except ValueError:  # another drive on Windows: no common root
        relative_dir = Path()
    if relative_dir.parts[:1] == ("..",):
        relative_dir = Path()
    return maps_dir / relative_dir / f"{study_path.stem}.png"


def heatmap_to_uint16(heatmap: np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.nan_to_num(heatmap), 0.0, 1.0) * MAP_LEVELS).astype(np.uint16)


def write_heatmap_png(path: Path, heatmap: np.ndarray) -> Path:
    """(H, W) map in [0, 1] -> 16-bit grayscale PNG of the same size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(heatmap_to_uint16(heatmap)).save(path, format="PNG")  # uint16 -> mode I;16
    return path


def read_heatmap_png(path: str | os.PathLike[str]) -> np.ndarray:
    """The map back as float32 in [0, 1] (for checks and tests)."""
    with Image.open(path) as img:
        return np.asarray(img, dtype=np.float32) / MAP_LEVELS


def export_study_heatmap(
    maps_dir: Path, study_path: Path, folder: Path, cam: np.ndarray, input_size: int, shape: tuple[int, int]
) -> Path:
    """One study's raw ``cam`` grid (from the graph) -> its map over the study's own (H, W) pixels, written."""
    return write_heatmap_png(heatmap_path(maps_dir, study_path, folder), heatmap_for_study(cam, input_size, shape))
