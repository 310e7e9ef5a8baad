"""Reading-room tools without Qt: calibration, pixel values, window presets, orientation markers, point mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from cxrviewer.core import load_study
from cxrviewer.core.display_tags import DisplayTags, read_display_tags
from cxrviewer.core.orientation_markers import Edges, file_edges, orientation_markers, oriented_edges
from cxrviewer.core.pixel_spacing import (
    calibration,
    distance,
    for_decoded_grid,
    format_length,
    pixel_value,
    scale_bar,
    screen_mm_per_pixel,
)
from cxrviewer.core.rendering import Orientation, display_pixels, orient, orient_point, unorient_point
from cxrviewer.core.window_presets import (
    ANATOMY,
    FILE_WINDOW,
    window_from_fractions,
    window_presets,
    window_to_fractions,
)

from .conftest import DICOM_DIR, NATIVE_DIR

ORIENTATIONS = [Orientation(r, h, v) for r in (0, 90, 180, 270) for h in (False, True) for v in (False, True)]


def write_dicom(path, pixels: np.ndarray, monochrome1: bool = False, **tags) -> None:
    """A small CR file with the given attributes (keyword=value), pixels stored as 16-bit unsigned."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.1")
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "CR", "P1"
    ds.StudyInstanceUID = generate_uid()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def ramp(h=60, w=80) -> np.ndarray:
    return (np.arange(h * w).reshape(h, w) % 4096).astype(np.uint16)


# -- calibration ----------------------------------------------------------------------------------------------


def test_pixel_spacing_of_a_real_cr_film_measures_in_mm():
    study = load_study(DICOM_DIR / "siim_acr_chest_pa.dcm")
    cal = calibration(read_display_tags(study))
    assert cal.calibrated and cal.source == "Pixel Spacing" and (cal.row_mm, cal.col_mm) == (0.168, 0.168)
    value, unit = distance(cal, (0, 0), (300, 400))  # a 3-4-5 triangle: 500 px
    assert unit == "mm" and value == pytest.approx(500 * 0.168)
    assert format_length(value, unit) == "84.0 mm" and format_length(123.4, "mm") == "12.3 cm"


def test_zero_pixel_spacing_is_uncalibrated_and_says_why():
    cal = calibration(read_display_tags(load_study(DICOM_DIR / "RG1_J2KI.dcm")))  # stores 0\0
    assert not cal.calibrated
    assert cal.source.startswith("uncalibrated (pixels") and "Pixel Spacing" in cal.source and "ignored" in cal.source
    assert distance(cal, (0, 0), (30, 40)) == (50.0, "px")


def test_imager_pixel_spacing_without_magnification_is_flagged_at_the_detector():
    cal = calibration(read_display_tags(load_study(DICOM_DIR / "pydicom_wheel_CR1_6154.dcm")))
    assert cal.calibrated and cal.row_mm == pytest.approx(0.1)
    assert "Imager Pixel Spacing" in cal.source and "not corrected" in cal.source


def test_imager_spacing_is_corrected_by_the_magnification_factor(tmp_path):
    path = tmp_path / "dx.dcm"
    write_dicom(path, ramp(), ImagerPixelSpacing=[0.2, 0.15], EstimatedRadiographicMagnificationFactor=1.25)
    cal = calibration(read_display_tags(load_study(path)))
    assert cal.row_mm == pytest.approx(0.16) and cal.col_mm == pytest.approx(0.12)
    assert "magnification 1.25" in cal.source
    # anisotropic: 10 rows and 10 columns are not the same length
    assert distance(cal, (0, 0), (10, 0))[0] == pytest.approx(1.6)
    assert distance(cal, (0, 0), (0, 10))[0] == pytest.approx(1.2)


def test_pixel_spacing_copied_from_imager_spacing_is_not_taken_as_calibrated(tmp_path):
    path = tmp_path / "copy.dcm"
    write_dicom(path, ramp(), ImagerPixelSpacing=[0.2, 0.2], PixelSpacing=[0.2, 0.2])
    assert "at the detector" in calibration(read_display_tags(load_study(path))).source
    write_dicom(path, ramp(), ImagerPixelSpacing=[0.2, 0.2], PixelSpacing=[0.18, 0.18])
    cal = calibration(read_display_tags(load_study(path)))
    assert cal.source == "Pixel Spacing" and cal.row_mm == pytest.approx(0.18)


