"""The dataset contract: a folder with NORMAL/ and PNEUMONIA/ image folders (Kermany layout), or a
manifest CSV listing path, label and patient_id per image (optional view, age) for any other layout."""

from __future__ import annotations

import csv
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
    view: str = ""  # from a manifest's optional view column (e.g. PA, AP)
    age: float | None = None  # from a manifest's optional age column (years)

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


MANIFEST_COLUMNS = ("path", "label", "patient_id")  # required; optional: view, age


def is_manifest(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".csv" and Path(path).is_file()


def read_manifest(path: str | Path) -> list[ImageRecord]:
    """Records of a manifest CSV: ``path,label,patient_id[,view][,age]``, one image per row.

    ``path`` is absolute or relative to the manifest's folder; ``label`` is a class name (NORMAL,
    PNEUMONIA, any case) or its index (0, 1); ``patient_id`` keeps a patient's images in one split.
    Rows come back sorted by path, like a folder scan. Errors name the row.
    """
    path = Path(path)
    base = path.parent
    records = []
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        missing = [c for c in MANIFEST_COLUMNS if c not in columns]
        if missing:
            raise ValueError(
                f"{path}: manifest lacks column(s) {', '.join(missing)} (needs {', '.join(MANIFEST_COLUMNS)})"
            )
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            label = row["label"].upper()
            if label in CLASS_NAMES:
                index = CLASS_NAMES.index(label)
            elif label.isdigit() and int(label) < len(CLASS_NAMES):
                index = int(label)
            else:
                raise ValueError(f"{path} line {line}: label {row['label']!r} is not one of {', '.join(CLASS_NAMES)}")
            if not row["path"] or not row["patient_id"]:
                raise ValueError(f"{path} line {line}: empty path or patient_id")
            image = Path(row["path"])
            image = image if image.is_absolute() else base / image
            age = row.get("age", "")
            records.append(
                ImageRecord(image, index, row["patient_id"], row.get("view", ""), float(age) if age else None)
            )
    if not records:
        raise FileNotFoundError(f"no rows in manifest {path}")
    return sorted(records, key=lambda r: str(r.path))


def scan_training_pool(root: str | Path) -> list[ImageRecord]:
    """Images a model may learn from: a Kermany root's train/ and val/ (never its test folders),
    a plain NORMAL/ + PNEUMONIA/ folder, or every row of a manifest CSV."""
    if is_manifest(root):
        return read_manifest(root)
    root = Path(root)
    parts = [root / name for name in ("train", "val") if (root / name).is_dir()]
    if not parts:
        return scan_images(root)
    return [r for part in parts for r in scan_images(part)]
