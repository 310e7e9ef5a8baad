"""Files grouped as a worklist: patient > study > series > instance, from headers only (no pixels decoded).

DICOM instances are grouped by PatientID, StudyInstanceUID and SeriesInstanceUID; two files with the same
SOPInstanceUID and the same bytes are one instance (the first, in path order, is kept; the others are listed
in its ``duplicates`` with a note); the same UID with other content (a damaged or edited copy) stays two
instances, with a note. Each instance carries its view (ViewPosition, ImageLaterality,
PatientOrientation, View Code Sequence). A PNG or JPEG is a patient and a study of its own (nothing in it
says whose it is). Qt-free: the UI worklist builds its tree from this.

    index = build_study_index(paths)        # or index_folder(folder), or dicomdir.read_dicomdir(path)
    for patient in index:
        for study in patient.studies:
            for series in study.series:
                for instance in series.instances:
                    load_study(instance.path)
    index.skipped                            # [(path, reason)] for files that are not images
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StudyError, UnreadableStudyError
from .folder_scan import scan_folder
from .header_values import _int, _same_bytes, _text, _view_code
from .sniff import DICOM_KINDS, JPEG, PNG, is_dicomdir, sniff_file

# Header elements the index reads (everything else is skipped while parsing).
HEADER_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "InstanceNumber",
    "ViewPosition",
    "ViewCodeSequence",
    "ImageLaterality",
    "Laterality",
    "PatientOrientation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "DirectoryRecordSequence",
)
FRONTAL_VIEWS = frozenset({"PA", "AP", "FRONTAL", "POSTERO-ANTERIOR", "ANTERO-POSTERIOR"})
LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLD", "RLD", "LEFT LATERAL", "RIGHT LATERAL"})


@dataclass
class Instance:
    """One image file (a DICOM instance, or a PNG/JPEG)."""

    path: Path
    format: str  # "DICOM", "PNG" or "JPEG"
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    modality: str = ""
    body_part: str = ""
    view_position: str = ""  # (0018,5101): PA, AP, LL, RL, ...
    image_laterality: str = ""  # (0020,0062): R, L, U, B
    patient_orientation: str = ""  # (0020,0020), "\\"-joined: e.g. "L\\F" (frontal), "A\\F" (lateral)
    view_code: str = ""  # View Code Sequence code meaning, e.g. "postero-anterior"
    instance_number: int | None = None
    frames: int = 1
    rows: int | None = None
    columns: int | None = None
    duplicates: list[Path] = field(default_factory=list)  # other files holding the same SOP instance
    notes: list[str] = field(default_factory=list)

    @property
    def view(self) -> str:
        """The best view label: ViewPosition, else the View Code Sequence meaning, else "frontal"/"lateral"
        from PatientOrientation, else ""."""
        if self.view_position:
            return self.view_position.upper()
        if self.view_code:
            return self.view_code
        return self.projection

    @property
    def projection(self) -> str:
        """ "frontal", "lateral" or "" (unknown), from whatever the header says."""
        position = self.view_position.upper()
        if position in FRONTAL_VIEWS:
            return "frontal"
        if position in LATERAL_VIEWS:
            return "lateral"
        code = self.view_code.lower()
        if "lateral" in code:
            return "lateral"
        if "anterior" in code or "posterior" in code:
            return "frontal"
        rows_dir = self.patient_orientation.split("\\")[0].strip().upper()[:1]
        if rows_dir in ("L", "R"):
            return "frontal"  # rows run across the patient: a PA/AP projection
        if rows_dir in ("A", "P"):
            return "lateral"
        return ""


@dataclass
class Series:
    series_instance_uid: str
    series_number: int | None = None
    modality: str = ""
    description: str = ""
    instances: list[Instance] = field(default_factory=list)


@dataclass
class StudyGroup:
    study_instance_uid: str  # "" for a PNG/JPEG or a DICOM without one
    study_date: str = ""
    study_time: str = ""
    description: str = ""
    accession_number: str = ""
    series: list[Series] = field(default_factory=list)

    @property
    def instances(self) -> list[Instance]:
        return [i for s in self.series for i in s.instances]

    @property
    def views(self) -> list[str]:
        return [i.view for i in self.instances]


@dataclass
class PatientGroup:
    patient_id: str
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    studies: list[StudyGroup] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def instances(self) -> list[Instance]:
        return [i for s in self.studies for i in s.instances]


class StudyIndex(list):
    """A ``list[PatientGroup]`` that also remembers what was left out and why."""

    def __init__(self, patients: Iterable[PatientGroup] = (), skipped=None, notes=None, source: Path | None = None):
        super().__init__(patients)
        self.skipped: list[tuple[Path, str]] = list(skipped or [])  # files that are no image, with the reason
        self.notes: list[str] = list(notes or [])  # duplicates merged, inconsistent headers, ...
        self.source = source  # the DICOMDIR it was read through, if any

    @property
    def studies(self) -> list[StudyGroup]:
        return [s for p in self for s in p.studies]

    @property
    def instances(self) -> list[Instance]:
        return [i for p in self for i in p.instances]


@dataclass
class _Header:
    instance: Instance
    patient_id: str = ""
    patient_name: str = ""
    birth_date: str = ""
    sex: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_uid: str = ""
    series_number: int | None = None
    series_description: str = ""


def read_header(path: str | os.PathLike) -> _Header:
    """Header of one file (pixels never read). Raises StudyError for what is not an image."""
    path = Path(path)
    kind = sniff_file(path)
    if kind in (PNG, JPEG):
        return _Header(Instance(path=path, format=kind.upper()))
    if kind not in DICOM_KINDS:
        raise UnreadableStudyError(f"{path.name}: not a PNG, JPEG or DICOM file")
    if is_dicomdir(path):
        raise UnreadableStudyError(f"{path.name}: a DICOMDIR (the index of the media), not an image")
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=list(HEADER_KEYWORDS))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a reason, not a crash
        raise UnreadableStudyError(f"{path.name}: DICOM header could not be read ({type(exc).__name__})") from exc
    if "DirectoryRecordSequence" in ds:
        raise UnreadableStudyError(f"{path.name}: a DICOMDIR (the index of the media), not an image")
    if "Rows" not in ds or "Columns" not in ds:
        sop = _text(ds, "SOPClassUID")
        from pydicom.uid import UID

        what = UID(sop).name if sop else "unknown SOP class"
        raise UnreadableStudyError(f"{path.name}: DICOM object without an image ({what})")
    instance = Instance(
        path=path,
        format="DICOM",
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
        sop_class_uid=_text(ds, "SOPClassUID"),
        modality=_text(ds, "Modality"),
        body_part=_text(ds, "BodyPartExamined"),
        view_position=_text(ds, "ViewPosition"),
        image_laterality=_text(ds, "ImageLaterality") or _text(ds, "Laterality"),
        patient_orientation=_text(ds, "PatientOrientation"),
        view_code=_view_code(ds),
        instance_number=_int(ds, "InstanceNumber"),
        frames=max(1, _int(ds, "NumberOfFrames") or 1),
        rows=_int(ds, "Rows"),
        columns=_int(ds, "Columns"),
    )
    return _Header(
        instance,
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        birth_date=_text(ds, "PatientBirthDate"),
        sex=_text(ds, "PatientSex"),
        study_uid=_text(ds, "StudyInstanceUID"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        study_description=_text(ds, "StudyDescription"),
        accession_number=_text(ds, "AccessionNumber"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
    )


def build_study_index(paths: Iterable[str | os.PathLike]) -> StudyIndex:
    """Group image files by patient / study / series (headers only). Folders in ``paths`` are walked."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            scan = scan_folder(p)
            files += scan.candidates
            skipped += scan.skipped
        else:
            files.append(p)
    headers: list[_Header] = []
    for path in sorted(dict.fromkeys(files)):
        try:
            headers.append(read_header(path))
        except StudyError as exc:
            skipped.append((path, str(exc)))
        except OSError as exc:
            skipped.append((path, f"{path.name}: cannot be read ({exc.strerror or exc})"))
    return _group(headers, skipped)


