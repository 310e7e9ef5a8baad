"""The viewer's state without Qt: the study on screen, window/level, invert, orientation, heat maps, overlay text.

The main window only draws what this session says (napari's split of a ViewerModel from its Qt views), so
every rule here (drag direction, orientation wording, which heat map belongs to the study) is tested
without a display.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .anonymise import banner_lines
from .errors import StudyError
from .rendering import Orientation, display_pixels, orient, to_uint8
from .study import Study, load_study
from .windowing import auto_window

STUDY_CACHE = 4  # decoded studies kept (a 3000x2500 DICOM is ~30 MB of float32)
HEAT_CACHE = 16
DRAG_STEPS = 400.0  # a drag across 400 px changes the window by the whole stored range
FLIP_NAMES = {"h": "flipped horizontally", "v": "flipped vertically", "hv": "flipped horizontally and vertically"}


def describe_orientation(orientation: Orientation, flip_last: bool = True) -> str:
    """The orientation in the screen terms the user pressed ("" when untouched).

    ``Orientation`` stores flips in image axes, applied before the rotation. With ``flip_last`` (the last key
    pressed was a flip) it is told as "rotated θ, then flipped on screen", else as "flipped, then rotated θ";
    both describe the same picture, the wording follows the order of the keys.
    """
    rotation, flip_h, flip_v = orientation.rotation, orientation.flip_h, orientation.flip_v
    if flip_h and flip_v:  # both flips are a half turn
        rotation, flip_h, flip_v = (rotation + 180) % 360, False, False
    if flip_last and rotation in (90, 270):  # an image-axis flip is the other screen axis after a quarter turn
        flip_h, flip_v = flip_v, flip_h
    flips = ("h" if flip_h else "") + ("v" if flip_v else "")
    turn = f"rotated {rotation}°" if rotation else ""
    parts = [turn, FLIP_NAMES.get(flips, "")] if flip_last else [FLIP_NAMES.get(flips, ""), turn]
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class HeatKey:
    path: str
    model: str


class HeatCache:
    """Grad-CAM maps by (study, model), plus the requests in flight (so one map is asked for once)."""

    def __init__(self, size: int = HEAT_CACHE):
        self.size = size
        self._maps: OrderedDict[HeatKey, np.ndarray] = OrderedDict()
        self._pending: set[HeatKey] = set()

    def get(self, key: HeatKey) -> np.ndarray | None:
        return self._maps.get(key)

    def should_request(self, key: HeatKey) -> bool:
        """True the first time a missing map is wanted (the caller then asks the worker for it)."""
        if key in self._maps or key in self._pending:
            return False
        self._pending.add(key)
        return True

    def is_pending(self, key: HeatKey) -> bool:
        return key in self._pending

    def store(self, key: HeatKey, heat: np.ndarray) -> None:
        self._pending.discard(key)
        self._maps[key] = heat
        while len(self._maps) > self.size:
            self._maps.popitem(last=False)

    def failed(self, path: str) -> None:
        self._pending = {k for k in self._pending if k.path != path}


class StudyCache:
    """The last few decoded studies, by path (re-selecting a row does not decode it again)."""

    def __init__(self, size: int = STUDY_CACHE):
        self.size = size
        self._studies: OrderedDict[Path, Study] = OrderedDict()

    def get(self, path: Path) -> Study | None:
        return self._studies.get(Path(path))

    def put(self, path: Path, study: Study) -> None:
        """A study decoded elsewhere (the decode pool) for the screen."""
        self._studies[Path(path)] = study
        self._studies.move_to_end(Path(path))
        while len(self._studies) > self.size:
            self._studies.popitem(last=False)

    def load(self, path: Path) -> Study:
        path = Path(path)
        if path in self._studies:
            self._studies.move_to_end(path)
            return self._studies[path]
        study = load_study(path)
        self._studies[path] = study
        while len(self._studies) > self.size:
            self._studies.popitem(last=False)
        return study


class ViewerSession:
    """What is on screen. Changing a display setting returns nothing; the view re-reads :meth:`display_gray`."""

    def __init__(self) -> None:
        self.studies = StudyCache()
        self.heat = HeatCache()
        self.row_id: int | None = None
        self.study: Study | None = None
        self.study_error = ""
        self.window_level: tuple[float, float] | None = None  # None: the file's own (or automatic) window
        self.inverted = False
        self.orientation = Orientation()
        self._flip_last = True

    # -- the study --------------------------------------------------------------------------------
    def open(self, row_id: int, path: Path) -> bool:
        """Show ``path`` (display settings back to the file's own). False, with :attr:`study_error`, if unreadable.

        The error names the file; the window hides names when anonymising (at display time, as the switch can
        change after the file was opened)."""
        self.row_id = row_id
        self.window_level, self.inverted, self.orientation = None, False, Orientation()
        self.study, self.study_error = None, ""
        path = Path(path)
        try:
            self.study = self.studies.load(path)
        except StudyError as exc:
            self.study_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the app goes on whatever the file holds
            self.study_error = f"{path.name}: {type(exc).__name__}: {exc}"
        return self.study is not None

    def close(self) -> None:
        self.row_id, self.study, self.study_error = None, None, ""

    def raw(self) -> np.ndarray | None:
        if self.study is None:
            return None
        return self.study.raw if self.study.raw is not None else self.study.pixels

    # -- window / level ---------------------------------------------------------------------------
    def window_base(self) -> tuple[float, float]:
        if self.window_level is not None:
            return self.window_level
        return self.study.default_window if self.study is not None else (0.5, 1.0)

    def set_window(self, centre: float, width: float) -> None:
        self.window_level = (float(centre), float(width))

    def reset_window(self) -> None:
        self.window_level = None

    def auto_window(self) -> None:
        raw = self.raw()
        if raw is not None:
            self.set_window(*auto_window(raw))

    def screen_brightens_with_value(self) -> bool:
        """True when higher stored values are drawn brighter (MONOCHROME2, not inverted by the user)."""
        return self.study is not None and (not self.study.invert) != self.inverted

    def drag_window(self, dx: float, dy: float) -> None:
        """Right-drag: right = wider, up = brighter on screen, whatever the photometric or the invert key."""
        raw = self.raw()
        if raw is None or self.study is None:
            return
        centre, width = self.window_base()
        span = max(self.study.default_window[1], auto_window(raw)[1], 1e-3)
        step = span / DRAG_STEPS
        # Brighter on screen means a lower level where values brighten, a higher one where they darken.
        # Up is negative dy in screen coordinates.
        direction = 1.0 if self.screen_brightens_with_value() else -1.0
        self.set_window(centre + direction * dy * step, max(width + dx * step, span / 1000.0))

    def toggle_invert(self) -> None:
        self.inverted = not self.inverted

    # -- orientation ------------------------------------------------------------------------------
    def rotate(self, degrees: int) -> None:
        self.orientation = self.orientation.rotated(degrees)
        self._flip_last = False

    def flip(self, horizontal: bool) -> None:
        self.orientation = self.orientation.flipped(horizontal)
        self._flip_last = True

    def reset_orientation(self) -> None:
        self.orientation = Orientation()

    def orientation_text(self) -> str:
        return describe_orientation(self.orientation, self._flip_last)

    # -- pixels -----------------------------------------------------------------------------------
    def display_gray(self) -> np.ndarray | None:
        """The display pixels (uint8, oriented) exactly as on screen."""
        if self.study is None:
            return None
        return to_uint8(orient(display_pixels(self.study, self.window_level, self.inverted), self.orientation))

    def heat_key(self, model: str) -> HeatKey | None:
        if self.study is None or not model:
            return None
        return HeatKey(str(self.study.path), model)

    def current_heat(self, model: str) -> np.ndarray | None:
        key = self.heat_key(model)
        return self.heat.get(key) if key is not None else None

    def oriented_heat(self, model: str) -> np.ndarray | None:
        heat = self.current_heat(model)
        return orient(heat, self.orientation) if heat is not None else None

    # -- overlay text -----------------------------------------------------------------------------
    def banner(self, anonymise: bool, shown_name: str) -> list[str]:
        return banner_lines(self.study.metadata, anonymise, shown_name) if self.study is not None else []

    def info_lines(self, zoom: float) -> list[str]:
        """The top-right block: window, zoom, orientation, invert."""
        if self.study is None:
            return []
        if self.window_level is None:
            source = self.study.metadata.get("window_source", "file")
            lines = ["window: " + ("file" if source == "file" else "automatic")]
        else:
            lines = [f"W {self.window_level[1]:.0f}  L {self.window_level[0]:.0f}"]
        lines.append(f"zoom {zoom * 100:.0f}%")
        orientation = self.orientation_text()
        if orientation:
            lines.append(orientation)
        if self.inverted:
            lines.append("inverted")
        return lines
