"""The one dataset contract: a folder with NORMAL/ and PNEUMONIA/ image folders (Kermany layout)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
POSITIVE_CLASS = "PNEUMONIA"  # the class the models score; the app reads it from each card
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".dcm"}

_PATIENT_PATTERNS = (
    (re.compile(r"^person(\d+)_", re.I), "person"),  # person<N>_bacteria_<M>.jpeg (pneumonia)
    (re.compile(r"^NORMAL2-IM-(\d+)-", re.I), "normal2"),  # NORMAL2-IM-<P>-<K>.jpeg (second normal series)
    (re.compile(r"^IM-(\d+)-", re.I), "im"),  # IM-<P>-<K>.jpeg (first normal series)
)


@dataclass(frozen=True)
class ImageRecord:
    path: Path
    label: int  # index into CLASS_NAMES
    patient: str

    @property
    def class_name(self) -> str:
        return CLASS_NAMES[self.label]


def patient_id(filename: str) -> str:
    """Patient key from a Kermany file name; the series prefix keeps the three numberings apart."""
    for pattern, series in _PATIENT_PATTERNS:
        m = pattern.match(filename)
        if m:
            return f"{series}-{int(m.group(1))}"
    return f"file-{Path(filename).stem}"  # unknown naming: each file is its own patient


def scan_images(root: str | Path) -> list[ImageRecord]:
    """All images under ``root`` whose parent folder is NORMAL or PNEUMONIA (recursively, sorted).

    A Kermany root (train/ and val/ each holding NORMAL/ and PNEUMONIA/) and a plain
    NORMAL/ + PNEUMONIA/ folder both work.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    records = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.parent.name.upper() in CLASS_NAMES:
            records.append(ImageRecord(path, CLASS_NAMES.index(path.parent.name.upper()), patient_id(path.name)))
    if not records:
        raise FileNotFoundError(f"no images in NORMAL/ or PNEUMONIA/ folders under {root}")
    return records


def scan_training_pool(root: str | Path) -> list[ImageRecord]:
    """Images a model may learn from: a Kermany root's train/ and val/ (never its test folders)."""
    root = Path(root)
    parts = [root / name for name in ("train", "val") if (root / name).is_dir()]
    if not parts:
        return scan_images(root)
    return [r for part in parts for r in scan_images(part)]