def test_a_reduced_decode_measures_the_same_lengths():
    """The scoring path may decode a film at a fraction of its size; lengths in mm must not change."""
    full = load_study(DICOM_DIR / "siim_acr_chest_pa.dcm")
    reduced = load_study(DICOM_DIR / "siim_acr_chest_pa.dcm", min_side=512)
    assert reduced.shape[0] < full.shape[0] and reduced.file_shape == full.shape
    cal_full = calibration(read_display_tags(full))
    cal_reduced = for_decoded_grid(cal_full, reduced.file_shape, reduced.shape)
    k = full.shape[0] / reduced.shape[0]
    assert distance(cal_reduced, (0, 0), (100, 100))[0] == pytest.approx(
        distance(cal_full, (0, 0), (100 * k, 100 * k))[0]
    )


def test_bitmaps_are_uncalibrated():
    study = load_study(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg")
    assert read_display_tags(study) == DisplayTags()
    assert calibration(DisplayTags()).source == "uncalibrated (pixels)"


def test_scale_bar_picks_a_round_length_that_fits():
    for mm_per_px, room in ((0.42, 250), (0.1, 250), (3.7, 120), (0.0123, 300)):
        length, px = scale_bar(mm_per_px, room)
        mantissa = length / 10 ** math.floor(math.log10(length))
        assert round(mantissa, 6) in (1.0, 2.0, 5.0)
        assert px <= room and px > room / 2.5  # the next 1-2-5 step would not fit
        assert px * mm_per_px == pytest.approx(length)
    cal = calibration(DisplayTags(pixel_spacing=(0.2, 0.1)))
    assert screen_mm_per_pixel(cal, 0, 0.5) == pytest.approx(0.2)  # columns across the screen
    assert screen_mm_per_pixel(cal, 90, 0.5) == pytest.approx(0.4)  # after a quarter turn, rows


# -- pixel values ---------------------------------------------------------------------------------------------


def test_pixel_value_reports_stored_and_rescaled_values(tmp_path):
    pixels = ramp()
    path = tmp_path / "rescaled.dcm"
    write_dicom(path, pixels, RescaleSlope="0.5", RescaleIntercept="-100", RescaleType="US")
    study = load_study(path)
    tags = read_display_tags(study)
    value = pixel_value(study, tags, 7, 11)
    assert value is not None
    assert value.stored == pixels[7, 11] and value.modality == pytest.approx(pixels[7, 11] * 0.5 - 100)
    assert "stored" in value.text() and "US" in value.text()
    assert pixel_value(study, tags, 60, 0) is None  # outside


def test_pixel_value_of_the_real_rescaled_cr_matches_pydicom():
    import pydicom

    path = DICOM_DIR / "pydicom_wheel_CR1_6154.dcm"
    stored = pydicom.dcmread(path).pixel_array
    study = load_study(path)
    tags = read_display_tags(study)
    value = pixel_value(study, tags, 5, 9)
    assert value is not None and value.stored == stored[5, 9]
    assert value.modality == pytest.approx(stored[5, 9] * 0.684 + 200, abs=1e-3)


def test_pixel_value_of_a_jpeg_is_its_grey_level():
    from PIL import Image

    path = NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"
    grey = np.asarray(Image.open(path).convert("L"))
    study = load_study(path)
    value = pixel_value(study, read_display_tags(study), 100, 200)
    assert value is not None and value.stored == grey[100, 200] and value.text() == f"value {grey[100, 200]}"


# -- window presets -------------------------------------------------------------------------------------------


def test_file_windows_are_offered_by_their_explanations(tmp_path):
    path = tmp_path / "windows.dcm"
    write_dicom(
        path,
        ramp(),
        WindowCenter=["2048", "1000"],
        WindowWidth=["4096", "800"],
        WindowCenterWidthExplanation=["STANDARD", "LUNG DETAIL"],
    )
    presets = window_presets(load_study(path), read_display_tags(load_study(path)))
    files = [p for p in presets if p.kind == FILE_WINDOW]
    assert [p.window for p in files] == [(2048.0, 4096.0), (1000.0, 800.0)]
    assert files[0].name.startswith("STANDARD") and files[1].name.startswith("LUNG DETAIL")
    assert presets[0].window is None  # the file's own view first


def test_anatomy_presets_look_the_same_on_monochrome1_and_monochrome2(tmp_path):
    """The same film stored both ways: every preset gives the same picture."""
    pixels = (np.random.default_rng(0).random((64, 64)) * 4000).astype(np.uint16)
    write_dicom(tmp_path / "m2.dcm", pixels)
    write_dicom(tmp_path / "m1.dcm", 4095 - pixels, monochrome1=True)
    m2, m1 = load_study(tmp_path / "m2.dcm"), load_study(tmp_path / "m1.dcm")
    p2 = [p for p in window_presets(m2, read_display_tags(m2)) if p.kind == ANATOMY]
    p1 = [p for p in window_presets(m1, read_display_tags(m1)) if p.kind == ANATOMY]
    assert [p.name for p in p2] == ["Lung", "Soft tissue", "Bone"]
    for a, b in zip(p2, p1):
        assert np.allclose(display_pixels(m2, a.window), display_pixels(m1, b.window), atol=0.02)
    # lung darkens less of the film than bone does: bone spends its contrast on the bright end
    lung, bone = (display_pixels(m2, p.window).mean() for p in (p2[0], p2[2]))
    assert lung > bone


def test_window_fractions_round_trip_on_real_films():
    for name in ("gdcm-CR-MONO1-10-chest.dcm", "siim_acr_chest_pa.dcm", "pydicom_wheel_CR1_6154.dcm"):
        study = load_study(DICOM_DIR / name)
        window = window_from_fractions(study, 0.4, 0.6)
        assert window_to_fractions(study, window) == pytest.approx((0.4, 0.6))
        shown = display_pixels(study, window)
        assert 0.05 < shown.mean() < 0.95  # a picture, not a black or white page


# -- orientation ----------------------------------------------------------------------------------------------


def test_patient_orientation_gives_the_four_edges():
    assert file_edges("L\\F") == Edges(top="H", right="L", bottom="F", left="R")
    assert file_edges("P\\FL") == Edges(top="HR", right="P", bottom="FL", left="A")
    for bad in ("", "L", "L\\F\\A", "X\\F", "Cr\\F"):
        assert file_edges(bad) is None


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_markers_move_exactly_like_the_pixels(orientation):
    """Paint each edge's letter into a strip of a synthetic film, orient the film, read the strips back."""
    h, w = 30, 50
    codes = {"H": 1, "L": 2, "F": 3, "R": 4}
    film = np.zeros((h, w))
    film[:3, 10:-10], film[10:-10, -3:], film[-3:, 10:-10], film[10:-10, :3] = 1, 2, 3, 4  # top right bottom left
    shown = orient(film, orientation)
    seen = [shown[:3, 10:-10].max(), shown[10:-10, -3:].max(), shown[-3:, 10:-10].max(), shown[10:-10, :3].max()]
    stored = file_edges("L\\F")
    assert stored is not None
    edges = oriented_edges(stored, orientation)
    assert [codes[e] for e in (edges.top, edges.right, edges.bottom, edges.left)] == seen


def test_markers_from_real_files_and_never_for_bitmaps():
    rg1 = load_study(DICOM_DIR / "RG1_J2KI.dcm")  # Patient Orientation L\F, PA
    m = orientation_markers(rg1.metadata, Orientation())
    assert m.edges == Edges("H", "L", "F", "R") and m.view == "PA" and m.note == ""
    assert orientation_markers(rg1.metadata, Orientation(90)).edges == Edges("R", "H", "L", "F")
    gdcm = orientation_markers(load_study(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").metadata, Orientation())
    assert gdcm.edges is None and gdcm.view == "PA" and "not recorded" in gdcm.note  # no Patient Orientation
    jpeg = orientation_markers(load_study(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg").metadata, Orientation())
    assert jpeg.edges is None and jpeg.view == "" and jpeg.note == ""


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_points_follow_the_pixels(orientation):
    """orient_point sends the centre of pixel (r, c) to the centre of the pixel orient() moved it to."""
    h, w = 7, 11
    film = np.arange(h * w).reshape(h, w)
    shown = orient(film, orientation)
    for r, c in ((0, 0), (2, 9), (6, 3)):
        x, y = orient_point((c + 0.5, r + 0.5), (h, w), orientation)
        assert shown[int(y), int(x)] == film[r, c]
        assert unorient_point((x, y), (h, w), orientation) == pytest.approx((c + 0.5, r + 0.5))
