"""DICOM pixel pipeline: modality LUT -> VOI LUT / window -> MONOCHROME1 inversion, via pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import NotAnImageError, StudyError, UnreadableStudyError, UnsupportedStudyError
from .study import MAX_PIXELS, Study
from .windowing import apply_window, auto_window

# Keys copied into Study.metadata (keyword -> metadata name); strings only, for the banner and worklist.
METADATA_TAGS = {
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "patient_birth_date",
    "PatientAge": "patient_age",
    "PatientSex": "patient_sex",
    "StudyDate": "study_date",
    "SeriesDate": "series_date",
    "AcquisitionDate": "acquisition_date",
    "ContentDate": "content_date",
    "StudyDescription": "study_description",
    "SeriesDescription": "series_description",
    "Modality": "modality",
    "BodyPartExamined": "body_part",
    "ViewPosition": "view_position",
    "PatientOrientation": "patient_orientation",
    "PresentationIntentType": "presentation_intent",
    "ImageType": "image_type",
    "Manufacturer": "manufacturer",
    "InstitutionName": "institution",
    "AccessionNumber": "accession_number",
    "PhotometricInterpretation": "photometric",
    "BitsStored": "bits_stored",
}


def load_dicom(path: Path) -> Study:
    """Read a DICOM file; any failure becomes a StudyError (pydicom parses lazily, so a damaged element
    can raise almost anything when first touched: NotImplementedError, struct/zlib errors, ...)."""
    try:
        return _load_dicom(path)
    except (StudyError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001
        detail = f"{type(exc).__name__}: {exc}"
        detail = detail if len(detail) <= 300 else detail[:300] + "…"
        raise UnreadableStudyError(f"{path.name}: malformed DICOM file ({detail})") from exc


def _load_dicom(path: Path) -> Study:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UnreadableStudyError(f"{path.name}: not a readable DICOM file ({exc})") from exc
    metadata = _metadata(ds)
    metadata["format"] = "DICOM"
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        what = str(ds.get("SOPClassUID", "")) and getattr(ds.SOPClassUID, "name", str(ds.SOPClassUID))
        raise NotAnImageError(f"{path.name}: DICOM object without pixel data ({what or 'unknown SOP class'})")
    _check_geometry(ds, path)
    try:
        arr = ds.pixel_array
    except Exception as exc:  # pydicom/decoder plugins raise a wide variety of types on bad data
        tsyntax = getattr(ds.file_meta, "TransferSyntaxUID", "unknown") if hasattr(ds, "file_meta") else "unknown"
        tname = getattr(tsyntax, "name", str(tsyntax))
        raise UnreadableStudyError(
            f"{path.name}: pixel data could not be decoded (transfer syntax {tname}): {exc}"
        ) from exc

    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if samples > 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        # Colour DICOM (secondary capture, photos): show luminance, flag it for the input checks.
        rgb = _as_rgb(ds, arr)
        gray = (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
        metadata["is_colour"] = True
        return Study(
            path=path,
            pixels=np.clip(gray / 255.0, 0, 1),
            metadata=metadata,
            raw=gray,
            default_window=(127.5, 255.0),
            invert=False,
        )

    raw = apply_modality_lut(arr, ds).astype(np.float32)
    invert = photometric == "MONOCHROME1"
    has_voi = "VOILUTSequence" in ds or ("WindowCenter" in ds and "WindowWidth" in ds)
    window = None
    if has_voi and _valid_window(ds):
        voi = np.asarray(apply_voi_lut(raw, ds, index=0), dtype=np.float32)
        lo, hi = _voi_output_range(voi, raw, ds, apply_voi_lut)
        pixels = np.clip((voi - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(voi)
        if "WindowCenter" in ds and "VOILUTSequence" not in ds:
            window = (_first(ds.WindowCenter), _first(ds.WindowWidth))
        metadata["window_source"] = "file"
    else:
        window = auto_window(raw)
        pixels = apply_window(raw, *window)
        metadata["window_source"] = "automatic"
    if invert:
        pixels = 1.0 - pixels
    metadata["is_colour"] = False
    return Study(
        path=path,
        pixels=pixels.astype(np.float32),
        metadata=metadata,
        raw=raw,
        default_window=window or auto_window(raw),
        invert=invert,
    )


def _check_geometry(ds, path: Path) -> None:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnreadableStudyError(f"{path.name}: DICOM image without valid Rows/Columns") from exc
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError) as exc:
        raise UnreadableStudyError(f"{path.name}: invalid Number of Frames ({exc})") from exc
    if rows <= 0 or cols <= 0:
        raise UnsupportedStudyError(f"{path.name}: the image has no pixels ({rows}x{cols})")
    if rows * cols > MAX_PIXELS:
        raise UnsupportedStudyError(
            f"{path.name}: {cols}x{rows} pixels is larger than this viewer accepts ({MAX_PIXELS:,} pixels)"
        )
    if frames > 1:
        raise UnsupportedStudyError(f"{path.name}: multi-frame DICOM ({frames} frames) is not supported")
    encoded = _encoded_frame_size(ds)
    if encoded is not None and encoded[0] * encoded[1] > rows * cols:
        # Decoders size their output from the codestream, not from Rows/Columns: refuse before decoding.
        h, w = encoded
        if h * w > MAX_PIXELS:
            raise UnsupportedStudyError(
                f"{path.name}: the compressed image is {w}x{h} pixels, larger than this viewer accepts "
                f"({MAX_PIXELS:,} pixels)"
            )
        raise UnreadableStudyError(
            f"{path.name}: the compressed image is {w}x{h} pixels but the header says {cols}x{rows}"
        )


def _encoded_frame_size(ds) -> tuple[int, int] | None:
    """(rows, columns) declared inside the first compressed frame (JPEG, JPEG-LS, JPEG 2000), if found."""
    elem = ds.get("PixelData")
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        if elem is None or tsyntax is None or not tsyntax.is_compressed:
            return None
        from pydicom.encaps import generate_fragments

        fragments = generate_fragments(ds.PixelData)
        next(fragments)  # basic offset table
        head = bytes(next(fragments)[:65536])
    except Exception:  # noqa: BLE001 - malformed encapsulation: the decoder reports it
        return None
    return _codestream_size(head)


def _codestream_size(head: bytes) -> tuple[int, int] | None:
    import struct

    soc_siz = b"\xff\x4f\xff\x51"  # JPEG 2000 SOC + SIZ: a raw codestream, or one inside a JP2 file
    j2k = 0 if head.startswith(soc_siz) else head.find(soc_siz) if head[4:8] == b"jP  " else -1
    if j2k >= 0 and len(head) >= j2k + 24:
        x, y, x0, y0 = struct.unpack(">IIII", head[j2k + 8 : j2k + 24])
        return max(y - y0, 0), max(x - x0, 0)
    if not head.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 9 <= len(head):  # JPEG markers up to the first frame header
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:
            i += 2
            continue
        if (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7:  # SOFn, SOF55 (LS)
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return height, width
        i += 2 + struct.unpack(">H", head[i + 2 : i + 4])[0]
    return None


def _valid_window(ds) -> bool:
    if "VOILUTSequence" in ds:
        return True
    try:
        return _first(ds.WindowWidth) > 0
    except (TypeError, ValueError):
        return False


def _first(value) -> float:
    """Window Center/Width may be multi-valued: the file's first window is its default."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _voi_output_range(voi: np.ndarray, raw: np.ndarray, ds, apply_voi_lut) -> tuple[float, float]:
    """The VOI transform's output range: what it maps the darkest and brightest possible inputs to."""
    extremes = np.array([min(raw.min(), -1e7), max(raw.max(), 1e7)], dtype=np.float32)
    if "VOILUTSequence" in ds:
        lut = np.asarray(ds.VOILUTSequence[0].LUTData, dtype=np.float32)
        return float(lut.min()), float(lut.max())
    ends = np.asarray(apply_voi_lut(extremes, ds, index=0), dtype=np.float32)
    return float(ends.min()), float(ends.max())


def _as_rgb(ds, arr: np.ndarray) -> np.ndarray:
    from pydicom.pixels import convert_color_space

    arr = np.asarray(arr)
    photometric = str(ds.get("PhotometricInterpretation", "RGB")).upper()
    if photometric.startswith("YBR") and photometric != "YBR_FULL_422" or photometric == "YBR_FULL":
        arr = convert_color_space(arr, photometric, "RGB")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    arr = arr[..., :3].astype(np.float32)
    top = float(arr.max()) or 1.0
    return arr * (255.0 / top) if top > 255 else arr


def _metadata(ds) -> dict:
    meta: dict = {}
    for keyword, name in METADATA_TAGS.items():
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        if keyword == "ImageType":
            value = "\\".join(str(v) for v in value) if not isinstance(value, str) else value
        meta[name] = str(value)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if rows is not None and cols is not None:
        meta["rows"], meta["columns"] = int(rows), int(cols)
    return meta
