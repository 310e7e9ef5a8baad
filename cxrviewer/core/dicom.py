"""DICOM pixel pipeline, via pydicom: modality LUT -> VOI LUT / window -> presentation (MONOCHROME1, INVERSE).

What is shown (see docs/dicom.md):

* grayscale: the modality transform (Modality LUT Sequence, else Rescale Slope/Intercept, from the file or
  from the frame's functional groups), then the file's first usable VOI (VOI LUT Sequence, else Window
  Center/Width). Without any usable VOI, unsigned data of 8 bits stored or fewer is shown as stored (as the
  model's training JPEGs were) and deeper data gets the automatic 0.5-99.5 % window with Pixel Padding
  excluded. MONOCHROME1 or Presentation LUT Shape INVERSE: shown inverted (once).
* colour (RGB, YBR_* already converted to RGB by pydicom or by the JPEG 2000 decoder, PALETTE COLOR through
  its palette): ITU-R 601 luminance, as for colour PNG/JPEG files, flagged when it really carries colour.
* multi-frame: one frame (``frame``, 0-based; frame 0 by default) with ``metadata['frames']`` the count.

An unusable LUT item or window (empty item, width < 1, non-finite numbers) is ignored and noted in
``metadata['dicom_notes']``, never fatal. Every refusal is a one-line :class:`StudyError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dicom_display import EXPORT_AGAIN, _colour_study, _grey_study
from .errors import NotAnImageError, StudyError, UnreadableStudyError, UnsupportedStudyError, one_line
from .reduced_decode import decode_dicom_reduced
from .study import MAX_PIXELS, Study

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
    "ImageLaterality": "image_laterality",
    "PresentationIntentType": "presentation_intent",
    "ImageType": "image_type",
    "Manufacturer": "manufacturer",
    "InstitutionName": "institution",
    "AccessionNumber": "accession_number",
    "PhotometricInterpretation": "photometric",
    "BitsStored": "bits_stored",
    "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid",
    "SOPInstanceUID": "sop_instance_uid",
    "SOPClassUID": "sop_class_uid",
}

# Single-frame IODs by definition (PS3.3 A.2, A.26-A.28: no Multi-frame Module): one exposure per object. A
# "multi-frame" CR/DX/MG/IO object contradicts its own class, so no frame of it can be trusted to be the film.
SINGLE_FRAME_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1": "CR",
    "1.2.840.10008.5.1.4.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DX",
    "1.2.840.10008.5.1.4.1.1.1.2": "MG",
    "1.2.840.10008.5.1.4.1.1.1.2.1": "MG",
    "1.2.840.10008.5.1.4.1.1.1.3": "IO",
    "1.2.840.10008.5.1.4.1.1.1.3.1": "IO",
}
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def load_dicom(path: Path, frame: int = 0, min_side: int | None = None) -> Study:
    """Read a DICOM file; any failure becomes a one-line StudyError (pydicom parses lazily, so a damaged
    element can raise almost anything when first touched: NotImplementedError, struct/zlib errors, ...).

    ``min_side``: for scoring only, decode JPEG / JPEG 2000 pixel data at a reduced scale that keeps the
    shorter side at least this long (core/reduced_decode.py); ``metadata['decode_scale']`` says the factor."""
    try:
        return _load_dicom(Path(path), frame, min_side)
    except MemoryError:
        raise
    except StudyError as exc:
        raise type(exc)(one_line(str(exc))) from exc
    except Exception as exc:  # noqa: BLE001
        raise UnreadableStudyError(
            f"{Path(path).name}: damaged DICOM file ({short_reason(exc)}); {EXPORT_AGAIN}"
        ) from exc


# --- messages ----------------------------------------------------------------------------------------------


def short_reason(exc: BaseException, limit: int = 120) -> str:
    """The gist of a library exception, on one line: for pydicom's "all plugins failed" dump, each plugin's
    own first line, joined."""
    text = str(exc).strip() or type(exc).__name__
    if "plugins:" in text:
        _, _, rest = text.partition("plugins:")
        parts = [line.strip() for line in rest.splitlines() if line.strip()]
        text = "; ".join(parts) if parts else text
    elif "\n" in text:
        text = text.splitlines()[0]
    text = one_line(text, 10_000)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- loading -----------------------------------------------------------------------------------------------


def _load_dicom(path: Path, frame: int, min_side: int | None = None) -> Study:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, force=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UnreadableStudyError(
            f"{path.name}: not a readable DICOM file ({short_reason(exc)}); {EXPORT_AGAIN}"
        ) from exc
    notes: list[str] = []
    metadata = _metadata(ds)
    metadata["format"] = "DICOM"
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise _no_pixels(ds, path)
    if "PixelData" not in ds:
        raise UnsupportedStudyError(f"{path.name}: floating-point pixel data (a parametric map) is not a film")
    tname = _ensure_transfer_syntax(ds, path, notes)
    metadata["transfer_syntax"] = tname
    _fill_legacy_pixel_module(ds, notes)
    frames = _check_geometry(ds, path)
    if not 0 <= frame < frames:
        raise UnsupportedStudyError(
            f"{path.name}: frame {frame + 1} was asked for, but the file has {frames} frame{'s' * (frames > 1)}"
        )
    metadata["frames"], metadata["frame"] = frames, frame
    reduced = decode_dicom_reduced(ds, min_side) if min_side and frames == 1 else None
    if reduced is not None:
        arr, metadata["decode_scale"] = reduced
    else:
        arr = _decode(ds, path, tname, frame if frames > 1 else None)

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples > 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        study = _colour_study(ds, arr, path, photometric, metadata)
    else:
        study = _grey_study(ds, arr, path, photometric, frame, metadata, notes)
    if notes:
        metadata["dicom_notes"] = "; ".join(notes)
    return study


def _no_pixels(ds, path: Path) -> StudyError:
    meta = getattr(ds, "file_meta", None)
    sop = str(ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta is not None else ""))
    if sop == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        return NotAnImageError(
            f"{path.name}: a DICOMDIR (the index of a CD or USB export), without pixel data: "
            "open its folder to see the studies it lists"
        )
    from pydicom.uid import UID

    what = UID(sop).name if sop else "unknown SOP class"
    return NotAnImageError(f"{path.name}: DICOM object without pixel data ({what}): there is no image to show")


def _ensure_transfer_syntax(ds, path: Path, notes: list[str]) -> str:
    """The transfer syntax's name; for a dataset without file meta (ACR-NEMA, legacy CR exports) it is the
    encoding pydicom found while parsing (``ds.original_encoding``)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    tsyntax = meta.get("TransferSyntaxUID")
    if tsyntax:
        return UID(str(tsyntax)).name or str(tsyntax)
    if ds["PixelData"].is_undefined_length:
        raise UnsupportedStudyError(
            f"{path.name}: compressed pixel data, but the file does not say how it is compressed "
            f"(no transfer syntax); {EXPORT_AGAIN}"
        )
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = True, True
    uid = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    meta.TransferSyntaxUID = uid
    notes.append(f"no file meta: read as {uid.name}")
    return str(uid.name)


