"""What the image view paints over the film, in viewport pixels: text blocks, the verdict line, the heat-map
key, orientation markers, the scale bar and the pixel readout.

Every text is fitted to the viewport (elided, or wrapped over a few lines) so nothing runs off the edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QPainter, QPainterPath, QPen

from cxrviewer.core.orientation_markers import Markers
from cxrviewer.core.pixel_spacing import format_length, screen_mm_per_pixel
from cxrviewer.core.pixel_spacing import scale_bar as nice_scale_bar
from cxrviewer.core.rendering import jet_lut

from .heat_layer import CONTOURS, contour_pen
from .magnifier import draw_magnifier

if TYPE_CHECKING:
    from .image_view import ImageView

TEXT = QColor(235, 235, 235)
MUTED = QColor(170, 170, 170)
MARKER = QColor(255, 255, 255)
BOX = QColor(0, 0, 0, 190)
MAX_ALERT_LINES = 3


def wrap_lines(fm: QFontMetrics, text: str, width: int, max_lines: int = MAX_ALERT_LINES) -> list[str]:
    """Word-wrap ``text`` to ``width`` px; words longer than a line are elided, and so is the last line."""
    width = max(int(width), 20)
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if fm.horizontalAdvance(trial) <= width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1 :])]
    return [fm.elidedText(line, Qt.TextElideMode.ElideRight, width) for line in lines]


def text_block(painter: QPainter, lines: list[str], x: float, y: float, max_w: float, left: bool) -> QRectF:
    """Lines on dark boxes from (x, y), anchored left or right, each elided to ``max_w``; returns the area."""
    fm = painter.fontMetrics()
    line_h = fm.height() + 2
    area = QRectF()
    for i, line in enumerate(lines):
        line = fm.elidedText(line, Qt.TextElideMode.ElideRight, int(max(max_w, 20)))
        w = fm.horizontalAdvance(line)
        x0 = x if left else x - w
        top = y + i * line_h
        box = QRectF(x0 - 4, top, w + 8, line_h)
        painter.fillRect(box, BOX)
        painter.setPen(TEXT)
        painter.drawText(QPointF(x0, top + fm.ascent() + 1), line)
        area = area.united(box)
    return area


def alert_box(painter: QPainter, text: str, colour: QColor, left: float, bottom: float, max_w: float) -> float:
    """The verdict line, bold, wrapped to ``max_w``; drawn upwards from ``bottom``; returns its top."""
    font = QFont(painter.font())
    font.setBold(True)
    painter.save()
    painter.setFont(font)
    fm = painter.fontMetrics()
    lines = wrap_lines(fm, text, int(max_w - 16))
    line_h = fm.height() + 2
    w = max(fm.horizontalAdvance(line) for line in lines) + 16
    box = QRectF(left, bottom - len(lines) * line_h - 6, min(w, max_w), len(lines) * line_h + 6)
    painter.fillRect(box, QColor(0, 0, 0, 200))
    painter.setPen(colour)
    for i, line in enumerate(lines):
        painter.drawText(QPointF(box.left() + 8, box.top() + 3 + i * line_h + fm.ascent()), line)
    painter.restore()
    return box.top()


def legend_width(fm: QFontMetrics, vp_width: int) -> int:
    return int(min(max(150, fm.horizontalAdvance("Regions that raised the") + 24), vp_width * 0.4))


def heat_legend(painter: QPainter, kind: str, meaning: str, vp: QRectF, margin: float) -> float:
    """The key of the heat layer in the bottom-right corner: what the map means, then the wash's colour bar or
    the two contour line styles. Returns the key's width (0 when ``kind`` is "")."""
    if not kind:
        return 0.0
    right, bottom, vp_h = vp.width() - margin, vp.height() - margin, int(vp.height())
    fm = painter.fontMetrics()
    line_h = fm.height() + 2
    box_w = legend_width(fm, int(vp.width()))
    title = wrap_lines(fm, meaning, box_w - 12, max_lines=3)
    if kind == CONTOURS:
        body_h = 2 * line_h + 4
    else:
        body_h = max(70, min(180, vp_h // 4))
    box_h = len(title) * line_h + body_h + 14
    x0, y0 = right - box_w, bottom - box_h
    painter.fillRect(QRectF(x0, y0, box_w, box_h), QColor(0, 0, 0, 170))
    painter.setPen(TEXT)
    for i, line in enumerate(title):
        painter.drawText(QPointF(x0 + 6, y0 + 4 + i * line_h + fm.ascent()), line)
    y = y0 + 8 + len(title) * line_h
    if kind == CONTOURS:
        for i, (fraction, label) in enumerate(((0.10, "hottest 10 %"), (0.20, "hottest 20 %"))):
            mid = y + i * line_h + line_h / 2
            for halo in (True, False):
                painter.setPen(contour_pen(fraction, halo))
                painter.drawLine(QPointF(x0 + 8, mid), QPointF(x0 + 30, mid))
            painter.setPen(TEXT)
            label = fm.elidedText(label, Qt.TextElideMode.ElideRight, int(box_w - 44))
            painter.drawText(QPointF(x0 + 38, mid - line_h / 2 + fm.ascent()), label)
        return float(box_w)
    bar_w = 14
    bar = QRectF(x0 + 8, y, bar_w, body_h - 2)
    grad = QLinearGradient(0, bar.top(), 0, bar.bottom())
    lut = jet_lut()
    for stop in np.linspace(0.0, 1.0, 9):
        r, g, b = lut[int(round((1.0 - stop) * 255))]
        grad.setColorAt(float(stop), QColor(int(r), int(g), int(b)))
    painter.fillRect(bar, grad)
    painter.setPen(QPen(TEXT))
    painter.drawRect(bar)
    painter.drawText(QPointF(bar.right() + 8, bar.top() + fm.ascent()), "more")
    painter.drawText(QPointF(bar.right() + 8, bar.bottom()), "less")
    return float(box_w)


def outlined_text(painter: QPainter, x: float, y: float, text: str) -> None:
    """White letters with a black outline: readable on white bone and on black air alike."""
    path = QPainterPath()
    path.addText(QPointF(x, y), painter.font(), text)
    painter.setPen(QPen(QColor(0, 0, 0, 230), 3.0))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(path)
    painter.fillPath(path, MARKER)


def orientation_markers(
    painter: QPainter, markers: Markers | None, image_rect: QRectF, vp: QRectF, corners: list[QRectF], bottom: float
) -> None:
    """The edge letters at the middle of each edge of the visible part of the film, and the view under the top
    one. A letter moves clear of the corner text blocks (``corners``) and stays above ``bottom``."""
    if markers is None or (markers.edges is None and not markers.view):
        return
    area = image_rect.intersected(vp)
    if area.isEmpty():
        return
    painter.save()
    font = QFont(painter.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * 1.5)
    painter.setFont(font)
    fm = painter.fontMetrics()
    pad = 8
    edges = markers.edges
    cx, cy = area.center().x(), area.center().y()
    top = area.top() + pad
    for block in corners:  # e.g. a long banner reaching the middle of a narrow viewport
        if block.left() <= cx + 20 and block.right() >= cx - 20 and block.top() <= top + fm.height():
            top = max(top, block.bottom() + 4)
    if edges is not None:
        spots = (
            (edges.top, cx - fm.horizontalAdvance(edges.top) / 2, top + fm.ascent()),
            (
                edges.bottom,
                cx - fm.horizontalAdvance(edges.bottom) / 2,
                min(area.bottom(), bottom) - pad - fm.descent(),
            ),
            (edges.left, area.left() + pad, cy + fm.ascent() / 2),
            (edges.right, area.right() - pad - fm.horizontalAdvance(edges.right), cy + fm.ascent() / 2),
        )
        for text, x, y in spots:
            outlined_text(painter, x, y, text)
        top += fm.height() + 2
    painter.restore()
    sub = " · ".join(t for t in (markers.view, markers.note) if t)
    if sub:
        small = painter.fontMetrics()
        sub = small.elidedText(sub, Qt.TextElideMode.ElideRight, int(area.width() * 0.5))
        w = small.horizontalAdvance(sub)
        painter.fillRect(QRectF(cx - w / 2 - 4, top, w + 8, small.height() + 2), BOX)
        painter.setPen(MUTED if markers.note else TEXT)
        painter.drawText(QPointF(cx - w / 2, top + small.ascent() + 1), sub)


def scale_bar(painter: QPainter, length_px: float, label: str, left: float, bottom: float, max_w: float) -> float:
    """A horizontal bar ``length_px`` long with end ticks and its label above it; returns the label's top."""
    fm = painter.fontMetrics()
    y = bottom - 4
    if length_px > 0:
        painter.setPen(QPen(QColor(0, 0, 0, 200), 5))
        painter.drawLine(QPointF(left, y), QPointF(left + length_px, y))
        painter.setPen(QPen(TEXT, 2))
        painter.drawLine(QPointF(left, y), QPointF(left + length_px, y))
        painter.drawLine(QPointF(left, y - 6), QPointF(left, y))
        painter.drawLine(QPointF(left + length_px, y - 6), QPointF(left + length_px, y))
        y -= 10
    top = y - (fm.height() + 2)
    text_block(painter, [label], left, top, max_w, True)
    return top


def calibrated_scale_bar(view: ImageView, painter: QPainter, left: float, bottom: float, max_w: float) -> float:
    """The scale bar for the view's calibration, zoom and rotation, labelled with its source."""
    cal = view.calibration
    mm_per_px = screen_mm_per_pixel(cal, view.orientation.rotation, view.scale_factor())
    if mm_per_px is None:
        return scale_bar(painter, 0.0, cal.source, left + 4, bottom, max_w)
    length_mm, length_px = nice_scale_bar(mm_per_px, min(max_w * 0.5, 260.0))
    return scale_bar(painter, length_px, f"{format_length(length_mm, 'mm')} · {cal.source}", left + 4, bottom, max_w)


def paint(view: ImageView, painter: QPainter) -> None:
    """Everything over the film, in viewport pixels: corners first, then what must keep clear of them."""
    painter.save()
    painter.resetTransform()
    vp = QRectF(view.viewport().rect())
    font = QFont(view.font())
    font.setPointSizeF(max(10.0, view.font().pointSizeF() * 1.1))
    painter.setFont(font)
    fm = painter.fontMetrics()
    margin = 10
    if not view.has_image():
        painter.setPen(QColor(150, 150, 150))
        painter.drawText(vp, Qt.AlignmentFlag.AlignCenter, view.placeholder)
        painter.restore()
        return
    info_w = min(max((fm.horizontalAdvance(line) for line in view.info), default=0), int(vp.width() * 0.4))
    banner = text_block(painter, view.banner, margin, margin, vp.width() - 3 * margin - info_w - 16, True)
    info = text_block(painter, view.info, vp.width() - margin, margin, info_w, left=False)
    legend_w = heat_legend(painter, view.heat_layer.legend(), view.heat_meaning, vp, margin)
    bottom = vp.height() - margin
    left_w = vp.width() - 2 * margin - (legend_w + margin if legend_w else 0)
    if view.alert:
        bottom = alert_box(painter, view.alert, view.alert_colour, margin, bottom, left_w) - 6
    if view.markers_visible and view.file_shape is not None:
        bottom = calibrated_scale_bar(view, painter, margin, bottom, left_w) - 4
    readout = view.readout()
    if readout:
        text_block(painter, [readout], margin + 4, bottom - fm.height() - 2, left_w, left=True)
    if view.markers_visible:
        orientation_markers(painter, view.markers, view.image_rect(), vp, [banner, info], bottom)
    cursor = view.cursor_position()
    if view.magnifier and cursor is not None and view.file_point(cursor) is not None:
        draw_magnifier(view, painter, cursor)
    painter.restore()
