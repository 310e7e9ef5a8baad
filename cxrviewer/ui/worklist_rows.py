"""What the worklist's rows hold, from core/study_index.py: one row per study, its images, which one is scored.

A PNG or JPEG is a study of its own. A DICOM study with a frontal film and laterals (PA + lateral) is one row
with one verdict: the frontal image is the one scored, laterals are listed (and get a thumbnail) but not
scored; a further frontal film of the study (a repeat) is a row of its own (:func:`study_rows`).
:func:`join_plan` applies the same rule to images that arrive later (files opened one by one), so a study
reads the same whether its files came in one folder or one at a time. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxrviewer.core.sniff import is_dicomdir, looks_like_study
from cxrviewer.core.study_index import StudyGroup, StudyIndex
from cxrviewer.core.study_result import StudyResult

LATERAL = "lateral"
LATERAL_NOTE = "lateral: not scored (the study's verdict comes from its frontal image)"
NEW_ROW, JOIN, RETARGET = "new row", "join", "retarget"


@dataclass
class ImageRef:
    """One image of a study row."""

    path: Path
    view: str = ""  # "PA", "LL", "frontal", ... ("" when the file does not say)
    projection: str = ""  # "frontal", "lateral" or ""
    scored: bool = True  # the study's verdict comes from this image

    @property
    def label(self) -> str:
        return self.view or self.path.suffix.lstrip(".").upper() or "image"


Row = tuple[Path, list[ImageRef], StudyResult]  # (the path scored, the row's images, the row's first result)


def study_rows(study: StudyGroup) -> list[tuple[Path, list[ImageRef]]]:
    """The worklist rows of one study: (the path scored, the row's images).

    A study's verdict comes from its frontal film; its laterals are listed with it (thumbnailed, not scored):
    PA + lateral is one row. Each further frontal (or view unknown) image of the study, e.g. a repeat
    exposure or a damaged copy, is a film to score of its own: a row of its own. A study of laterals only is
    one row scored from its first image (the input checks then withhold it, saying why)."""
    instances = study.instances
    films = [i for i in instances if i.projection != LATERAL] or instances[:1]
    laterals = [i for i in instances if i not in films]
    rows = []
    for k, film in enumerate(films):
        images = [ImageRef(film.path, film.view, film.projection, True)]
        if k == 0:
            images += [ImageRef(i.path, i.view, i.projection, False) for i in laterals]
        rows.append((film.path, images))
    return rows


def split_skipped(index: StudyIndex, every_file: bool = False) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files that get a row, which scoring reports as unreadable with the loader's reason: those that look
    like images but whose header could not be read, or with ``every_file`` (files the reader chose one by
    one) every file left out of the index), (the rest: not images, a DICOMDIR, files it lists that are gone,
    copies of an image listed once)."""
    rows, rest = [], []
    for path, why in index.skipped:
        if path.is_file() and not is_dicomdir(path) and (every_file or looks_like_study(path)):
            rows.append(path)
        else:
            rest.append((path, why))
    for instance in index.instances:  # copies of an image already listed (same SOP Instance UID): shown once
        for dup in instance.duplicates:
            rest.append((dup, f"{dup.name}: the same image as {instance.path.name}, shown once"))
    return rows, rest


def index_rows(index: StudyIndex, every_file: bool = False) -> list[Row]:
    """The worklist rows of the index (see :func:`study_rows` and :func:`split_skipped`)."""
    rows = []
    for patient in index:
        for study in patient.studies:
            for path, images in study_rows(study):
                result = StudyResult(
                    path=path,
                    patient_name=patient.patient_name,
                    patient_id=patient.patient_id,
                    study_date=study.study_date,
                    study_instance_uid=study.study_instance_uid,
                )
                rows.append((path, images, result))
    unreadable, _ = split_skipped(index, every_file)
    rows += [(p, [ImageRef(p)], StudyResult(path=p)) for p in unreadable]
    return rows


def study_key(result: StudyResult) -> tuple[str, str] | None:
    """The study a row belongs to: (patient, Study Instance UID); None for a PNG/JPEG or a DICOM without one
    (a study of its own), as core/study_index.py groups them."""
    if not result.study_instance_uid:
        return None
    return (result.patient_id or result.patient_name, result.study_instance_uid)


def join_plan(listed: list[ImageRef], arriving: list[ImageRef]) -> tuple[str, list[ImageRef]]:
    """How a row arriving for a study already listed joins it, by :func:`study_rows`' rule: (what to do, the
    images that join the listed row, not scored).

    * the arrival is laterals only: they all join the listed row (JOIN);
    * the listed row is scored from a lateral (the study had laterals only) and a frontal arrives: the frontal
      becomes the row's scored image and the rest are listed, not scored (RETARGET; the images returned are
      the arrival's laterals);
    * otherwise the arrival's frontal is a further film of the study, a row of its own (NEW_ROW), and its
      laterals join the listed row."""
    unscored = [ImageRef(i.path, i.view, i.projection, False) for i in arriving if i.projection == LATERAL]
    if arriving and all(i.projection == LATERAL for i in arriving):
        return JOIN, unscored
    if listed and listed[0].projection == LATERAL:
        return RETARGET, unscored
    return NEW_ROW, unscored
