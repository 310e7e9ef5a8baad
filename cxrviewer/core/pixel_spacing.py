"""Calibration for the ruler and the scale bar, and the pixel value under the cursor.

Which spacing measures the patient (DICOM PS3.3 10.7.1.3 and the DX / CR modules):

* Pixel Spacing, when it is not just a copy of Imager Pixel Spacing: already calibrated in the patient.
* Imager Pixel Spacing divided by Estimated Radiographic Magnification Factor: the detector's spacing
  brought back to the patient plane.
* Imager Pixel Spacing alone (or an identical Pixel Spacing without a calibration type): at the detector;
  anatomy measures larger than it is (by the magnification, often 1.1-1.2 for a chest film), which the screen
  says.
* Nothing usable (PNG / JPEG, 0\\0): uncalibrated, distances in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .display_tags import DisplayTags
from .study import Study

NICE_STEPS = (1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Calibration:
    row_mm: float | None = None  # mm between rows (vertical in the file's own orientation)
    col_mm: float | None = None  # mm between columns
    source: str = "uncalibrated (pixels)"  # shown on screen beside every measurement

    @property
    def calibrated(self) -> bool:
        return self.row_mm is not None and self.col_mm is not None


UNCALIBRATED = Calibration()


def calibration(tags: DisplayTags) -> Calibration:
    pixel, imager, factor = tags.pixel_spacing, tags.imager_pixel_spacing, tags.magnification
    copy_of_imager = pixel is not None and imager is not None and _same(pixel, imager) and not tags.spacing_calibration
    if pixel is not None and not copy_of_imager:
        kind = f", {tags.spacing_calibration.lower()} calibration" if tags.spacing_calibration else ""
        return Calibration(pixel[0], pixel[1], f"Pixel Spacing{kind}")
    detector = imager or pixel
    if detector is None:
        ignored = [n for n in tags.notes if "Spacing" in n]
        return Calibration(source=f"uncalibrated (pixels; {'; '.join(ignored)})") if ignored else UNCALIBRATED
    if factor is not None:
        return Calibration(
            detector[0] / factor, detector[1] / factor, f"Imager Pixel Spacing / magnification {factor:.3g}"
        )
    return Calibration(
        detector[0], detector[1], "Imager Pixel Spacing: at the detector, not corrected for magnification"
    )


def for_decoded_grid(cal: Calibration, file_shape: tuple[int, int], shape: tuple[int, int]) -> Calibration:
    """The spacing of a reduced decode (``shape``) of a file of ``file_shape``: each decoded pixel spans more."""
    if not cal.calibrated or file_shape == shape or 0 in shape:
        return cal
    assert cal.row_mm is not None and cal.col_mm is not None
    return Calibration(cal.row_mm * file_shape[0] / shape[0], cal.col_mm * file_shape[1] / shape[1], cal.source)


def _same(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-6) for x, y in zip(a, b))


def distance(cal: Calibration, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, str]:
    """Length of the line between two points given as (row, col) in the file's own pixel grid: (value, unit)."""
    d_row, d_col = end[0] - start[0], end[1] - start[1]
    if cal.calibrated:
        assert cal.row_mm is not None and cal.col_mm is not None  # calibrated says so
        return math.hypot(d_row * cal.row_mm, d_col * cal.col_mm), "mm"
    return math.hypot(d_row, d_col), "px"


def format_length(value: float, unit: str) -> str:
    if unit == "mm" and value >= 100:
        return f"{value / 10:.1f} cm"
    return f"{value:.1f} {unit}" if unit == "mm" else f"{value:.0f} {unit}"


def screen_mm_per_pixel(cal: Calibration, rotation: int, scale: float) -> float | None:
    """mm per screen pixel along the screen's horizontal, at view ``scale`` (screen px per image px)."""
    if not cal.calibrated or scale <= 0:
        return None
    along = cal.col_mm if rotation % 180 == 0 else cal.row_mm  # a quarter turn puts the rows across
    assert along is not None
    return along / scale


def scale_bar(mm_per_screen_px: float, longest_px: float) -> tuple[float, float]:
    """The longest 1-2-5 length (mm) that fits in ``longest_px`` screen pixels: (length mm, length px)."""
    if mm_per_screen_px <= 0 or longest_px <= 0:
        return 0.0, 0.0
    limit = longest_px * mm_per_screen_px
    exponent = math.floor(math.log10(limit))
    best = 0.0
    for e in (exponent - 1, exponent):
        for step in NICE_STEPS:
            length = step * 10.0**e
            if length <= limit:
                best = max(best, length)
    return best, best / mm_per_screen_px


@dataclass(frozen=True)
class PixelValue:
    stored: float | None  # the value in the file (None when a Modality LUT makes it unrecoverable)
    modality: float  # after the modality transform (Rescale Slope / Intercept): the units windows are in
    unit: str  # Rescale Type, or "" when the file names none

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        modality = f"{self.modality:.6g}{unit}"
        if self.stored is None:
            return f"value {modality} (stored value not recoverable: Modality LUT)"
        if math.isclose(self.stored, self.modality, abs_tol=1e-6) and not unit:
            return f"value {self.stored:.6g}"
        return f"stored {self.stored:.6g} → {modality}"


def pixel_value(study: Study, tags: DisplayTags, row: int, col: int) -> PixelValue | None:
    """The value at (row, col) of the file's own grid; None outside the image."""
    raw = study.raw if study.raw is not None else study.pixels * 255.0
    if not (0 <= row < raw.shape[0] and 0 <= col < raw.shape[1]):
        return None
    modality = float(raw[row, col])
    if study.metadata.get("format") != "DICOM":
        grey = float(np.round(modality, 1))  # PNG / JPEG: the grey level on the 0-255 scale the loader uses
        return PixelValue(grey, grey, "")
    if tags.modality_lut:
        return PixelValue(None, modality, tags.rescale_type)
    stored = float(np.round((modality - tags.rescale_intercept) / tags.rescale_slope))
    return PixelValue(stored, modality, tags.rescale_type)
