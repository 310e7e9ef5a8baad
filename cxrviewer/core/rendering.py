"""Pixels for the screen and for exports: window/invert, orientation, heat-map colouring and compositing.

Everything the viewer draws goes through these numpy functions, so the on-screen layers and the PNG
export are the same pixels, and the heat map is oriented by the same call as the image (alignment).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .study import Study

HEAT_ALPHA_START = 0.15  # heat below this is fully transparent (normal lung stays readable)
HEAT_ALPHA_FULL = 0.6  # heat above this gets the full layer opacity


@dataclass(frozen=True)
class Orientation:
    """Display orientation: flips in image axes first, then a clockwise rotation in 90 degree steps."""

    rotation: int = 0  # 0, 90, 180, 270 (clockwise)
    flip_h: bool = False
    flip_v: bool = False

    def rotated(self, degrees: int) -> Orientation:
        return Orientation((self.rotation + degrees) % 360, self.flip_h, self.flip_v)

    def flipped(self, horizontal: bool) -> Orientation:
        """Flip as the user sees it (screen axes), whatever the current rotation."""
        screen_h = horizontal if self.rotation in (0, 180) else not horizontal
        if screen_h:
            return Orientation(self.rotation, not self.flip_h, self.flip_v)
        return Orientation(self.rotation, self.flip_h, not self.flip_v)


def display_pixels(study: Study, window: tuple[float, float] | None = None, invert: bool = False) -> np.ndarray:
    """Float (H, W) in [0, 1]: the file's own view (``window`` None) or an interactive window, maybe inverted."""
    out = study.pixels if window is None else study.render(*window)
    return 1.0 - out if invert else out


def orient(arr: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Apply ``orientation`` to an (H, W) or (H, W, C) array (contiguous copy)."""
    if orientation.flip_h:
        arr = arr[:, ::-1]
    if orientation.flip_v:
        arr = arr[::-1]
    k = (orientation.rotation // 90) % 4
    if k:
        arr = np.rot90(arr, k=-k, axes=(0, 1))  # negative k: clockwise
    return np.ascontiguousarray(arr)


def oriented_shape(shape: tuple[int, int], orientation: Orientation) -> tuple[int, int]:
    h, w = shape
    return (w, h) if orientation.rotation % 180 else (h, w)


def orient_point(point: tuple[float, float], shape: tuple[int, int], orientation: Orientation) -> tuple[float, float]:
    """A point (x, y) in the file's own pixel grid (continuous: pixel (r, c) spans [c, c+1) x [r, r+1)) -> the
    same point in the displayed, oriented grid; the continuous counterpart of :func:`orient`."""
    x, y = point
    h, w = shape
    if orientation.flip_h:
        x = w - x
    if orientation.flip_v:
        y = h - y
    for _ in range((orientation.rotation // 90) % 4):
        x, y = h - y, x  # a quarter turn clockwise of an h x w grid
        h, w = w, h
    return x, y


def unorient_point(point: tuple[float, float], shape: tuple[int, int], orientation: Orientation) -> tuple[float, float]:
    """The inverse of :func:`orient_point`: a displayed point -> the file's own grid (``shape`` is the file's)."""
    x, y = point
    h, w = oriented_shape(shape, orientation)
    for _ in range((orientation.rotation // 90) % 4):
        x, y = y, w - x  # a quarter turn anticlockwise of an h x w grid
        h, w = w, h
    if orientation.flip_v:
        y = h - y
    if orientation.flip_h:
        x = w - x
    return x, y


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


def jet_lut() -> np.ndarray:
    """(256, 3) uint8 'jet' colour scale: blue (low) - cyan - yellow - red (high), as Grad-CAM papers use."""
    x = np.linspace(0.0, 1.0, 256)
    r = np.clip(1.5 - np.abs(4.0 * x - 3.0), 0, 1)
    g = np.clip(1.5 - np.abs(4.0 * x - 2.0), 0, 1)
    b = np.clip(1.5 - np.abs(4.0 * x - 1.0), 0, 1)
    return to_uint8(np.stack([r, g, b], axis=1))


def heat_alpha(heat: np.ndarray) -> np.ndarray:
    """Per-pixel opacity in [0, 1] of the heat layer before the user's opacity slider."""
    return np.clip((heat - HEAT_ALPHA_START) / (HEAT_ALPHA_FULL - HEAT_ALPHA_START), 0.0, 1.0)


