"""Worklist thumbnails: small pictures of each study's images, drawn in its Images column.

Thumbnails come from the decode pool's own decode (core/decode_pool.thumbnail), so showing them costs no
extra decoding; until a study has been decoded its images show their view label only. A lateral (not
scored) is dimmed, with a dashed frame; a click on it shows it on the main view (labelled "not scored").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from .qimage import to_qimage
from .worklist_model import COL_IMAGES, Entry, ImageRef

THUMB_HEIGHT = 40  # pixels on screen per thumbnail (the row is a little taller)
ROW_HEIGHT = THUMB_HEIGHT + 6


class ThumbnailStore:
    """QImages by file path (at most ``limit``; the oldest go first)."""

    def __init__(self, limit: int = 5000):
        self.limit = limit
        self._images: dict[Path, QImage] = {}

    def put(self, path: Path, pixels: np.ndarray) -> bool:
        if pixels is None or pixels.size == 0:
            return False
        self._images[Path(path)] = to_qimage(np.ascontiguousarray(pixels, dtype=np.uint8))
        while len(self._images) > self.limit:
            self._images.pop(next(iter(self._images)))
        return True

    def get(self, path: Path) -> QImage | None:
        return self._images.get(Path(path))

    def __contains__(self, path: object) -> bool:
        return isinstance(path, Path) and path in self._images

    def clear(self) -> None:
        self._images.clear()


class ImagesDelegate(QStyledItemDelegate):
    """Paints the Images column: a thumbnail per image of the study (or its label until decoded), the one on
    screen framed; a click on one calls ``on_image(entry, image)`` (a lateral is shown on its own)."""

    def __init__(self, store: ThumbnailStore, entry_at, on_image=None, parent=None):
        super().__init__(parent)
        self.store = store
        self._entry_at = entry_at  # table index -> Entry
        self._on_image = on_image
        self.shown: Path | None = None  # the image on the main view

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 - Qt's name
        return QSize(THUMB_HEIGHT * 3, ROW_HEIGHT)

    def boxes(self, entry: Entry, rect: QRect) -> list[tuple[ImageRef, QRect]]:
        """Where each of the row's images is drawn in the cell ``rect`` (those that fit)."""
        x, top, out = rect.x() + 2, rect.y() + (rect.height() - THUMB_HEIGHT) // 2, []
        for image in entry.images:
            thumb = self.store.get(image.path)
            width = THUMB_HEIGHT if thumb is None else max(8, thumb.width() * THUMB_HEIGHT // max(1, thumb.height()))
            if x + width > rect.right():
                break
            out.append((image, QRect(x, top, width, THUMB_HEIGHT)))
            x += width + 4
        return out

    def editorEvent(self, event, model, option, index) -> bool:  # noqa: N802 - Qt's name
        """A click or double-click on a thumbnail shows that image; the row is selected as usual (False: not
        consumed)."""
        if (
            self._on_image is not None
            and event.type() in (QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick)
            and event.button() == Qt.MouseButton.LeftButton
        ):
            entry = self._entry_at(index) if index.column() == COL_IMAGES else None
            point = event.position().toPoint()
            boxes = self.boxes(entry, option.rect) if entry is not None else []
            hit = next((image for image, box in boxes if box.contains(point)), None)
            if entry is not None and hit is not None:
                self._on_image(entry, hit)
        return False

    def paint(self, painter: QPainter, option, index) -> None:
        entry: Entry | None = self._entry_at(index) if index.column() == COL_IMAGES else None
        if entry is None or not entry.images:
            super().paint(painter, option, index)
            return
        painter.save()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        for image, box in self.boxes(entry, option.rect):
            thumb = self.store.get(image.path)
            if thumb is not None:
                painter.drawImage(box, thumb)
            else:
                painter.fillRect(box, QColor(45, 45, 45))
            if not image.scored:
                painter.fillRect(box, QColor(0, 0, 0, 110))  # dimmed: shown, not scored
            pen = QPen(QColor(230, 230, 230) if image.scored else QColor(150, 150, 150))
            pen.setStyle(Qt.PenStyle.SolidLine if image.scored else Qt.PenStyle.DashLine)
            if image.path == self.shown and len(entry.images) > 1:  # which of the study's images is on screen
                pen = QPen(QColor(255, 220, 120), 2)
            painter.setPen(pen)
            painter.drawRect(box.adjusted(0, 0, -1, -1))
            label = image.label[:4]
            tag = QRect(box.x() + 1, box.bottom() - 12, min(box.width() - 2, 7 * len(label) + 4), 12)
            painter.fillRect(tag, QColor(0, 0, 0, 170))
            painter.setPen(QColor(255, 220, 120) if image.scored else QColor(200, 200, 200))
            painter.drawText(tag.adjusted(2, 0, 0, 0), int(Qt.AlignmentFlag.AlignVCenter), label)
        painter.restore()
