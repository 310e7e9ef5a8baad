"""Patient-disjoint, label-stratified, seeded splits of a pool of images."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

from .data import ImageRecord

SPLITS = ("train", "val", "test")


def patient_split(
    records: list[ImageRecord], val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0
) -> dict[str, list[ImageRecord]]:
    """Assign whole patients to train / val / test, stratified by label, reproducible from ``seed``.

    A patient's label is their images' majority label (in Kermany every patient has one label).
    """
    by_patient: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in records:
        by_patient[r.patient].append(r)
    patients_by_label: dict[int, list[str]] = defaultdict(list)
    for patient, recs in sorted(by_patient.items()):
        labels = [r.label for r in recs]
        patients_by_label[max(set(labels), key=labels.count)].append(patient)
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    for label in sorted(patients_by_label):
        patients = patients_by_label[label]
        rng.shuffle(patients)
        n_test = round(len(patients) * test_fraction)
        n_val = round(len(patients) * val_fraction)
        for i, patient in enumerate(patients):
            assignment[patient] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    out: dict[str, list[ImageRecord]] = {s: [] for s in SPLITS}
    for r in records:
        out[assignment[r.patient]].append(r)
    return out


def write_splits(splits: dict[str, list[ImageRecord]], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["split", "label", "patient", "path"])
        for name, recs in splits.items():
            for r in recs:
                w.writerow([name, r.class_name, r.patient, str(r.path)])


def read_splits(path: Path) -> dict[str, list[ImageRecord]]:
    from .data import CLASS_NAMES

    out: dict[str, list[ImageRecord]] = {s: [] for s in SPLITS}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["split"]].append(ImageRecord(Path(row["path"]), CLASS_NAMES.index(row["label"]), row["patient"]))
    return out