def index_folder(folder: str | os.PathLike) -> StudyIndex:
    """A folder as a worklist: through its DICOMDIR when it has one (a CD or USB export), else every file."""
    from .dicomdir import find_dicomdir, read_dicomdir

    dicomdir = find_dicomdir(folder)
    if dicomdir is not None:
        return read_dicomdir(dicomdir)
    return build_study_index([folder])


def _group(headers: list[_Header], skipped: list[tuple[Path, str]]) -> StudyIndex:
    notes: list[str] = []
    patients: dict[str, PatientGroup] = {}
    studies: dict[tuple[str, str], StudyGroup] = {}
    series: dict[tuple[str, str, str], Series] = {}
    by_uid: dict[str, Instance] = {}
    for h in headers:
        inst = h.instance
        kept = by_uid.get(inst.sop_instance_uid) if inst.sop_instance_uid else None
        if kept is not None and _same_bytes(kept.path, inst.path):
            kept.duplicates.append(inst.path)
            note = f"{inst.path.name}: the same image (SOP Instance UID) as {kept.path.name}, shown once"
            kept.notes.append(note)
            notes.append(note)
            continue
        if kept is not None:  # the same UID, other content (a damaged or edited copy): both shown, and said
            note = f"{inst.path.name}: the same SOP Instance UID as {kept.path.name} but other content"
            inst.notes.append(note)
            notes.append(note)
        elif inst.sop_instance_uid:
            by_uid[inst.sop_instance_uid] = inst
        own = f"file:{inst.path}"
        study_key = h.study_uid or own  # a bitmap, or a DICOM without Study Instance UID: a study of its own
        if inst.format != "DICOM":
            patient_key = own
        elif h.patient_id:
            patient_key = f"id:{h.patient_id}"
        elif h.patient_name:
            patient_key = f"name:{h.patient_name}"
        else:
            patient_key = f"study:{study_key}"
        patient = patients.get(patient_key)
        if patient is None:
            patient = patients[patient_key] = PatientGroup(h.patient_id, h.patient_name, h.birth_date, h.sex)
        elif h.patient_name and patient.patient_name and h.patient_name != patient.patient_name:
            note = f"{inst.path.name}: patient name {h.patient_name!r} differs from {patient.patient_name!r} (same ID)"
            if note not in patient.notes:
                patient.notes.append(note)
                notes.append(note)
        study = studies.get((patient_key, study_key))
        if study is None:
            study = studies[(patient_key, study_key)] = StudyGroup(
                h.study_uid, h.study_date, h.study_time, h.study_description, h.accession_number
            )
            patient.studies.append(study)
        series_key = (patient_key, study_key, h.series_uid or f"{study_key}:no-series")
        group = series.get(series_key)
        if group is None:
            group = series[series_key] = Series(h.series_uid, h.series_number, inst.modality, h.series_description)
            study.series.append(group)
        group.instances.append(inst)

    for patient in patients.values():
        patient.studies.sort(key=lambda s: (s.study_date, s.study_time, s.study_instance_uid), reverse=True)
        for study in patient.studies:
            for group in study.series:
                group.instances.sort(key=_instance_order)
            study.series.sort(
                key=lambda s: (s.series_number is None, s.series_number or 0, _instance_order(s.instances[0]))
            )
    ordered = sorted(
        patients.values(),
        key=lambda p: (not (p.patient_id or p.patient_name), p.patient_name.lower(), p.patient_id, _first_path(p)),
    )
    return StudyIndex(ordered, skipped, notes)


def _instance_order(inst: Instance) -> tuple:
    return (inst.instance_number is None, inst.instance_number or 0, str(inst.path))


def _first_path(patient: PatientGroup) -> str:
    return min((str(i.path) for i in patient.instances), default="")
