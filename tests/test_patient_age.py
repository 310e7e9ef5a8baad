"""Age from DICOM attributes as archives write them: conformant, bare numbers, placeholders, conflicts."""

import pytest

from cxrviewer.core import load_study
from cxrviewer.core.patient_age import age_evidence

from .conftest import DICOM_DIR

# (metadata, expected years or None, expect a conflict, fragment of describe())
CASES = {
    "conformant years": ({"patient_age": "047Y"}, 47, False, "PatientAge 047Y"),
    "conformant months": ({"patient_age": "030M"}, 2.5, False, "2 y (PatientAge 030M)"),
    "months under two years": ({"patient_age": "018M"}, 1.5, False, "18 mo"),
    "conformant weeks": ({"patient_age": "010W"}, 10 * 7 / 365.2425, False, "mo"),
    "conformant days": ({"patient_age": "020D"}, 20 / 365.2425, False, "20 d"),
    "lower-case unit": ({"patient_age": "004y"}, 4, False, "4 y"),
    "bare number": ({"patient_age": "62"}, 62, False, "62 y"),
    "bare number with spaces": ({"patient_age": " 81 "}, 81, False, "81 y"),
    "placeholder 000Y": ({"patient_age": "000Y"}, None, False, "placeholder"),
    "not an age": ({"patient_age": "adult"}, None, False, "not an age"),
    "implausible": ({"patient_age": "999Y"}, None, False, "not plausible"),
    "birth date + study date": ({"patient_birth_date": "19400305", "study_date": "20040826"}, 64.47, False, "64 y"),
    "birth date + series date only": ({"patient_birth_date": "20180101", "series_date": "20210701"}, 3.5, False, "3 y"),
    "ACR-NEMA dotted dates": ({"patient_birth_date": "1990.01.01", "acquisition_date": "1993.02.24"}, 3.15, False, ""),
    "placeholder birth date": (
        {"patient_birth_date": "19010101", "study_date": "20040826"},
        None,
        False,
        "placeholder",
    ),
    "placeholder study date skipped": (
        {"patient_birth_date": "20180101", "study_date": "19010101", "content_date": "20200101"},
        2.0,
        False,
        "ContentDate",
    ),
    "birth after study": ({"patient_birth_date": "20100101", "study_date": "20040826"}, None, False, "after"),
    "birth date without any examination date": ({"patient_birth_date": "20180101"}, None, False, "no examination"),
    "sources agree": (
        {"patient_age": "064Y", "patient_birth_date": "19400305", "study_date": "20040826"},
        64,
        False,
        "PatientAge",
    ),
    "sources conflict": (
        {"patient_age": "004Y", "patient_birth_date": "19400305", "study_date": "20040826"},
        None,
        True,
        "conflicting",
    ),
    "nothing": ({}, None, False, "unknown"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_age_cases(case):
    meta, years, conflict, fragment = CASES[case]
    evidence = age_evidence(meta)
    assert evidence.conflict is conflict
    if years is None:
        assert evidence.years is None
    else:
        assert evidence.years == pytest.approx(years, abs=0.05)
    assert fragment in evidence.describe()
    assert "\n" not in evidence.describe()


def test_real_dicoms_carry_their_ages():
    assert age_evidence(load_study(DICOM_DIR / "RG1_J2KI.dcm").metadata).years == pytest.approx(64.47, abs=0.01)
    assert age_evidence(load_study(DICOM_DIR / "siim_acr_chest_pa.dcm").metadata).years == 62  # bare "62"
    assert age_evidence(load_study(DICOM_DIR / "pydicom_wheel_CR1_6154.dcm").metadata).years == 47  # "047Y"
    assert not age_evidence(load_study(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").metadata).known
