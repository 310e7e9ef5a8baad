"""A CD / USB export opened through its DICOMDIR (written here with pydicom's FileSet)."""

from __future__ import annotations

import os

import pydicom
import pytest
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

from cxrviewer.core import NotAnImageError, load_study
from cxrviewer.core.dicomdir import find_dicomdir, read_dicomdir
from cxrviewer.core.sniff import is_dicomdir
from cxrviewer.core.study_index import index_folder

from .conftest import DICOM_DIR

CHEST = DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"


def _film(patient: str, study: str, view: str, number: int):
    ds = pydicom.dcmread(CHEST)
    ds.PatientID, ds.PatientName = patient, f"Doe^{patient}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20240102", "101500", "1"
    ds.SeriesNumber, ds.InstanceNumber = number, number
    ds.ViewPosition = view
    return ds


@pytest.fixture()
def media(tmp_path):
    study = generate_uid()
    fs = FileSet()
    for ds in (_film("P1", study, "PA", 1), _film("P1", study, "LL", 2), _film("P2", generate_uid(), "AP", 1)):
        fs.add(ds)
    root = tmp_path / "cdrom"
    fs.write(root)
    return root, study


def test_folder_with_dicomdir_opens_through_it(media):
    root, study = media
    dicomdir = find_dicomdir(root)
    assert dicomdir == root / "DICOMDIR" and is_dicomdir(dicomdir)
    index = index_folder(root)
    assert index.source == dicomdir and not index.skipped
    assert [p.patient_id for p in index] == ["P1", "P2"]
    (pa_lat,) = index[0].studies
    assert pa_lat.study_instance_uid == study and [i.view for i in pa_lat.instances] == ["PA", "LL"]
    assert all(load_study(i.path).metadata["study_instance_uid"] == study for i in pa_lat.instances)


def test_iso9660_names_are_found_case_insensitively_and_missing_files_reported(media):
    root, _ = media
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != "DICOMDIR")
    for path in sorted((p for p in root.rglob("*") if p != root / "DICOMDIR"), key=lambda p: -len(p.parts)):
        path.rename(path.with_name(path.name.lower()))  # a CD mounted with lower-case names
    os.remove(next(p for p in root.rglob("*") if p.is_file() and p.name != "DICOMDIR"))
    index = read_dicomdir(root / "DICOMDIR")
    assert len(index.instances) == len(files) - 1
    assert len(index.skipped) == 1 and "not on the media" in index.skipped[0][1]


def test_dicomdir_itself_is_not_an_image(media):
    root, _ = media
    with pytest.raises(NotAnImageError, match="DICOMDIR"):
        load_study(root / "DICOMDIR")


def test_pydicoms_dicomdir_groups_by_patient_study_series():
    from pydicom.data import get_testdata_file

    index = read_dicomdir(get_testdata_file("DICOMDIR", download=False))
    assert [p.patient_id for p in index] == ["77654033", "98890234"]
    assert [len(p.studies) for p in index] == [2, 4]
    assert len(index.instances) == 31 and not index.skipped
