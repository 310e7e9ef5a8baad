"""Which open studies are priors of the one on screen: the same patient (by DICOM Patient ID), another study.

Only an explicit Patient ID links two films: PNG/JPEG files carry none, and a file name that looks like a
patient number is never taken as one. Earlier studies come first, the most recent of them first; studies
without a date (or dated later) follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudyRef:
    path: Path
    patient_id: str = ""
    study_uid: str = ""
    study_date: str = ""  # DICOM DA, YYYYMMDD


def find_priors(current: StudyRef, candidates: Iterable[StudyRef]) -> list[StudyRef]:
    """The other studies of ``current``'s patient among ``candidates``, best comparison first."""
    patient = current.patient_id.strip()
    if not patient:
        return []
    others = []
    seen_studies = set()
    for c in candidates:
        if c.path == current.path or c.patient_id.strip() != patient:
            continue
        if current.study_uid and c.study_uid == current.study_uid:
            continue  # another image of the same study is not a prior
        key = c.study_uid or str(c.path)
        if key in seen_studies:
            continue  # one film per study
        seen_studies.add(key)
        others.append(c)
    date = _date(current.study_date)

    def rank(c: StudyRef) -> tuple[int, int]:
        d = _date(c.study_date)
        if d is not None and date is not None and d < date:
            return 0, -d  # earlier studies first, the latest of them first
        return 1, -(d or 0)

    return sorted(others, key=rank)


def _date(text: str) -> int | None:
    digits = text.strip()[:8]
    return int(digits) if len(digits) == 8 and digits.isdigit() else None
