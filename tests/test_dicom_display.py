"""What the loader shows for DICOMs written by other projects, against pydicom's reference pipeline
(apply_modality_lut -> apply_voi_lut -> apply_presentation_lut; apply_color_lut; convert_color_space).

One test (or a few) per root cause of the survey of 496 public test files; pydicom's own test files come
with pydicom, the larger ones with pydicom-data (tests needing those are skipped without it).
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.pixels import (
    apply_color_lut,
    apply_modality_lut,
    apply_presentation_lut,
    apply_voi_lut,
    convert_color_space,
    pixel_array,
)
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cxrviewer.core import StudyError, UnreadableStudyError, UnsupportedStudyError, load_study
from cxrviewer.core.sniff import DICOM_RAW, JPEG, is_dicom_content, looks_like_study, sniff_file
from cxrviewer.core.windowing import auto_window

from .conftest import DICOM_DIR, NATIVE_DIR

CHEST = DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"  # Fuji CR chest, MONOCHROME1, 10 bits, window 550/1024
LUMA = np.array([0.299, 0.587, 0.114])


def pydicom_file(name: str) -> str:
    """A pydicom test file, never downloaded (pydicom-data ships its files inside the package)."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} needs the pydicom-data package")
    return path


def reference_grey(ds, index=None) -> np.ndarray:
    """pydicom's reference display values (larger = brighter), before scaling to [0, 1]."""
    arr = pixel_array(ds, index=index)
    out = apply_voi_lut(apply_modality_lut(arr, ds), ds, index=0)
    out = np.asarray(apply_presentation_lut(out, ds), dtype=np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1" and "PresentationLUTShape" not in ds:
        out = out.max() - out
    return out


def assert_affine(shown: np.ndarray, reference: np.ndarray, tol: float = 1e-4) -> None:
    """``shown`` is an increasing affine image of ``reference`` (same pipeline, display scaling aside)."""
    x, y = reference.ravel().astype(np.float64), shown.ravel().astype(np.float64)
    a, b = np.polyfit(x, y, 1)
    assert a > 0, "shown inverted with respect to pydicom's reference"
    assert np.abs(y - (a * x + b)).max() < tol


def reference_luma(rgb: np.ndarray, top: float) -> np.ndarray:
    return (rgb.astype(np.float64) / top) @ LUMA


def save(ds: Dataset, path) -> None:
    ds.save_as(path, enforce_file_format=True)


def chest_8bit() -> np.ndarray:
    """A real chest film as 8-bit grey levels (the trainer's JPEG, decoded)."""
    with Image.open(next((NATIVE_DIR / "NORMAL").glob("*.jpeg"))) as img:
        return np.asarray(img.convert("L"))


def grey_dicom(pixels: np.ndarray, bits: int | None = None, signed: bool = False, **attrs) -> Dataset:
    """A minimal secondary-capture MONOCHROME2 DICOM holding ``pixels`` uncompressed."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.PatientID = "TEST"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    for key, value in attrs.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


# --- 1. no file meta: raw dataset, implicit VR little endian, found by content ------------------------------


def raw_dataset_bytes(ds: Dataset, implicit: bool = True, little: bool = True) -> bytes:
    """``ds`` as it sits in a legacy export: no preamble, no DICM, no file meta."""
    buf = DicomBytesIO()
    buf.is_implicit_VR, buf.is_little_endian = implicit, little
    plain = Dataset()
    plain.update(ds)
    write_dataset(buf, plain)
    return buf.getvalue()


def test_1_dataset_without_file_meta_loads_like_its_part10_original(tmp_path):
    original = load_study(CHEST)
    target = tmp_path / "CHEST0001"  # no suffix, as on a legacy CR export
    target.write_bytes(raw_dataset_bytes(pydicom.dcmread(CHEST)))
    assert sniff_file(target) == DICOM_RAW and is_dicom_content(target) and looks_like_study(target)
    study = load_study(target)
    assert study.metadata["format"] == "DICOM"
    assert np.array_equal(study.pixels, original.pixels)
    assert study.invert and study.default_window == original.default_window
    assert "Implicit VR Little Endian" in study.metadata["transfer_syntax"]
    assert "no file meta" in study.metadata["dicom_notes"]


def test_1_explicit_vr_raw_dataset_and_pydicom_no_meta_file(tmp_path):
    target = tmp_path / "IMG00002"
    target.write_bytes(raw_dataset_bytes(pydicom.dcmread(CHEST), implicit=False))
    assert np.array_equal(load_study(target).pixels, load_study(CHEST).pixels)
    # pydicom's own file without file meta (palette colour, implicit VR little endian)
    path = pydicom_file("OT-PAL-8-face.dcm")
    ds = pydicom.dcmread(path, force=True)
    assert "TransferSyntaxUID" not in ds.file_meta
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    top = 2 ** int(ds.RedPaletteColorLookupTableDescriptor[2]) - 1
    expected = reference_luma(apply_color_lut(ds.pixel_array, ds), top)
    assert np.abs(load_study(path).pixels - expected).max() < 1e-5


# --- 2. 8-bit films without a window are shown as stored --------------------------------------------------


def test_2_eight_bit_film_without_window_matches_the_same_pixels_as_jpeg(tmp_path):
    grey = chest_8bit()
    jpeg = tmp_path / "film.png"  # lossless, so the two files hold exactly the same grey levels
    Image.fromarray(grey).save(jpeg)
    dicom = tmp_path / "film.dcm"
    save(grey_dicom(grey), dicom)
    as_dicom, as_bitmap = load_study(dicom), load_study(jpeg)
    assert np.array_equal(as_dicom.pixels, as_bitmap.pixels)
    assert as_dicom.metadata["window_source"] == "automatic" and as_dicom.metadata["window_policy"] == "as stored"
    assert np.allclose(as_dicom.render(*as_dicom.default_window), as_dicom.pixels, atol=1e-6)


def test_2_deeper_film_without_window_gets_the_percentile_window(tmp_path):
    grey = chest_8bit().astype(np.uint16) * 4  # 10 bits stored
    path = tmp_path / "film10.dcm"
    save(grey_dicom(grey, bits=10), path)
    study = load_study(path)
    assert study.metadata["window_policy"] == "percentile"
    assert study.default_window == pytest.approx(auto_window(grey.astype(np.float32)))


# --- 3. pixel padding is left out of the automatic window --------------------------------------------------


@pytest.mark.parametrize("range_limit", [None, -1500])
def test_3_pixel_padding_is_excluded_from_the_automatic_window(tmp_path, range_limit):
    rng = np.random.default_rng(3)
    body = rng.normal(40, 300, (128, 128)).clip(-1000, 3000).astype(np.int16)
    pixels = body.copy()
    pixels[:, :48] = -2000 if range_limit is None else rng.integers(-2000, -1500, (128, 48))  # outside the FOV
    attrs = {"PixelPaddingValue": -2000, "RescaleSlope": 1, "RescaleIntercept": 0}
    if range_limit is not None:
        attrs["PixelPaddingRangeLimit"] = range_limit
    path = tmp_path / "padded.dcm"
    save(grey_dicom(pixels, bits=16, signed=True, **attrs), path)
    study = load_study(path)
    assert study.default_window == pytest.approx(auto_window(body[:, 48:].astype(np.float32)))
    assert study.metadata["padding_pixels"] == 128 * 48
    assert (study.pixels[:, :48] == 0).all()  # padding shown black, the body keeps its contrast
    # pydicom's CT_small carries Pixel Padding Value too
    ct = load_study(pydicom_file("CT_small.dcm"))
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    raw = apply_modality_lut(ds.pixel_array, ds).astype(np.float32)
    keep = ds.pixel_array != int(ds.PixelPaddingValue)
    assert ct.default_window == pytest.approx(auto_window(raw, exclude=~keep))


# --- 4. Presentation LUT Shape INVERSE -------------------------------------------------------------------


def test_4_inverse_presentation_lut_on_monochrome2_is_applied(tmp_path):
    path = pydicom_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    ds.PresentationLUTShape = "INVERSE"
    inverse = tmp_path / "inverse.dcm"
    save(ds, inverse)
    study, plain = load_study(inverse), load_study(path)
    assert study.invert and not plain.invert
    assert np.allclose(study.pixels, 1.0 - plain.pixels, atol=1e-6)
    assert_affine(study.pixels, reference_grey(ds))
    assert np.allclose(study.render(*study.default_window), 1.0 - plain.render(*plain.default_window))


def test_4_monochrome1_with_inverse_is_inverted_once():
    ds = pydicom.dcmread(CHEST)
    ds.PresentationLUTShape = "INVERSE"  # what the DX IOD requires for MONOCHROME1: the same inversion
    buf = DicomBytesIO()
    ds.save_as(buf)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "dx.dcm"
        p.write_bytes(buf.getvalue())
        assert np.array_equal(load_study(p).pixels, load_study(CHEST).pixels)


# --- 5. YBR_FULL converted once ---------------------------------------------------------------------------


def test_5_grey_film_stored_as_ybr_full_is_not_distorted(tmp_path):
    grey = chest_8bit()
    ybr = np.stack([grey, np.full_like(grey, 128), np.full_like(grey, 128)], axis=-1)
    ds = grey_dicom(grey)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = ybr.tobytes()
    path = tmp_path / "ybr.dcm"
    save(ds, path)
    study = load_study(path)
    assert np.abs(study.pixels * 255 - grey).max() <= 1.0  # one grey level of YCbCr rounding
    assert study.metadata["is_colour"] is False


def test_5_ybr_full_colour_matches_convert_color_space():
    path = pydicom_file("SC_ybr_full_uncompressed.dcm")
    ds = pydicom.dcmread(path)
    rgb = convert_color_space(pixel_array(ds, raw=True), "YBR_FULL", "RGB")
    assert np.abs(load_study(path).pixels - reference_luma(rgb, 255.0)).max() < 1e-5
    same_as_rgb = load_study(pydicom_file("SC_rgb.dcm")).pixels
    assert np.abs(load_study(path).pixels - same_as_rgb).mean() < 2 / 255


# --- 6. unusable LUTs are ignored, not fatal ----------------------------------------------------------------


def test_6_empty_modality_lut_item_is_ignored(tmp_path):
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.ModalityLUTSequence = [Dataset()]
    path = tmp_path / "empty-mlut.dcm"
    save(ds, path)
    study = load_study(path)
    assert np.array_equal(study.pixels, load_study(pydicom_file("MR_small.dcm")).pixels)
    assert "Modality LUT ignored" in study.metadata["dicom_notes"]


def test_6_empty_voi_item_falls_back_to_the_window(tmp_path):
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    ds.VOILUTSequence = [Dataset()]
    path = tmp_path / "empty-voi.dcm"
    save(ds, path)
    study = load_study(path)
    assert study.metadata["window_source"] == "file"
    assert np.array_equal(study.pixels, load_study(pydicom_file("MR_small.dcm")).pixels)


def test_6_window_width_below_one_is_ignored(tmp_path):
    ds = pydicom.dcmread(CHEST)
    ds.WindowWidth = 0.5
    path = tmp_path / "narrow.dcm"
    save(ds, path)
    study = load_study(path)
    assert study.metadata["window_source"] == "automatic"
    assert "unusable window ignored" in study.metadata["dicom_notes"]


def test_6_valid_luts_match_pydicom():
    for name in ("mlut_18.dcm", "vlut_04.dcm"):  # modality LUT; VOI LUT
        path = pydicom_file(name)
        ds = pydicom.dcmread(path)
        study = load_study(path)
        if "VOILUTSequence" in ds:
            assert_affine(study.pixels, reference_grey(ds))
        else:
            raw = apply_modality_lut(ds.pixel_array, ds)
            assert np.array_equal(study.raw, raw.astype(np.float32))


# --- 7. JPEG 2000 colour and palette colour -----------------------------------------------------------------


def test_7_jpeg2000_ybr_rct_and_ict_are_shown():
    lossless, original = load_study(pydicom_file("US1_J2KR.dcm")), load_study(pydicom_file("US1_UNCR.dcm"))
    assert np.array_equal(lossless.pixels, original.pixels)  # YBR_RCT is lossless: same picture as RGB
    lossy = load_study(pydicom_file("US1_J2KI.dcm"))
    assert np.abs(lossy.pixels - original.pixels).mean() < 2 / 255
    ds = pydicom.dcmread(pydicom_file("US1_J2KI.dcm"))
    assert np.abs(lossy.pixels - reference_luma(ds.pixel_array, 255.0)).max() < 1e-5  # decoder returns RGB
    assert lossy.metadata["is_colour"] is True


@pytest.mark.parametrize("name", ["examples_palette.dcm", "OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm"])
def test_7_palette_colour_goes_through_its_palette(name):
    path = pydicom_file(name)
    ds = pydicom.dcmread(path)
    rgb = apply_color_lut(ds.pixel_array, ds)
    top = 2 ** int(ds.RedPaletteColorLookupTableDescriptor[2]) - 1
    study = load_study(path)
    assert np.abs(study.pixels - reference_luma(rgb, top)).max() < 1e-5
    raw_indices = ds.pixel_array.astype(np.float64) / ds.pixel_array.max()
    assert np.abs(study.pixels - raw_indices).mean() > 0.01  # not the indices


# --- 8. multi-frame grayscale: one frame, the count in metadata --------------------------------------------


def test_8_multiframe_shows_frame_one_and_any_frame_on_request():
    path = pydicom_file("emri_small.dcm")
    ds = pydicom.dcmread(path)
    first = load_study(path)
    assert first.metadata["frames"] == 10 and first.metadata["frame"] == 0
    assert first.pixels.shape == (ds.Rows, ds.Columns)
    assert np.array_equal(first.raw, apply_modality_lut(pixel_array(ds, index=0), ds).astype(np.float32))
    fourth = load_study(path, frame=3)
    assert np.array_equal(fourth.raw, pixel_array(ds, index=3).astype(np.float32))
    assert not np.array_equal(fourth.raw, first.raw)
    with pytest.raises(UnsupportedStudyError, match="frame 11"):
        load_study(path, frame=10)


def test_8_enhanced_multiframe_uses_each_frames_own_window(tmp_path):
    frames = np.stack([chest_8bit().astype(np.uint16) * 16 + k for k in range(3)])  # 12 bits
    ds = grey_dicom(frames, bits=12, NumberOfFrames=3, SOPClassUID="1.2.840.10008.5.1.4.1.1.13.1.3")
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID  # Breast Tomosynthesis: multi-frame by design
    windows = [(2048.0, 4096.0), (1000.0, 800.0), (3000.0, 1500.0)]
    per_frame = []
    for centre, width in windows:
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = centre, width
        group = Dataset()
        group.FrameVOILUTSequence = [voi]
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    path = tmp_path / "tomo.dcm"
    save(ds, path)
    for k, window in enumerate(windows):
        study = load_study(path, frame=k)
        assert study.default_window == window and study.metadata["window_source"] == "file"
        flat = grey_dicom(frames[k], bits=12, WindowCenter=window[0], WindowWidth=window[1])
        assert_affine(study.pixels, reference_grey(flat))


# --- 9. content, not suffix; one-line messages ---------------------------------------------------------------


def test_9_jpeg_named_dcm_and_dicom_named_jpg(tmp_path):
    src = next((NATIVE_DIR / "NORMAL").glob("*.jpeg"))
    fake = tmp_path / "film.dcm"
    fake.write_bytes(src.read_bytes())
    assert sniff_file(fake) == JPEG
    assert np.array_equal(load_study(fake).pixels, load_study(src).pixels)
    dicom = tmp_path / "film.jpg"
    dicom.write_bytes(CHEST.read_bytes())
    assert load_study(dicom).metadata["format"] == "DICOM"


def test_9_random_bytes_named_dcm_are_not_called_a_dicom_object(tmp_path):
    p = tmp_path / "random.dcm"
    p.write_bytes(np.random.default_rng(9).bytes(3000))
    with pytest.raises(UnreadableStudyError) as info:
        load_study(p)
    assert "not a DICOM file" in str(info.value) and "pixel data" not in str(info.value)
    text = tmp_path / "notes"
    text.write_text("plain text\n")
    assert sniff_file(text) is None and not looks_like_study(text)


@pytest.mark.parametrize("name", ["JPEG-lossy.dcm", "MR_truncated.dcm", "JPEG2000-embedded-sequence-delimiter.dcm"])
def test_9_refusals_are_one_line(name):
    with pytest.raises(StudyError) as info:
        load_study(pydicom_file(name))
    message = str(info.value)
    assert "\n" not in message and len(message) <= 400
    assert message.startswith(name) and ";" in message  # what is wrong; what the user can do


def test_9_decoder_failure_names_the_plugins_on_one_line(tmp_path):
    ds = pydicom.dcmread(DICOM_DIR / "siim_acr_chest_pa.dcm")
    from pydicom.encaps import encapsulate, generate_frames

    stream = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    stream[len(stream) // 2 : len(stream) // 2 + 400] = b"\xff" * 400  # damage the entropy-coded data
    ds.PixelData = encapsulate([bytes(stream)])
    path = tmp_path / "damaged.dcm"
    save(ds, path)
    try:
        load_study(path)
    except StudyError as exc:
        assert "\n" not in str(exc)
