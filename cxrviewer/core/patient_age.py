"""The patient's age from DICOM attributes, with the evidence it came from.

Sources, as archives deliver them: PatientAge (conformant ``nnnD``/``nnnW``/``nnnM``/``nnnY``, and the bare
numbers some modalities write, e.g. ``62``), and PatientBirthDate against the first valid one of StudyDate,
SeriesDate, AcquisitionDate and ContentDate. Placeholders (``000Y``, birth dates 19000101 / 19010101 /
00000000) count as unknown, a birth date after the examination as invalid, and two sources that disagree by
more than a year are reported as a conflict with both values kept: the caller decides (the verdict withholds
when either is outside the model's range).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

DAYS_PER_YEAR = 365.2425
_UNITS = {"D": 1 / DAYS_PER_YEAR, "W": 7 / DAYS_PER_YEAR, "M": 1 / 12, "Y": 1.0}
_CONFORMANT = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_BARE = re.compile(r"^\s*(\d{1,3})(?:\.\d+)?\s*$")
PLACEHOLDER_BIRTH_DATES = {"00000000", "19000101", "19010101", "18991230"}
REFERENCE_DATES = ("study_date", "series_date", "acquisition_date", "content_date")
MAX_AGE_YEARS = 130.0
CONFLICT_YEARS = 1.0


@dataclass(frozen=True)
class AgeReading:
    years: float
    source: str  # "PatientAge" or "PatientBirthDate+StudyDate" ...
    raw: str  # the attribute value(s) it was read from


@dataclass(frozen=True)
class AgeEvidence:
    """``readings``: every usable age found (0, 1 or 2); ``notes``: what was present but not usable."""

    readings: tuple[AgeReading, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def known(self) -> bool:
        return bool(self.readings)

    @property
    def conflict(self) -> bool:
        ages = [r.years for r in self.readings]
        return len(ages) > 1 and max(ages) - min(ages) > CONFLICT_YEARS

    @property
    def years(self) -> float | None:
        """The age when the sources agree (the first one); None when unknown or conflicting."""
        return None if not self.readings or self.conflict else self.readings[0].years

    def describe(self) -> str:
        """One line for the CSV and the panel, e.g. '64 y (PatientAge 064Y)'."""
        if not self.readings:
            return "unknown" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        parts = [f"{format_years(r.years)} ({r.source} {r.raw})" for r in self.readings]
        return ("conflicting: " if self.conflict else "") + " vs ".join(parts)


def format_years(years: float) -> str:
    if years < 1 / 12:
        return f"{years * DAYS_PER_YEAR:.0f} d"
    if years < 2:
        return f"{years * 12:.0f} mo"
    return f"{int(years)} y"


def parse_patient_age(value: str) -> tuple[float | None, str]:
    """(years, note): years None when absent, a placeholder or unreadable, with the note saying which."""
    text = str(value or "").strip()
    if not text:
        return None, ""
    m = _CONFORMANT.match(text)
    if m:
        n = int(m.group(1))
        if n == 0:
            return None, f"PatientAge {text} is a placeholder"
        years = n * _UNITS[m.group(2).upper()]
    elif _BARE.match(text):  # non-conformant but common: a bare number of years
        years = float(text)
        if years == 0:
            return None, f"PatientAge {text} is a placeholder"
    else:
        return None, f"PatientAge {text!r} is not an age"
    if years > MAX_AGE_YEARS:
        return None, f"PatientAge {text} is not plausible"
    return years, ""


def parse_dicom_date(value: str) -> date | None:
    text = str(value or "").strip().replace(".", "")[:8]  # ACR-NEMA wrote YYYY.MM.DD
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def age_from_dates(birth: str, meta: dict) -> tuple[AgeReading | None, str]:
    raw_birth = str(birth or "").strip()
    if not raw_birth:
        return None, ""
    if raw_birth in PLACEHOLDER_BIRTH_DATES:
        return None, f"PatientBirthDate {raw_birth} is a placeholder"
    born = parse_dicom_date(raw_birth)
    if born is None:
        return None, f"PatientBirthDate {raw_birth!r} is not a date"
    for key in REFERENCE_DATES:
        if str(meta.get(key, "")).strip() in PLACEHOLDER_BIRTH_DATES:  # 19010101 is seen as a study date too
            continue
        seen = parse_dicom_date(meta.get(key, ""))
        if seen is None:
            continue
        if seen < born:
            return None, f"PatientBirthDate {raw_birth} is after the {key.replace('_', ' ')} {meta[key]}"
        years = (seen - born).days / DAYS_PER_YEAR
        if years > MAX_AGE_YEARS:
            return None, f"PatientBirthDate {raw_birth} gives an implausible age"
        source = "PatientBirthDate+" + "".join(w.capitalize() for w in key.split("_"))
        return AgeReading(years, source, f"{raw_birth}/{meta[key]}"), ""
    return None, f"PatientBirthDate {raw_birth} but no examination date to compare it with"


def age_evidence(meta: dict) -> AgeEvidence:
    """Every usable age in a study's metadata (keys as in ``cxrviewer.core.dicom.METADATA_TAGS``)."""
    readings: list[AgeReading] = []
    notes: list[str] = []
    raw_age = str(meta.get("patient_age", "") or "").strip()
    years, note = parse_patient_age(raw_age)
    if years is not None:
        readings.append(AgeReading(years, "PatientAge", raw_age))
    elif note:
        notes.append(note)
    from_dates, note = age_from_dates(meta.get("patient_birth_date", ""), meta)
    if from_dates is not None:
        readings.append(from_dates)
    elif note:
        notes.append(note)
    return AgeEvidence(tuple(readings), tuple(notes))
