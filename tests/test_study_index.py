"""The study index: patient > study > series > instance from headers only, views, duplicates, bitmaps."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from cxrviewer.core import load_study
from cxrviewer.core.study_index import PatientGroup, build_study_index, index_folder, read_header

from .conftest import DICOM_DIR, NATIVE_DIR

CHEST = DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"


def film(path, *, patient="P1", study=None, series=None, view="PA", orientation=None, number=1, sop=None):
    ds = pydicom.dcmread(CHEST)
    ds.PatientID, ds.PatientName = patient, f"Doe^{patient}"
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = series or generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop or generate_uid()
    ds.ViewPosition = view
    ds.InstanceNumber = number
    ds.StudyDate = "20240102"
    if orientation is not None:
        ds.PatientOrientation = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return ds


@pytest.fixture()
def chest_folder(tmp_path):
    root = tmp_path / "inbox"
    study = generate_uid()
    pa = film(root / "a" / "IM0001", study=study, view="PA", orientation=["L", "F"], number=1)
    film(root / "b" / "lateral.dcm", study=study, view="LL", orientation=["A", "F"], number=2)
    shutil.copy(root / "a" / "IM0001", root / "b" / "copy-of-pa.dcm")  # same SOP Instance UID
    film(root / "prior.dcm", study=generate_uid(), view="AP", number=1).StudyDate = "20200101"
    film(root / "other.dcm", patient="P2", view="PA")
    shutil.copy(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg", root / "photo.jpeg")
    shutil.copy(NATIVE_DIR / "PNEUMONIA" / "person23_bacteria_85.jpeg", root / "second.jpeg")
    (root / "notes.txt").write_text("not an image\n")
    return root, pa


def test_pa_and_lateral_are_one_study(chest_folder):
    root, pa = chest_folder
    index = build_study_index([root])
    assert all(isinstance(p, PatientGroup) for p in index)
    p1 = next(p for p in index if p.patient_id == "P1")
    assert len(p1.studies) == 2  # the PA + lateral study, and a prior
    study = next(s for s in p1.studies if s.study_instance_uid == pa.StudyInstanceUID)
    assert [i.view for i in study.instances] == ["PA", "LL"]
    assert [i.projection for i in study.instances] == ["frontal", "lateral"]
    assert len(study.series) == 2 and study.instances[0].patient_orientation == "L\\F"
    # every instance of the index opens
    for inst in index.instances:
        assert load_study(inst.path).pixels.ndim == 2


def test_duplicates_are_merged_with_a_note(chest_folder):
    root, pa = chest_folder
    index = build_study_index([root])
    kept = next(i for i in index.instances if i.sop_instance_uid == pa.SOPInstanceUID)
    assert [d.name for d in kept.duplicates] == ["copy-of-pa.dcm"]
    assert any("copy-of-pa.dcm" in n and "shown once" in n for n in index.notes)
    assert sum(i.sop_instance_uid == pa.SOPInstanceUID for i in index.instances) == 1


def test_bitmaps_are_studies_of_their_own_and_the_rest_is_skipped(chest_folder):
    root, _ = chest_folder
    index = build_study_index([root])
    bitmaps = [p for p in index if p.instances[0].format == "JPEG"]
    assert len(bitmaps) == 2 and all(len(p.studies) == 1 and len(p.instances) == 1 for p in bitmaps)
    assert len(index) == 4  # P1, P2 and the two JPEGs
    assert [p.name for p, _ in index.skipped] == ["notes.txt"]
    # patients with an identity first, newest study first
    assert [p.patient_id for p in index[:2]] == ["P1", "P2"]
    assert [s.study_date for s in index[0].studies] == sorted((s.study_date for s in index[0].studies), reverse=True)


def test_headers_only(tmp_path):
    ds = film(tmp_path / "cut.dcm")
    data = (tmp_path / "cut.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - len(ds.PixelData) // 2])  # pixels truncated
    header = read_header(tmp_path / "cut.dcm")
    assert header.instance.sop_instance_uid == ds.SOPInstanceUID and header.study_uid == ds.StudyInstanceUID


def test_dicom_without_uids_and_non_images(tmp_path):
    ds = pydicom.dcmread(CHEST)
    del ds.StudyInstanceUID, ds.SeriesInstanceUID
    ds.save_as(tmp_path / "legacy.dcm")
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "legacy2.dcm")
    ds = pydicom.dcmread(CHEST)
    del ds.PixelData, ds.Rows, ds.Columns
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.save_as(tmp_path / "report.dcm", enforce_file_format=False)
    index = index_folder(tmp_path)
    assert len(index.studies) == 2  # no Study Instance UID: each file is a study of its own
    assert any("report.dcm" in reason and "without an image" in reason for _, reason in index.skipped)


def test_frames_are_counted():
    from pydicom.data import get_testdata_file

    path = get_testdata_file("emri_small.dcm", download=False)
    if path is None:
        pytest.skip("needs pydicom-data")
    assert read_header(path).instance.frames == 10
    assert np.isfinite(load_study(path, frame=9).pixels).all()


def test_same_uid_with_other_content_stays_two_images(chest_folder):
    root, pa = chest_folder
    damaged = root / "b" / "damaged-copy.dcm"
    data = bytearray((root / "a" / "IM0001").read_bytes())
    data[-100:] = bytes(100)  # same header (same SOP Instance UID), other pixels
    damaged.write_bytes(bytes(data))
    index = build_study_index([root])
    same = [i for i in index.instances if i.sop_instance_uid == pa.SOPInstanceUID]
    assert sorted(i.path.name for i in same) == ["IM0001", "damaged-copy.dcm"]  # the byte copy is merged
    assert any("damaged-copy.dcm" in n and "other content" in n for n in index.notes)