def _fill_legacy_pixel_module(ds, notes: list[str]) -> None:
    """ACR-NEMA datasets may lack attributes that DICOM made mandatory: use their defaults (in memory only)."""
    if "SamplesPerPixel" not in ds:
        ds.SamplesPerPixel = 1
    if "PhotometricInterpretation" not in ds and int(ds.SamplesPerPixel or 1) == 1:
        ds.PhotometricInterpretation = "MONOCHROME2"
        notes.append("no Photometric Interpretation: MONOCHROME2 assumed")
    if "PixelRepresentation" not in ds:
        ds.PixelRepresentation = 0
    if "BitsStored" not in ds and "BitsAllocated" in ds:
        ds.BitsStored = ds.BitsAllocated
    if "HighBit" not in ds and "BitsStored" in ds:
        ds.HighBit = int(ds.BitsStored) - 1


def _check_geometry(ds, path: Path) -> int:
    """Refuse what cannot or should not be decoded, before decoding; returns the number of frames."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise UnreadableStudyError(f"{path.name}: DICOM image without valid Rows/Columns; {EXPORT_AGAIN}") from exc
    try:
        frames = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError) as exc:
        raise UnreadableStudyError(
            f"{path.name}: invalid Number of Frames ({short_reason(exc, 60)}); {EXPORT_AGAIN}"
        ) from exc
    if rows <= 0 or cols <= 0:
        raise UnsupportedStudyError(f"{path.name}: the image has no pixels ({rows}x{cols})")
    if rows * cols > MAX_PIXELS:
        raise UnsupportedStudyError(
            f"{path.name}: {cols}x{rows} pixels is larger than this viewer accepts ({MAX_PIXELS:,} pixels); "
            "export a smaller copy of the film"
        )
    single = SINGLE_FRAME_SOP_CLASSES.get(str(ds.get("SOPClassUID", "")))
    if frames > 1 and single:
        raise UnsupportedStudyError(
            f"{path.name}: multi-frame {single} object ({frames} frames), but a {single} image has exactly one "
            f"frame: the file is inconsistent; {EXPORT_AGAIN}"
        )
    encoded = _encoded_frame_size(ds)
    if encoded is not None and encoded[0] * encoded[1] > rows * cols:
        # Decoders size their output from the codestream, not from Rows/Columns: refuse before decoding.
        h, w = encoded
        if h * w > MAX_PIXELS:
            raise UnsupportedStudyError(
                f"{path.name}: the compressed image is {w}x{h} pixels, larger than this viewer accepts "
                f"({MAX_PIXELS:,} pixels), and the header says {cols}x{rows}; the file is damaged: {EXPORT_AGAIN}"
            )
        raise UnreadableStudyError(
            f"{path.name}: the compressed image is {w}x{h} pixels but the header says {cols}x{rows}; {EXPORT_AGAIN}"
        )
    return frames


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


def _decode(ds, path: Path, tname: str, index: int | None) -> np.ndarray:
    from pydicom.pixels import get_decoder, pixel_array

    tsyntax = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        raise UnsupportedStudyError(
            f"{path.name}: this viewer cannot decode {tname} pixel data; export the film uncompressed or as JPEG"
        )
    try:
        return np.asarray(pixel_array(ds, index=index))
    except MemoryError:
        raise
    except Exception as exc:  # pydicom/decoder plugins raise a wide variety of types on bad data
        raise UnreadableStudyError(
            f"{path.name}: the pixel data could not be decoded ({tname}: {short_reason(exc)}); the file is "
            f"damaged or truncated: {EXPORT_AGAIN}"
        ) from exc


def _metadata(ds) -> dict:
    from pydicom.multival import MultiValue

    meta: dict = {}
    for keyword, name in METADATA_TAGS.items():
        try:
            value = ds.get(keyword)
        except Exception:  # noqa: BLE001 - one damaged element must not hide the image
            continue
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple, MultiValue)):  # ImageType, PatientOrientation, ...
            value = "\\".join(str(v) for v in value)
        meta[name] = str(value)
    rows, cols = ds.get("Rows"), ds.get("Columns")
    if rows is not None and cols is not None:
        try:
            meta["rows"], meta["columns"] = int(rows), int(cols)
        except (TypeError, ValueError):
            pass
    return meta
