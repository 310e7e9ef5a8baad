"""Window/level presets for CR/DX films: the file's own view, the automatic window, the file's windows by their
explanations, and lung / soft-tissue / bone windows as fractions of the film's value range.

Plain films carry no calibrated units (unlike CT's Hounsfield units), so a fixed "lung window" in raw values
means nothing across detectors. The presets are fractions of the film's own value range instead: the span of
the automatic window (0.5-99.5 percentiles of the modality values), measured from black to white as the film
is shown, so MONOCHROME1 and MONOCHROME2 get the same look. The nominal stored range (0 .. 2**BitsStored - 1)
is no base: pydicom's 12-bit CR test film uses a fifth of it, and a fraction of it would show grey fog.
"""

from __future__ import annotations

from dataclasses import dataclass

from .display_tags import DisplayTags
from .study import Study
from .windowing import auto_window

FILE_OWN, AUTOMATIC, FILE_WINDOW, ANATOMY = "file's own", "automatic", "file window", "anatomy"

# (centre, width) as fractions of the value range, 0 = the darkest value shown, 1 = the brightest.
# Lung: contrast spent on the dark half where lung texture lives (mediastinum and bone go white).
# Soft tissue: the middle greys, for mediastinum, hila and behind the heart. Bone: the bright end.
ANATOMY_PRESETS = (
    ("Lung", 0.40, 0.75),
    ("Soft tissue", 0.60, 0.50),
    ("Bone", 0.75, 0.45),
)


@dataclass(frozen=True)
class WindowPreset:
    name: str  # what the menu says
    window: tuple[float, float] | None  # (centre, width) in modality units; None: the file's own view
    kind: str  # FILE_OWN, AUTOMATIC, FILE_WINDOW or ANATOMY


def value_range(study: Study) -> tuple[float, float]:
    """(darkest, brightest) modality value of the film's range, in display order (swapped for MONOCHROME1)."""
    centre, width = auto_window(_raw(study))
    lo, hi = centre - width / 2.0, centre + width / 2.0
    return (hi, lo) if study.invert else (lo, hi)


def window_from_fractions(study: Study, centre: float, width: float) -> tuple[float, float]:
    """A window given as fractions of the value range -> (centre, width) in modality units."""
    dark, bright = value_range(study)
    span = bright - dark  # negative for MONOCHROME1: the centre then counts down from the dark end
    return dark + centre * span, max(abs(span) * width, 1e-6)


def window_to_fractions(study: Study, window: tuple[float, float]) -> tuple[float, float]:
    """The inverse of :func:`window_from_fractions` (to carry a window over to another film, e.g. a prior)."""
    dark, bright = value_range(study)
    span = bright - dark
    if span == 0:
        return 0.5, 1.0
    return (window[0] - dark) / span, window[1] / abs(span)


def window_presets(study: Study, tags: DisplayTags) -> list[WindowPreset]:
    presets = [
        WindowPreset("File's own", None, FILE_OWN),
        WindowPreset("Automatic", auto_window(_raw(study)), AUTOMATIC),
    ]
    for k, w in enumerate(tags.windows, start=1):
        name = w.explanation or f"File window {k}"
        presets.append(WindowPreset(f"{name} (W {w.width:.0f} L {w.centre:.0f})", (w.centre, w.width), FILE_WINDOW))
    for name, centre, width in ANATOMY_PRESETS:
        presets.append(WindowPreset(name, window_from_fractions(study, centre, width), ANATOMY))
    return presets


def _raw(study: Study):
    return study.raw if study.raw is not None else study.pixels
