"""numpy arrays -> QImage/QPixmap (copies, so the numpy buffer may be freed afterwards)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(arr: np.ndarray) -> QImage:
    """(H, W) uint8 gray, (H, W, 3) uint8 RGB or (H, W, 4) uint8 RGBA (straight alpha)."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {arr.dtype}")
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        fmt, bpl = QImage.Format.Format_Grayscale8, w
    elif arr.shape[2] == 3:
        fmt, bpl = QImage.Format.Format_RGB888, 3 * w
    elif arr.shape[2] == 4:
        fmt, bpl = QImage.Format.Format_RGBA8888, 4 * w
    else:
        raise ValueError(f"unsupported pixel shape {arr.shape}")
    return QImage(arr.data, w, h, bpl, fmt).copy()


def to_pixmap(arr: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(arr))


def qimage_to_array(img: QImage) -> np.ndarray:
    """QImage -> (H, W, 4) uint8 RGBA copy (for tests comparing rendered pixels)."""
    img = img.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    return buf.reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4).copy()
