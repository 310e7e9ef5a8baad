"""The DICOM display pipeline after decoding: colour (RGB, YBR, palette) to grey, and the grey path's modality
LUT -> VOI LUT / window -> presentation (MONOCHROME1, INVERSE), with unusable LUT items ignored and noted.

Split from :mod:`cxrviewer.core.dicom` (reading, decoding, refusals); see docs/dicom.md for the policy.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import UnreadableStudyError, UnsupportedStudyError
from .study import Study
from .windowing import apply_window, auto_window

IDENTITY_MAX_BITS = 8  # unsigned data this shallow is shown as stored when the file has no VOI
LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's convert("L")
COLOUR_SPREAD = 2.0 / 255.0  # mean |channel - mean| above this (0-1 scale) is real colour, not JPEG chroma noise
EXPORT_AGAIN = "export the film again from the PACS or modality"


# --- colour ------------------------------------------------------------------------------------------------


def _colour_study(ds, arr: np.ndarray, path: Path, photometric: str, metadata: dict) -> Study:
    rgb = _as_rgb(ds, arr, path, photometric)
    gray = rgb @ LUMINANCE
    spread = float(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean())
    metadata["is_colour"] = spread > COLOUR_SPREAD
    metadata["window_policy"] = "colour luminance"  # no window_source: the file's colours are shown as they are
    pixels = np.clip(gray, 0.0, 1.0).astype(np.float32)
    return Study(
        path=path, pixels=pixels, metadata=metadata, raw=pixels * 255.0, default_window=(127.5, 255.0), invert=False
    )


def _as_rgb(ds, arr: np.ndarray, path: Path, photometric: str) -> np.ndarray:
    """RGB in [0, 1], shape (H, W, 3). pydicom already returns RGB for YBR_FULL / YBR_FULL_422 (it converts
    them unless asked for raw data) and the JPEG 2000 decoders return RGB for YBR_ICT / YBR_RCT: no second
    conversion here (converting twice distorts a grey film stored as YBR_FULL)."""
    arr = np.asarray(arr)
    if photometric == "PALETTE COLOR":
        return _palette_rgb(ds, arr, path)
    if photometric not in ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"):
        raise UnsupportedStudyError(
            f"{path.name}: {photometric or 'unknown'} colour pixels are not supported; export the film as "
            "MONOCHROME2 or RGB"
        )
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise UnreadableStudyError(
            f"{path.name}: the file says {photometric} but the pixel data is not three samples per pixel; "
            f"{EXPORT_AGAIN}"
        )
    bits = _bits_stored(ds, arr)
    return np.clip(arr.astype(np.float32) / float(2**bits - 1), 0.0, 1.0)


def _palette_rgb(ds, arr: np.ndarray, path: Path) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    if arr.ndim != 2:
        raise UnreadableStudyError(f"{path.name}: PALETTE COLOR image with more than one sample per pixel")
    rgb = np.asarray(apply_color_lut(arr, ds))
    try:
        depth = int(ds.RedPaletteColorLookupTableDescriptor[2])
    except (AttributeError, IndexError, TypeError, ValueError):
        depth = 16 if rgb.dtype.itemsize > 1 else 8
    depth = depth if depth in (8, 16) else 16 if rgb.max() > 255 else 8
    return np.clip(rgb[..., :3].astype(np.float32) / float(2**depth - 1), 0.0, 1.0)


def _bits_stored(ds, arr: np.ndarray) -> int:
    try:
        bits = int(ds.BitsStored)
    except (AttributeError, TypeError, ValueError):
        bits = 0
    if not 1 <= bits <= 32:
        bits = arr.dtype.itemsize * 8
    return bits


# --- grayscale ---------------------------------------------------------------------------------------------


def _grey_study(ds, arr: np.ndarray, path: Path, photometric: str, frame: int, metadata: dict, notes: list) -> Study:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    if arr.ndim != 2:
        raise UnreadableStudyError(f"{path.name}: grayscale pixel data of unexpected shape {arr.shape}; {EXPORT_AGAIN}")
    view = _pipeline_view(ds, frame, notes)
    modality = np.asarray(apply_modality_lut(arr, view))  # integers still, unless rescaled: LUTs index by them
    raw = modality.astype(np.float32)
    if not np.isfinite(raw).all():
        raise UnreadableStudyError(f"{path.name}: the rescale turns pixels into non-finite values; {EXPORT_AGAIN}")
    invert = photometric == "MONOCHROME1" or _inverse_presentation(ds, notes)
    window = None
    if "VOILUTSequence" in view or "WindowCenter" in view:
        voi = np.asarray(apply_voi_lut(modality, view, index=0), dtype=np.float32)
        lo, hi = _voi_output_range(raw, view, apply_voi_lut)
        pixels = np.clip((voi - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(voi)
        if "WindowCenter" in view:
            window = (float(view.WindowCenter), float(view.WindowWidth))
        metadata["window_source"] = "file"
    elif _shown_as_stored(view):
        lo, hi = _modality_range(view, apply_modality_lut)
        window = ((lo + hi) / 2.0, max(hi - lo, 1e-6))
        pixels = apply_window(raw, *window)
        metadata["window_source"], metadata["window_policy"] = "automatic", "as stored"
    else:
        padding = _padding_mask(ds, arr, notes)
        window = auto_window(raw, exclude=padding)
        pixels = apply_window(raw, *window)
        metadata["window_source"], metadata["window_policy"] = "automatic", "percentile"
        if padding is not None:
            metadata["padding_pixels"] = int(padding.sum())
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


def _pipeline_view(ds, frame: int, notes: list[str]):
    """A small dataset holding only the usable parts of the Modality LUT and VOI LUT modules for ``frame``
    (the file's own, else the enhanced objects' functional groups), for pydicom's reference functions."""
    from pydicom.dataset import Dataset

    view = Dataset()
    view.file_meta = ds.file_meta
    view.set_original_encoding(*ds.original_encoding)
    for kw in ("PhotometricInterpretation", "BitsStored", "PixelRepresentation"):
        view[kw] = ds[kw]
    groups = _functional_groups(ds, frame)

    # Modality LUT Module: a LUT, else a linear rescale
    lut = _first_item(ds, "ModalityLUTSequence", notes, "Modality LUT")
    if lut is not None and _lut_ok(lut):
        view.ModalityLUTSequence = [lut]
    else:
        if lut is not None:
            notes.append("unusable Modality LUT ignored")
        source = (
            ds
            if "RescaleSlope" in ds or "RescaleIntercept" in ds
            else _group_item(groups, "PixelValueTransformationSequence")
        )
        if source is not None:
            slope, intercept = _number(source, "RescaleSlope", 1.0), _number(source, "RescaleIntercept", 0.0)
            if slope is None or intercept is None or slope == 0.0:
                notes.append("unusable Rescale Slope/Intercept ignored")
            elif (slope, intercept) != (1.0, 0.0):
                view.RescaleSlope, view.RescaleIntercept = slope, intercept

    # VOI LUT Module: the first usable view, a LUT before a window (as pydicom's prefer_lut)
    voi = _first_item(ds, "VOILUTSequence", notes, "VOI LUT")
    if voi is not None and _lut_ok(voi):
        view.VOILUTSequence = [voi]
        return view
    if voi is not None:
        notes.append("unusable VOI LUT ignored")
    source = ds if "WindowCenter" in ds or "WindowWidth" in ds else _group_item(groups, "FrameVOILUTSequence")
    if source is not None:
        function = str(source.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
        function = function if function in ("LINEAR", "LINEAR_EXACT", "SIGMOID") else "LINEAR"
        centre, width = _first_number(source, "WindowCenter"), _first_number(source, "WindowWidth")
        smallest_ok = 1.0 if function == "LINEAR" else 1e-9
        if centre is None or width is None or width < smallest_ok:
            notes.append(f"unusable window ignored (centre {centre}, width {width})")
        else:
            view.WindowCenter, view.WindowWidth = centre, width
            if function != "LINEAR":
                view.VOILUTFunction = function
    return view


def _functional_groups(ds, frame: int) -> list:
    """The per-frame item for ``frame`` then the shared item (enhanced multi-frame objects), those present."""
    out = []
    for kw, i in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        try:
            seq = ds.get(kw)
            if seq is not None and len(seq) > i:
                out.append(seq[i])
        except Exception:  # noqa: BLE001 - a damaged sequence only costs us its window
            continue
    return out


def _group_item(groups: list, keyword: str):
    for group in groups:
        try:
            seq = group.get(keyword)
            if seq:
                return seq[0]
        except Exception:  # noqa: BLE001
            continue
    return None


def _first_item(ds, keyword: str, notes: list[str], what: str):
    try:
        seq = ds.get(keyword)
    except Exception:  # noqa: BLE001 - unparsable sequence
        notes.append(f"unreadable {what} Sequence ignored")
        return None
    if seq is None:
        return None
    if len(seq) == 0:
        notes.append(f"empty {what} Sequence ignored")
        return None
    return seq[0]


def _lut_ok(item) -> bool:
    """A LUT item pydicom can apply: a 3-value descriptor, a known bit depth and at least two entries."""
    try:
        descriptor = [int(v) for v in item.LUTDescriptor]
        data = item.LUTData
        entries = (
            len(data) if not isinstance(data, (bytes, bytearray)) else len(data) // (2 if descriptor[2] > 8 else 1)
        )
        return len(descriptor) == 3 and 1 <= descriptor[2] <= 16 and entries >= 2
    except Exception:  # noqa: BLE001
        return False


def _number(item, keyword: str, default: float) -> float | None:
    if keyword not in item or item.get(keyword) in (None, ""):
        return default
    return _first_number(item, keyword)


def _first_number(item, keyword: str) -> float | None:
    """The first value of a (possibly multi-valued) DS/IS element; None when absent, empty or not finite.
    Window Center/Width may be multi-valued: the file's first window is its default."""
    try:
        value = item.get(keyword)
        if value is None or value == "":
            return None
        if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
            value = value[0]
        number = float(value)
    except Exception:  # noqa: BLE001 - "abcdef", empty multi-value, ...
        return None
    return number if math.isfinite(number) else None


def _inverse_presentation(ds, notes: list[str]) -> bool:
    try:
        shape = str(ds.get("PresentationLUTShape", "") or "").strip().upper()
    except Exception:  # noqa: BLE001
        return False
    if shape not in ("", "IDENTITY", "INVERSE"):
        notes.append(f"unknown Presentation LUT Shape {shape!r} ignored")
    return shape == "INVERSE"


def _voi_output_range(raw: np.ndarray, view, apply_voi_lut) -> tuple[float, float]:
    """The VOI transform's output range: what it maps the darkest and brightest possible inputs to (for a
    LUT: its smallest and largest entry)."""
    if "VOILUTSequence" in view:
        n, first, _ = (int(v) for v in view.VOILUTSequence[0].LUTDescriptor)
        inputs = np.arange(first, first + (n or 65536), dtype=np.int64)
        outputs = np.asarray(apply_voi_lut(inputs, view, index=0), dtype=np.float32)
        return float(outputs.min()), float(outputs.max())
    extremes = np.array([min(raw.min(), -1e7), max(raw.max(), 1e7)], dtype=np.float32)
    ends = np.asarray(apply_voi_lut(extremes, view, index=0), dtype=np.float32)
    return float(ends.min()), float(ends.max())


def _shown_as_stored(view) -> bool:
    try:
        return int(view.PixelRepresentation) == 0 and 1 <= int(view.BitsStored) <= IDENTITY_MAX_BITS
    except (AttributeError, TypeError, ValueError):
        return False


def _modality_range(view, apply_modality_lut) -> tuple[float, float]:
    """Smallest and largest modality value of the storable pixels 0 .. 2**BitsStored - 1."""
    stored = np.arange(2 ** int(view.BitsStored), dtype=np.uint16)
    values = np.asarray(apply_modality_lut(stored, view), dtype=np.float64)
    return float(values.min()), float(values.max())


def _padding_mask(ds, stored: np.ndarray, notes: list[str]) -> np.ndarray | None:
    """Pixels holding Pixel Padding Value (up to Pixel Padding Range Limit), compared in stored values."""
    if "PixelPaddingValue" not in ds:
        return None
    try:
        value = int(ds.PixelPaddingValue)
        limit = int(ds.PixelPaddingRangeLimit) if "PixelPaddingRangeLimit" in ds else value
    except Exception:  # noqa: BLE001 - an unreadable padding value only costs the exclusion
        notes.append("unreadable Pixel Padding Value ignored")
        return None
    lo, hi = min(value, limit), max(value, limit)
    mask = (stored >= lo) & (stored <= hi)
    return mask if mask.any() else None
