"""Bad input gets a typed, readable error (the app shows the message and goes on)."""

import numpy as np
import pydicom
import pytest
from PIL import Image

from cxrviewer.core import NotAnImageError, StudyError, UnreadableStudyError, UnsupportedStudyError, load_study

from .conftest import DICOM_DIR, NATIVE_DIR


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableStudyError, match="cannot be read"):
        load_study(tmp_path / "nope.png")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.dcm"
    p.write_bytes(b"")
    with pytest.raises(UnreadableStudyError, match="empty"):
        load_study(p)


def test_text_file_with_image_extension(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("not an image")
    with pytest.raises(UnreadableStudyError):
        load_study(p)


def test_truncated_jpeg(tmp_path):
    src = next((NATIVE_DIR / "NORMAL").glob("*.jpeg")).read_bytes()
    p = tmp_path / "cut.jpeg"
    p.write_bytes(src[: len(src) // 3])
    with pytest.raises(UnreadableStudyError, match="corrupt or truncated"):
        load_study(p)


def test_truncated_dicom(tmp_path):
    src = (DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").read_bytes()
    p = tmp_path / "cut.dcm"
    p.write_bytes(src[: len(src) // 2])
    with pytest.raises(StudyError):
        load_study(p)


def test_dicom_without_pixel_data(tmp_path):
    ds = pydicom.dcmread(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm")
    del ds.PixelData
    p = tmp_path / "nopixels.dcm"
    ds.save_as(p)
    with pytest.raises(NotAnImageError, match="without pixel data"):
        load_study(p)


def test_multiframe_dicom_refused(tmp_path):
    ds = pydicom.dcmread(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm")
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2
    p = tmp_path / "multi.dcm"
    ds.save_as(p)
    with pytest.raises(UnsupportedStudyError, match="multi-frame"):
        load_study(p)


def test_huge_declared_size_refused_without_allocating(tmp_path):
    ds = pydicom.dcmread(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm")
    ds.Rows = ds.Columns = 20000
    p = tmp_path / "huge.dcm"
    ds.save_as(p)
    with pytest.raises(UnsupportedStudyError, match="larger than"):
        load_study(p)


def test_colour_png_is_flagged(tmp_path):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = np.arange(64, dtype=np.uint8)[None, :] * 3
    p = tmp_path / "photo.png"
    Image.fromarray(rgb).save(p)
    assert load_study(p).metadata["is_colour"] is True


def test_grey_jpeg_is_not_colour():
    study = load_study(next((NATIVE_DIR / "PNEUMONIA").glob("*.jpeg")))
    assert study.metadata["is_colour"] is False


def test_loading_never_modifies_the_file(tmp_path):
    p = tmp_path / "study.dcm"
    original = (DICOM_DIR / "RG1_J2KI.dcm").read_bytes()
    p.write_bytes(original)
    load_study(p)
    assert p.read_bytes() == original
