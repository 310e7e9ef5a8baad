"""The DICOM pixel pipeline on the real CR files in ../shared/data/dicom."""

import numpy as np
import pydicom
import pytest

from cxrviewer.core import load_study

from .conftest import DICOM_DIR

DICOM_FILES = sorted(DICOM_DIR.glob("*.dcm"))
CHEST_MONOCHROME1 = ["RG1_J2KI.dcm", "gdcm-CR-MONO1-10-chest.dcm"]


def test_shared_dicoms_present():
    assert len(DICOM_FILES) >= 7


@pytest.mark.parametrize("path", DICOM_FILES, ids=lambda p: p.name)
def test_every_dicom_loads_as_grey_image(path):
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    study = load_study(path)
    assert study.pixels.shape == (ds.Rows, ds.Columns)
    assert study.pixels.dtype == np.float32
    assert 0.0 <= study.pixels.min() and study.pixels.max() <= 1.0
    assert study.pixels.std() > 0.01, "a real radiograph has contrast after windowing"
    assert study.metadata["modality"] == ds.Modality


@pytest.mark.parametrize(
    "path",
    [p for p in DICOM_FILES if pydicom.dcmread(p, stop_before_pixels=True).PhotometricInterpretation == "MONOCHROME1"],
    ids=lambda p: p.name,
)
def test_monochrome1_displays_high_values_dark(path):
    study = load_study(path)
    assert study.invert
    raw, shown = study.raw.ravel(), study.pixels.ravel()
    inside = (shown > 0.02) & (shown < 0.98)  # off the window's clamps
    assert np.corrcoef(raw[inside], shown[inside])[0, 1] < -0.9


@pytest.mark.parametrize("name", CHEST_MONOCHROME1)
def test_monochrome1_chest_shows_bone_bright_lungs_dark(name):
    px = load_study(DICOM_DIR / name).pixels
    h, w = px.shape
    rows = slice(int(h * 0.3), int(h * 0.6))
    mediastinum = px[rows, int(w * 0.46) : int(w * 0.54)].mean()
    lungs = np.mean([px[rows, int(w * 0.2) : int(w * 0.35)].mean(), px[rows, int(w * 0.65) : int(w * 0.8)].mean()])
    assert mediastinum > lungs + 0.1


def test_fake_monochrome1_is_inverse_of_monochrome2_original():
    original = load_study(DICOM_DIR / "siim_acr_chest_pa.dcm")
    fake = load_study(DICOM_DIR / "txv_Fake_MONOHR1.dcm")
    assert not original.invert and fake.invert
    diff = np.abs(fake.pixels - (1.0 - original.pixels))
    assert diff.mean() < 2 / 255 and np.quantile(diff, 0.999) <= 4 / 255  # decoder tolerance, lossy JPEG


def test_file_window_is_used_when_present():
    study = load_study(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm")
    ds = pydicom.dcmread(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm", stop_before_pixels=True)
    assert study.metadata["window_source"] == "file"
    assert study.default_window == (float(ds.WindowCenter), float(ds.WindowWidth))
    # re-rendering at the file's window reproduces what was loaded
    assert np.allclose(study.render(*study.default_window), study.pixels, atol=2e-3)


def test_automatic_window_when_file_has_none():
    study = load_study(DICOM_DIR / "siim_acr_chest_pa.dcm")
    assert study.metadata["window_source"] == "automatic"
    clipped = np.mean((study.pixels <= 0.0) | (study.pixels >= 1.0))
    assert clipped < 0.02  # robust percentile window clips about 1% of pixels


def test_lossless_and_lossy_jpeg2000_agree():
    lossless = load_study(DICOM_DIR / "RG3_J2KR.dcm").pixels
    lossy = load_study(DICOM_DIR / "RG3_J2KI.dcm").pixels
    assert np.abs(lossless - lossy).mean() < 0.01


def test_dicom_without_extension_is_recognised(tmp_path):
    target = tmp_path / "IMAGE0001"
    target.write_bytes((DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").read_bytes())
    assert load_study(target).metadata["format"] == "DICOM"
