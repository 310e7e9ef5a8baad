"""Priors: the same patient by DICOM Patient ID, another study, earlier ones first; never guessed."""

from pathlib import Path

from cxrviewer.core import load_study
from cxrviewer.core.priors import StudyRef, find_priors

from .conftest import DICOM_DIR


def ref(name, patient="P1", uid="", date=""):
    return StudyRef(Path(name), patient, uid or f"uid-{name}", date)


def test_earlier_studies_of_the_same_patient_come_first_latest_first():
    current = ref("now", date="20240601")
    others = [
        ref("older", date="20200101"),
        ref("recent", date="20231201"),
        ref("later", date="20250101"),
        ref("undated"),
        ref("stranger", patient="P2", date="20231231"),
    ]
    assert [p.path.name for p in find_priors(current, others)] == ["recent", "older", "later", "undated"]


def test_same_study_and_missing_patient_id_give_no_prior():
    current = ref("a", uid="study-1")
    assert find_priors(current, [current, ref("b", uid="study-1")]) == []  # another image of the same study
    assert find_priors(StudyRef(Path("x.jpeg")), [ref("b"), StudyRef(Path("y.jpeg"))]) == []  # PNG/JPEG: no ID
    # two images of one prior study count once
    assert len(find_priors(current, [ref("c", uid="s2"), ref("d", uid="s2")])) == 1


def test_real_files_of_one_study_are_not_priors_of_each_other():
    """siim_acr_chest_pa.dcm and txv_Fake_MONOHR1.dcm share the patient and the study UID."""
    refs = []
    for name in ("siim_acr_chest_pa.dcm", "txv_Fake_MONOHR1.dcm", "RG1_J2KI.dcm"):
        m = load_study(DICOM_DIR / name).metadata
        refs.append(StudyRef(DICOM_DIR / name, m["patient_id"], m["study_instance_uid"], m.get("study_date", "")))
    assert refs[0].patient_id == refs[1].patient_id
    assert find_priors(refs[0], refs) == []