def heat_rgba(heat: np.ndarray) -> np.ndarray:
    """(H, W) heat in [0, 1] -> (H, W, 4) uint8 RGBA layer (straight alpha)."""
    lut = jet_lut()
    idx = to_uint8(heat)
    rgba = np.empty(heat.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[idx]
    rgba[..., 3] = to_uint8(heat_alpha(heat))
    return rgba


def composite(gray: np.ndarray, heat: np.ndarray | None, opacity: float) -> np.ndarray:
    """Gray (H, W) float in [0, 1] or uint8, plus an optional heat layer -> (H, W, 3) uint8 RGB."""
    g = gray.astype(np.float32) / 255.0 if gray.dtype == np.uint8 else gray.astype(np.float32)
    rgb = np.repeat(g[..., None], 3, axis=2)
    if heat is not None and opacity > 0:
        if heat.shape != g.shape:
            raise ValueError(f"heat map {heat.shape} does not match the image {g.shape}")
        colours = jet_lut()[to_uint8(heat)].astype(np.float32) / 255.0
        a = (heat_alpha(heat) * float(np.clip(opacity, 0.0, 1.0)))[..., None]
        rgb = rgb * (1.0 - a) + colours * a
    return to_uint8(rgb)


# the view's contour styles (cxrviewer/ui/heat_layer.py), for exports: hottest 10 % solid yellow, 20 % dashed orange
CONTOUR_COLOURS = {0.10: ((255, 235, 40), False), 0.20: ((255, 140, 30), True)}
CONTOUR_KEY = "lines: yellow = hottest 10 %, orange dashed = hottest 20 % of the map"


def draw_heat_contours(rgb: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 with the contour lines of ``heat`` (H, W, oriented alike) drawn on it, as the
    view draws them (a dark rim under each line); a line's width grows with the film so it survives a resize."""
    from .heat_contours import heat_contours

    if heat.shape != rgb.shape[:2]:
        raise ValueError(f"heat map {heat.shape} does not match the image {rgb.shape[:2]}")
    img = Image.fromarray(rgb, mode="RGB")
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 500))
    for contour in heat_contours(heat):
        nearest = min(CONTOUR_COLOURS, key=lambda f: abs(f - contour.fraction))
        colour, dashed = CONTOUR_COLOURS[nearest]
        for line in contour.lines:
            pieces = _dashes(line, 6.0 * width) if dashed else [line]
            for piece in pieces:
                points = [(float(x), float(y)) for x, y in piece]
                if len(points) >= 2:
                    draw.line(points, fill=(0, 0, 0), width=width + 2, joint="curve")
                    draw.line(points, fill=colour, width=width, joint="curve")
    return np.asarray(img)


def _dashes(line: np.ndarray, dash: float) -> list[np.ndarray]:
    """Split a polyline into pieces of ``dash`` length, every other one kept (a dashed line)."""
    steps = np.hypot(*np.diff(line, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    keep = (along // dash).astype(int) % 2 == 0
    pieces, current = [], []
    for point, on in zip(line, keep):
        if on:
            current.append(point)
        elif current:
            pieces.append(np.array(current + [point]))
            current = []
    if current:
        pieces.append(np.array(current))
    return pieces


def _wrapped(line: str, font, width: int) -> list[str]:
    """``line`` broken at spaces so each piece fits ``width`` px (a single over-long word stays whole)."""
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        trial = f"{current} {word}" if current else word
        if current and font.getlength(trial) > width:
            pieces.append(current)
            current = word
        else:
            current = trial
    return pieces + [current] if current or not pieces else pieces


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def colour_bar(height: int, width: int) -> np.ndarray:
    """(height, width, 3) vertical jet bar, high values at the top."""
    lut = jet_lut()
    idx = np.linspace(255, 0, height).astype(np.int64)
    return np.repeat(lut[idx][:, None, :], width, axis=1)


def export_image(
    rgb: np.ndarray,
    banner: list[str],
    heat_shown: bool,
    notes: list[str] | None = None,
    max_side: int = 2048,
    heat_key: str = "",
) -> Image.Image:
    """The exported view: the (oriented, composited) image under a black text strip with the banner and
    AI lines, and a labelled colour scale on the right when the heat layer is shown as a wash. ``heat_key``:
    a line saying what the map shows (e.g. the meaning and :data:`CONTOUR_KEY` for contour lines); with
    contours pass ``heat_shown=False`` and the key, as no colour scale applies."""
    img = Image.fromarray(rgb, mode="RGB")
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
        )
    size = max(14, img.height // 55)
    font = _font(size)
    bar_w = max(60, size * 4) if heat_shown else 0
    text = list(banner) + list(notes or []) + ([heat_key] if heat_key else [])
    lines = [part for line in text for part in _wrapped(line, font, img.width + bar_w - size)]
    line_h = int(size * 1.35)
    strip = line_h * len(lines) + size
    canvas = Image.new("RGB", (img.width + bar_w, img.height + strip), (0, 0, 0))
    canvas.paste(img, (0, strip))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((size // 2, size // 2 + i * line_h), line, fill=(235, 235, 235), font=font)
    if heat_shown:
        bar_h = img.height // 2
        bar = Image.fromarray(colour_bar(bar_h, size))
        x0, y0 = img.width + size // 2, strip + img.height // 4
        canvas.paste(bar, (x0, y0))
        draw.text((x0, y0 - line_h), "high", fill=(235, 235, 235), font=font)
        draw.text((x0, y0 + bar_h + 2), "low", fill=(235, 235, 235), font=font)
    return canvas
