"""What the viewer shows about the patient, and what the "anonymise" toggle hides everywhere.

The banner, the worklist, the tag browser and every export take their patient-facing text from here,
so one switch hides the same fields on screen, in PNG exports and in CSV exports.
"""

from __future__ import annotations

from pathlib import Path

HIDDEN = "(hidden)"

# Study.metadata keys that identify the patient or the encounter.
PATIENT_KEYS = (
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "study_date",
    "accession_number",
    "institution",
)
# DICOM keywords redacted in the tag browser (plus every value of VR PN, DA and DT).
PHI_KEYWORDS = {
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientSex",
    "PatientAge",
    "OtherPatientIDs",
    "OtherPatientNames",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientComments",
    "AccessionNumber",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "StudyID",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "StudyTime",
    "SeriesTime",
    "AcquisitionTime",
    "ContentTime",
    "StationName",
    "DeviceSerialNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
    "MediaStorageSOPInstanceUID",
    "IssuerOfPatientID",
    "EthnicGroup",
    "MilitaryRank",
    "MedicalRecordLocator",
}
PHI_VRS = {"PN", "DA", "DT"}


def format_date(value: str) -> str:
    """DICOM DA 'YYYYMMDD' -> 'YYYY-MM-DD'; anything else unchanged."""
    value = (value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def format_person_name(value: str) -> str:
    """DICOM PN 'Family^Given^Middle' -> 'Family, Given Middle'."""
    parts = [p for p in (value or "").split("=")[0].split("^") if p]
    if len(parts) <= 1:
        return parts[0] if parts else ""
    return f"{parts[0]}, {' '.join(parts[1:])}"


def visible_metadata(meta: dict, anonymise: bool) -> dict:
    """A copy of ``meta`` with the patient keys replaced by HIDDEN when anonymising."""
    out = dict(meta)
    if anonymise:
        for key in PATIENT_KEYS:
            if out.get(key):
                out[key] = HIDDEN
    return out


def patient_label(meta: dict, anonymise: bool) -> str:
    if anonymise:
        return HIDDEN
    name = format_person_name(meta.get("patient_name", ""))
    pid = meta.get("patient_id", "")
    return f"{name} ({pid})" if name and pid else name or pid


def study_date_label(meta: dict, anonymise: bool) -> str:
    if anonymise:
        return HIDDEN if meta.get("study_date") else ""
    return format_date(meta.get("study_date", ""))


def display_name(path: Path, anonymise: bool, index: int | None = None) -> str:
    """File name as shown and exported. File names can carry names too, so anonymising shows a number."""
    if anonymise:
        return f"study {index + 1}" if index is not None else HIDDEN
    return Path(path).name


def banner_lines(meta: dict, anonymise: bool, file_name: str = "") -> list[str]:
    """The overlay banner: patient line, study line (date, modality, view, body part), file/format line."""
    lines: list[str] = []
    if anonymise:
        lines.append("Patient: " + HIDDEN + "  (anonymised)")
    elif meta.get("format") != "DICOM":
        lines.append("No patient data (image file without DICOM header)")
    else:
        name = format_person_name(meta.get("patient_name", "")) or "no name"
        pid = meta.get("patient_id", "")
        sex = meta.get("patient_sex", "")
        birth = format_date(meta.get("patient_birth_date", ""))
        extra = "  ".join(x for x in (f"ID {pid}" if pid else "", sex, f"born {birth}" if birth else "") if x)
        lines.append(f"{name}  {extra}".rstrip())
    study = [] if anonymise else [format_date(meta.get("study_date", ""))]
    study += [meta.get("modality", ""), meta.get("view_position", ""), meta.get("body_part", "")]
    study_line = "  ".join(s for s in study if s)
    if study_line:
        lines.append(study_line)
    description = meta.get("study_description") or meta.get("series_description") or ""
    if description and not anonymise:
        lines.append(description)
    tail = "  ".join(
        s for s in (file_name, meta.get("format", ""), f"{meta.get('columns', '?')}x{meta.get('rows', '?')}") if s
    )
    lines.append(tail)
    return [line for line in lines if line]
