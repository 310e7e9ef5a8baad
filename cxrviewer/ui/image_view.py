"""The image canvas: fit/zoom/pan, right-drag window/level, a heat-map layer and an overlay banner.

The heat layer is a child item of the image item and both pixmaps are oriented by the same core
call, so the layer stays aligned with the image under zoom, pan, rotation and flips.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from .qimage import to_pixmap

BACKGROUND = QColor(0, 0, 0)
TEXT = QColor(235, 235, 235)
WARNING = QColor(255, 200, 60)
ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 40.0


class ImageView(QGraphicsView):
    window_drag = Signal(float, float)  # (dx, dy) in viewport pixels while right-dragging
    window_drag_finished = Signal()
    zoom_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setAcceptDrops(False)  # drops go to the main window
        self.viewport().setAcceptDrops(False)
        self._image = QGraphicsPixmapItem()
        self._image.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._image)
        self._heat = QGraphicsPixmapItem(self._image)
        self._heat.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat.setZValue(1)
        self._heat.setVisible(False)
        self._has_heat = False
        self._fit = True
        self._right_drag: QPointF | None = None
        self.banner: list[str] = []
        self.info: list[str] = []
        self.alert = ""
        self.alert_colour = WARNING
        self.placeholder = "Drop chest X-ray files or folders here, or use File ▸ Open"

    # -- content ---------------------------------------------------------------------------------
    def has_image(self) -> bool:
        return not self._image.pixmap().isNull()

    def set_image(self, gray: np.ndarray | None, refit: bool = False) -> None:
        """Show (H, W) uint8 display pixels; ``refit`` (or a change of shape) fits it to the window."""
        if gray is None:
            self._image.setPixmap(QPixmap())
            self.clear_heat()
            self.scene().setSceneRect(QRectF())
            self.viewport().update()
            return
        old = self._image.pixmap().size()
        self._image.setPixmap(to_pixmap(gray))
        new = self._image.pixmap().size()
        self.scene().setSceneRect(QRectF(0, 0, new.width(), new.height()))
        if refit or old != new or self._fit:
            self.fit_to_window()
        self.viewport().update()

    def set_heat(self, rgba: np.ndarray | None) -> None:
        if rgba is None:
            self.clear_heat()
            return
        self._heat.setPixmap(to_pixmap(rgba))
        self._has_heat = True
        self.viewport().update()

    def clear_heat(self) -> None:
        self._heat.setPixmap(QPixmap())
        self._has_heat = False
        self._heat.setVisible(False)
        self.viewport().update()

    def set_heat_visible(self, visible: bool) -> None:
        self._heat.setVisible(bool(visible and self._has_heat))
        self.viewport().update()

    def heat_visible(self) -> bool:
        return self._heat.isVisible()

    def set_heat_opacity(self, opacity: float) -> None:
        self._heat.setOpacity(max(0.0, min(1.0, opacity)))
        self.viewport().update()

    def set_overlay(self, banner: list[str], info: list[str], alert: str = "", alert_colour: str = "") -> None:
        """``alert``: one line at the bottom (the AI verdict), drawn in ``alert_colour`` (default: warning amber)."""
        self.banner, self.info, self.alert = list(banner), list(info), alert
        self.alert_colour = QColor(alert_colour) if alert_colour else WARNING
        self.viewport().update()

    # -- zoom / fit ------------------------------------------------------------------------------
    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit_to_window(self) -> None:
        self._fit = True
        if self.has_image():
            self.resetTransform()
            self.fitInView(self._image, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.scale_factor())

    def zoom(self, factor: float) -> None:
        if not self.has_image():
            return
        current = self.scale_factor()
        factor = max(MIN_SCALE / current, min(MAX_SCALE / current, factor))
        self._fit = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.scale_factor())

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(1.0)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if self._fit:
            self.fit_to_window()

    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_STEP**steps)
        event.accept()

    # -- right-drag window/level -----------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            self._right_drag = event.position()
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._right_drag is not None:
            pos = event.position()
            delta = pos - self._right_drag
            self._right_drag = pos
            self.window_drag.emit(delta.x(), delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton and self._right_drag is not None:
            self._right_drag = None
            self.viewport().unsetCursor()
            self.window_drag_finished.emit()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - right button is window/level here
        event.accept()

    # -- overlay ---------------------------------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802
        painter.save()
        painter.resetTransform()
        vp = self.viewport().rect()
        font = QFont(self.font())
        font.setPointSizeF(max(10.0, self.font().pointSizeF() * 1.1))
        painter.setFont(font)
        fm = painter.fontMetrics()
        line_h = fm.height() + 2
        margin = 10
        if not self.has_image():
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(vp, Qt.AlignmentFlag.AlignCenter, self.placeholder)
            painter.restore()
            return
        self._text_block(painter, self.banner, margin, margin, line_h, left=True)
        self._text_block(painter, self.info, vp.width() - margin, margin, line_h, left=False)
        if self.alert:
            bold = QFont(font)
            bold.setBold(True)
            painter.setFont(bold)
            text_w = painter.fontMetrics().horizontalAdvance(self.alert)
            box = QRectF(
                margin, vp.height() - margin - line_h - 6, min(text_w + 16, vp.width() - 2 * margin), line_h + 6
            )
            painter.fillRect(box, QColor(0, 0, 0, 200))
            painter.setPen(self.alert_colour)
            painter.drawText(box.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter, self.alert)
            painter.setFont(font)
        if self._heat.isVisible():
            self._colour_scale(painter, vp, margin, fm)
        painter.restore()

    def _text_block(self, painter, lines, x, y, line_h, left):
        fm = painter.fontMetrics()
        for i, line in enumerate(lines):
            w = fm.horizontalAdvance(line)
            x0 = x if left else x - w
            base = y + i * line_h
            painter.fillRect(QRectF(x0 - 4, base, w + 8, line_h), QColor(0, 0, 0, 190))
            painter.setPen(TEXT)
            painter.drawText(QPointF(x0, base + fm.ascent() + 1), line)

    def _colour_scale(self, painter, vp, margin, fm):
        from cxrviewer.core.rendering import jet_lut

        label_w = max(fm.horizontalAdvance(t) for t in ("Grad-CAM", "high", "low"))
        bar_w, bar_h = 14, max(80, min(220, vp.height() // 3))
        box_w = label_w + bar_w + 20
        x0 = vp.width() - margin - box_w
        y = vp.height() - margin - bar_h - fm.height() - 6
        painter.fillRect(QRectF(x0, y - fm.height() - 10, box_w, bar_h + 2 * fm.height() + 16), QColor(0, 0, 0, 170))
        x = x0 + box_w - bar_w - 6
        grad = QLinearGradient(0, y, 0, y + bar_h)
        lut = jet_lut()
        for stop in np.linspace(0.0, 1.0, 9):
            r, g, b = lut[int(round((1.0 - stop) * 255))]
            grad.setColorAt(stop, QColor(int(r), int(g), int(b)))
        painter.fillRect(QRectF(x, y, bar_w, bar_h), grad)
        painter.setPen(QPen(TEXT))
        painter.drawRect(QRectF(x, y, bar_w, bar_h))
        painter.drawText(QPointF(x0 + 5, y - 6), "Grad-CAM")
        painter.drawText(QPointF(x0 + 5, y + fm.ascent()), "high")
        painter.drawText(QPointF(x0 + 5, y + bar_h), "low")
