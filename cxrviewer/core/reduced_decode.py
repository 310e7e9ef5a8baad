"""Reduced-resolution decoding for scoring only (folder triage, batch): JPEG DCT scaling, JPEG 2000 levels.

The model sees 96-128 px and the pixel gate 224 px, so a 2,000 px film decoded at full size is mostly wasted
work. JPEG can decode straight to 1/2, 1/4 or 1/8 of its size (Pillow's draft mode: DCT scaling) and JPEG 2000
can stop before its finest wavelet levels (Pillow's ``reduce``). Both are used only while the shorter side
stays at least :data:`MIN_SIDE` pixels: on the native test films that keeps the probability within 0.0002 of
the full decode for both shipped models (``tests/test_reduced_decode.py`` holds it to 0.005), while a 448 px
floor already moved a re-encoded 1,000 px film by 0.0058 (both from ``benchmarks/reduced_agreement.py``).
JPEG 2000 DICOMs (none among the native films) move by up to 0.0057 (RG1, an adult film that the input checks
withhold). The screen always gets the full decode.

    scale = reduction_factor(width, height)          # 1, 2, 4 or 8
    load_study(path, min_side=MIN_SIDE)              # metadata['decode_scale'] says what was used
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

MIN_SIDE = 512  # shorter side kept by a reduced decode (see the module docstring for why not less)
MAX_FACTOR = 8  # JPEG DCT scaling goes down to 1/8

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
_JPEG_SYNTAXES = frozenset({JPEG_BASELINE, JPEG_EXTENDED})
_J2K_SYNTAXES = frozenset({J2K_LOSSLESS, J2K})


def reduction_factor(width: int, height: int, min_side: int = MIN_SIDE) -> int:
    """The largest power of two (at most 8) that keeps the shorter side at least ``min_side`` pixels."""
    factor = 1
    while factor < MAX_FACTOR and min(width, height) // (factor * 2) >= min_side:
        factor *= 2
    return factor


def draft_bitmap(img: Image.Image, min_side: int | None) -> int:
    """Ask Pillow to decode a JPEG at a reduced scale (before any pixel is read); returns the factor used.

    Pillow picks the scale ``original // asked`` and rounds the decoded size up, so the result is never smaller
    than asked."""
    if not min_side or img.format != "JPEG" or img.mode not in ("L", "RGB", "YCbCr"):
        return 1
    factor = reduction_factor(img.width, img.height, min_side)
    if factor == 1:
        return 1
    before = img.size
    img.draft(img.mode, (img.width // factor, img.height // factor))  # Pillow: scale = original // asked
    return max(1, round(before[0] / img.size[0]))


def decode_dicom_reduced(ds, min_side: int | None) -> tuple[np.ndarray, int] | None:
    """(stored values at a reduced scale, factor) for a single-frame, single-sample, unsigned JPEG or JPEG 2000
    DICOM; None when that does not apply (the caller then decodes at full size as always).

    Only the decode is reduced: the modality LUT, VOI and presentation steps then run on these values as on a
    full decode. JPEG 2000 levels average neighbouring pixels (the LL band), which is what scoring needs."""
    try:
        tsyntax = str(ds.file_meta.TransferSyntaxUID)
        if tsyntax not in _JPEG_SYNTAXES | _J2K_SYNTAXES:
            return None
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1 or int(ds.get("PixelRepresentation", 0) or 0) != 0:
            return None
        if int(ds.get("NumberOfFrames", 1) or 1) != 1:
            return None
        rows, cols = int(ds.Rows), int(ds.Columns)
        factor = reduction_factor(cols, rows, min_side or 0) if min_side else 1
        if factor == 1:
            return None
        from pydicom.encaps import generate_frames

        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        shift = 0
        with Image.open(io.BytesIO(frame)) as img:
            if tsyntax in _J2K_SYNTAXES:
                from openjpeg import get_parameters

                precision = int(get_parameters(frame)["precision"])
                if img.mode == "I;16":
                    shift = 16 - precision  # Pillow scales J2K samples up to 16 bits; the stored values are wanted
                img.reduce = factor.bit_length() - 1  # type: ignore[method-assign,assignment]  # wavelet levels
            else:
                if img.mode != "L":
                    return None
                img.draft("L", (cols // factor, rows // factor))
            img.load()
            if img.mode not in ("L", "I;16"):
                return None
            arr = np.asarray(img)
    except Exception:  # noqa: BLE001 - any trouble here: the full decode runs and reports it properly
        return None
    if arr.ndim != 2 or arr.shape[0] * factor < rows - factor or arr.shape[1] * factor < cols - factor:
        return None  # not the image the header describes: let the full decode judge it
    if shift:
        arr = arr >> shift
    return arr, round(cols / arr.shape[1])
