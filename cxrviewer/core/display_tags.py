"""The DICOM attributes the reading-room tools need beyond ``Study.metadata``: spacing, the file's windows with
their explanations, the rescale, the stored bit depth.

Read from the file's header (pixel data skipped), so the decoding path stays as it is. A bitmap file, or a
header that cannot be read, gives empty tags: the tools then say "uncalibrated" and offer no file windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .study import Study


@dataclass(frozen=True)
class FileWindow:
    """One of the file's own windows (Window Center / Width value k) and its explanation, if any."""

    centre: float
    width: float
    explanation: str = ""


@dataclass(frozen=True)
class DisplayTags:
    pixel_spacing: tuple[float, float] | None = None  # (between rows, between columns) in mm, as stored
    imager_pixel_spacing: tuple[float, float] | None = None
    magnification: float | None = None  # Estimated Radiographic Magnification Factor
    spacing_calibration: str = ""  # Pixel Spacing Calibration Type (e.g. GEOMETRY, FIDUCIAL)
    windows: tuple[FileWindow, ...] = ()
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    rescale_type: str = ""
    modality_lut: bool = False  # a Modality LUT Sequence: stored values cannot be recovered from modality values
    bits_stored: int | None = None
    signed: bool = False
    notes: tuple[str, ...] = field(default=())  # attributes present but unusable, in words


def read_display_tags(study: Study) -> DisplayTags:
    """The tags of ``study``'s file; empty for PNG/JPEG or an unreadable header (never raises)."""
    if study.metadata.get("format") != "DICOM":
        return DisplayTags()
    try:
        import pydicom

        ds = pydicom.dcmread(study.path, stop_before_pixels=True, force=True)
        return tags_from_dataset(ds)
    except Exception:  # noqa: BLE001 - the image is already shown; a bad header only costs the tools
        return DisplayTags(notes=("the DICOM header could not be read again for the measuring tools",))


def tags_from_dataset(ds) -> DisplayTags:
    notes: list[str] = []
    measures = _pixel_measures(ds)
    pixel_spacing = _pair(ds, "PixelSpacing", notes) or (_pair(measures, "PixelSpacing", notes) if measures else None)
    magnification = _number(ds, "EstimatedRadiographicMagnificationFactor")
    if magnification is not None and magnification <= 0:
        notes.append(f"Estimated Radiographic Magnification Factor {magnification:g} ignored")
        magnification = None
    slope, intercept = _number(ds, "RescaleSlope"), _number(ds, "RescaleIntercept")
    bits = _number(ds, "BitsStored")
    return DisplayTags(
        pixel_spacing=pixel_spacing,
        imager_pixel_spacing=_pair(ds, "ImagerPixelSpacing", notes),
        magnification=magnification,
        spacing_calibration=_text(ds, "PixelSpacingCalibrationType"),
        windows=_windows(ds),
        rescale_slope=slope if slope not in (None, 0.0) else 1.0,
        rescale_intercept=intercept if intercept is not None else 0.0,
        rescale_type=_text(ds, "RescaleType"),
        modality_lut="ModalityLUTSequence" in ds,
        bits_stored=int(bits) if bits is not None and 1 <= bits <= 32 else None,
        signed=_number(ds, "PixelRepresentation") == 1,
        notes=tuple(notes),
    )


def _pixel_measures(ds):
    """Enhanced objects keep Pixel Spacing in the shared functional groups."""
    try:
        return ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    except Exception:  # noqa: BLE001 - absent or damaged: no spacing from there
        return None


def _values(ds, keyword: str) -> list:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - one damaged element must not stop the others
        return []
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        return [value]
    return list(value)


def _floats(ds, keyword: str) -> list[float | None]:
    out: list[float | None] = []
    for v in _values(ds, keyword):
        try:
            number = float(v)
        except (TypeError, ValueError):
            out.append(None)
            continue
        out.append(number if math.isfinite(number) else None)
    return out


def _number(ds, keyword: str) -> float | None:
    values = _floats(ds, keyword)
    return values[0] if values else None


def _text(ds, keyword: str) -> str:
    values = _values(ds, keyword)
    return str(values[0]).strip() if values else ""


def _pair(ds, keyword: str, notes: list[str]) -> tuple[float, float] | None:
    """A spacing pair in mm; zero, negative or malformed values are noted and give None (0\\0 is common)."""
    raw = _values(ds, keyword)
    if not raw:
        return None
    values = _floats(ds, keyword)
    if len(values) == 2 and all(v is not None and v > 0 for v in values):
        return float(values[0]), float(values[1])  # type: ignore[arg-type]  # checked just above
    shown = "\\".join(str(v) for v in raw)
    notes.append(f"{_words(keyword)} {shown} ignored")
    return None


def _windows(ds) -> tuple[FileWindow, ...]:
    centres, widths = _floats(ds, "WindowCenter"), _floats(ds, "WindowWidth")
    explanations = [str(v).strip() for v in _values(ds, "WindowCenterWidthExplanation")]
    out = []
    for k, (centre, width) in enumerate(zip(centres, widths)):
        if centre is None or width is None or width < 1.0:
            continue  # the same rule as the display path: an unusable window is not offered
        out.append(FileWindow(centre, width, explanations[k] if k < len(explanations) else ""))
    return tuple(out)


def _words(keyword: str) -> str:
    """PixelSpacing -> Pixel Spacing."""
    return "".join(" " + c if c.isupper() and i else c for i, c in enumerate(keyword))
