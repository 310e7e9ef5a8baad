"""The magnifier: a square lens beside the pointer showing the scene around it at ``MAGNIFICATION`` times the
current zoom (film, heat layer and measurements alike, since it renders the scene itself)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView

MAGNIFICATION = 3.0
LENS = 220  # px on screen
OFFSET = 24  # the lens sits beside the pointer, not under it


def lens_rect(cursor: QPointF, viewport: QRectF) -> QRectF:
    """Where the lens goes: right of and below the pointer, moved inside the viewport when it would leave it."""
    x = cursor.x() + OFFSET
    y = cursor.y() + OFFSET
    if x + LENS > viewport.right():
        x = cursor.x() - OFFSET - LENS
    if y + LENS > viewport.bottom():
        y = cursor.y() - OFFSET - LENS
    x = max(viewport.left(), min(x, viewport.right() - LENS))
    y = max(viewport.top(), min(y, viewport.bottom() - LENS))
    return QRectF(x, y, LENS, LENS)


def source_rect(view: QGraphicsView, cursor: QPointF) -> QRectF:
    """The scene area the lens shows: centred on the scene point under the pointer."""
    centre = view.mapToScene(cursor.toPoint())
    side = LENS / (max(view.transform().m11(), 1e-6) * MAGNIFICATION)
    return QRectF(centre.x() - side / 2, centre.y() - side / 2, side, side)


def draw_magnifier(view: QGraphicsView, painter: QPainter, cursor: QPointF) -> QRectF:
    """Paint the lens (``painter`` in viewport coordinates); returns where it was drawn."""
    vp = QRectF(view.viewport().rect())
    target = lens_rect(cursor, vp)
    painter.save()
    painter.fillRect(target, QColor(0, 0, 0))
    painter.setClipRect(target)
    scene = view.scene()
    if scene is not None:
        scene.render(painter, target, source_rect(view, cursor), Qt.AspectRatioMode.KeepAspectRatio)
    painter.setClipping(False)
    painter.setPen(QPen(QColor(230, 230, 230), 2))
    painter.drawRect(target)
    c = target.center()
    painter.setPen(QPen(QColor(255, 255, 255, 160), 1))
    painter.drawLine(QPointF(c.x() - 8, c.y()), QPointF(c.x() + 8, c.y()))
    painter.drawLine(QPointF(c.x(), c.y() - 8), QPointF(c.x(), c.y() + 8))
    painter.restore()
    return target
