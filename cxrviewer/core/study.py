"""Load a study (PNG, JPEG or DICOM) into a grayscale float image in display orientation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import StudyError, UnreadableStudyError, UnsupportedStudyError, one_line
from .reduced_decode import draft_bitmap
from .windowing import apply_window

# Refuse images whose decoded size would not fit comfortably in a viewer's memory.
MAX_PIXELS = 60_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

DICOM_MAGIC_OFFSET = 128
DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic"})


@dataclass
class Study:
    """One image ready for display and inference.

    ``pixels`` is float32, shape (H, W), 0 = black and 1 = white as a radiologist expects to see it
    (DICOM windowing and MONOCHROME1 inversion already applied). ``metadata`` holds what the banner,
    the worklist and the input checks need; DICOM-only keys are absent for bitmap files.
    """

    path: Path
    pixels: np.ndarray
    metadata: dict = field(default_factory=dict)
    raw: np.ndarray | None = None  # values before windowing (modality units for DICOM, grey levels else)
    default_window: tuple[float, float] = (0.5, 1.0)  # (centre, width) in raw units: the file's own view
    invert: bool = False  # MONOCHROME1: high raw values are shown dark

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.pixels.shape
        return int(h), int(w)

    @property
    def file_shape(self) -> tuple[int, int]:
        """(H, W) of the file's own image: ``shape``, unless it was decoded reduced for scoring."""
        if self.metadata.get("decode_scale", 1) != 1:
            return int(self.metadata["rows"]), int(self.metadata["columns"])
        return self.shape

    def render(self, centre: float, width: float) -> np.ndarray:
        """Display pixels for an interactive window (centre, width) given in raw units."""
        source = self.raw if self.raw is not None else self.pixels
        out = apply_window(source, centre, width)
        return 1.0 - out if self.invert else out


def is_dicom_file(path: Path) -> bool:
    """True for DICOM content: a Part 10 file (preamble + DICM) or a raw dataset without file meta (ACR-NEMA,
    legacy CR exports), whatever the file is called."""
    from .sniff import is_dicom_content

    return is_dicom_content(path)


def load_study(path: str | os.PathLike, frame: int = 0, min_side: int | None = None) -> Study:
    """Read a PNG, JPEG or DICOM file. Raises a :class:`~cxrviewer.core.errors.StudyError` subclass.

    The content decides how the file is read (DICOM preamble or raw dataset, PNG or JPEG magic); the suffix
    is only a hint. ``frame`` (0-based) picks one frame of a multi-frame DICOM (``metadata['frames']``).
    ``min_side`` (scoring only, never the screen): JPEG and JPEG 2000 are decoded at a reduced scale that
    keeps the shorter side at least this long (:mod:`~cxrviewer.core.reduced_decode`); the factor used is
    ``metadata['decode_scale']`` and ``metadata['rows'/'columns']`` stay the file's own size.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableStudyError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    if not path.is_file():
        raise UnreadableStudyError(f"{path.name}: not a regular file")
    if size == 0:
        raise UnreadableStudyError(f"{path.name}: the file is empty (0 bytes)")
    try:
        open(path, "rb").close()
    except OSError as exc:  # e.g. no read permission: say so instead of "corrupt"
        raise UnreadableStudyError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    from .sniff import DICOM_KINDS, JPEG, PNG, sniff_file

    kind = sniff_file(path)
    try:
        if kind in DICOM_KINDS:
            from .dicom import load_dicom  # imported lazily: pydicom is only needed for DICOM files

            return load_dicom(path, frame=frame, min_side=min_side)
        if kind not in (PNG, JPEG) and path.suffix.lower() in DICOM_SUFFIXES:
            raise UnreadableStudyError(
                f"{path.name}: not a DICOM file: no DICOM header found (the file is damaged, truncated or "
                "of another kind); copy or export the film again"
            )
        return _load_bitmap(path, frame, min_side)
    except StudyError as exc:
        message = str(exc)
        if "\n" in message or len(message) > 400:  # the user sees one line
            raise type(exc)(one_line(message)) from exc
        raise


def _load_bitmap(path: Path, frame: int = 0, min_side: int | None = None) -> Study:
    if frame != 0:
        raise UnsupportedStudyError(f"{path.name}: frame {frame + 1} was asked for, but the image has one frame")
    try:
        with Image.open(path) as img:
            fmt = img.format
            mode = img.mode
            if img.width * img.height == 0:
                raise UnsupportedStudyError(f"{path.name}: the image has no pixels ({img.width}x{img.height})")
            if img.width * img.height > MAX_PIXELS:  # Pillow itself only refuses beyond twice its limit
                raise UnsupportedStudyError(
                    f"{path.name}: {img.width}x{img.height} pixels is larger than this "
                    f"viewer accepts ({MAX_PIXELS:,} pixels)"
                )
            if getattr(img, "n_frames", 1) > 1:
                raise UnsupportedStudyError(f"{path.name}: animated / multi-frame images are not supported")
            full_size = img.size
            scale = draft_bitmap(img, min_side)  # before the first pixel is decoded
            img = ImageOps.exif_transpose(img)  # type: ignore[assignment]  # phones and some exporters store rotation in EXIF
            pixels, is_colour = _to_gray_float(img)
    except UnidentifiedImageError as exc:
        raise UnreadableStudyError(
            f"{path.name}: not a readable PNG/JPEG/DICOM image (the content is of no image format this viewer "
            "reads); open the original film file"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise UnreadableStudyError(f"{path.name}: not a readable PNG/JPEG/DICOM image ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableStudyError(f"{path.name}: the image is corrupt or truncated ({exc})") from exc
    rows, columns = pixels.shape if scale == 1 else (full_size[1], full_size[0])
    if scale != 1 and (pixels.shape[0] > pixels.shape[1]) != (rows > columns):
        rows, columns = columns, rows  # EXIF turned the film a quarter
    metadata = {
        "format": fmt,
        "mode": mode,
        "rows": rows,
        "columns": columns,
        "is_colour": is_colour,
        "frames": 1,
        "frame": 0,
    }
    if scale != 1:
        metadata["decode_scale"] = scale
    top = 255.0
    return Study(path=path, pixels=pixels, metadata=metadata, raw=pixels * top, default_window=(top / 2, top))


def _to_gray_float(img: Image.Image) -> tuple[np.ndarray, bool]:
    """Grayscale float32 in [0, 1], plus whether the source carried real colour."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        top = 65535.0 if arr.max() > 255 else 255.0
        return np.clip(arr / top, 0.0, 1.0), False
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr), False
    if img.mode in ("L", "1"):
        return np.asarray(img.convert("L"), dtype=np.float32) / 255.0, False
    if img.mode in ("LA", "P", "PA", "RGBA", "CMYK", "YCbCr", "RGB", "RGBX", "HSV", "LAB"):
        if img.mode in ("LA", "PA", "RGBA") or (img.mode == "P" and "transparency" in img.info):
            # Composite on black: transparent areas carry no radiograph.
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            img = Image.alpha_composite(background, rgba)
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
        spread = np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean()
        gray = np.asarray(img.convert("RGB").convert("L"), dtype=np.float32) / 255.0
        return gray, bool(spread > 2.0)  # JPEG chroma noise stays well under 2 grey levels
    raise UnsupportedStudyError(f"unsupported image mode {img.mode}")
