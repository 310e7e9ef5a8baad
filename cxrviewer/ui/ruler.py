"""Distance measurements on the film: a line item and its length label, children of the image item.

A measurement keeps its ends in the file's own pixel grid (row, col), so its length never depends on how the
film is turned, and it is placed again with ``core.rendering.orient_point`` after a rotation or flip. The
label ignores the view's scale: it stays readable at any zoom.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem

from cxrviewer.core.pixel_spacing import UNCALIBRATED, Calibration, distance, format_length
from cxrviewer.core.rendering import Orientation, orient_point

LINE = QColor(80, 220, 255)


class LengthLabel(QGraphicsItem):
    """Text on a dark box, a fixed size on screen."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(4)
        self.text = ""
        self.font = QFont()
        self.font.setPointSizeF(10.5)
        self.font.setBold(True)

    def set_text(self, text: str) -> None:
        self.prepareGeometryChange()
        self.text = text

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt naming)
        fm = QFontMetricsF(self.font)
        return QRectF(6, -fm.height() - 8, fm.horizontalAdvance(self.text) + 10, fm.height() + 4)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        rect = self.boundingRect()
        painter.fillRect(rect, QColor(0, 0, 0, 200))
        painter.setFont(self.font)
        painter.setPen(LINE)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.text)


class Measurement:
    def __init__(self, parent: QGraphicsItem, start: tuple[float, float]):
        self.start = start  # (row, col) in the file's grid
        self.end = start
        self.halo = QGraphicsLineItem(parent)
        self.line = QGraphicsLineItem(parent)
        for item, colour, width in ((self.halo, QColor(0, 0, 0, 180), 4.0), (self.line, LINE, 2.0)):
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            item.setPen(pen)
            item.setZValue(3)
        self.label = LengthLabel(parent)

    def items(self) -> list[QGraphicsItem]:
        return [self.halo, self.line, self.label]

    def length(self, cal: Calibration) -> tuple[float, str]:
        return distance(cal, self.start, self.end)

    def place(self, shape: tuple[int, int], orientation: Orientation, cal: Calibration) -> None:
        """Draw the line in the displayed grid and write its length."""
        (x0, y0), (x1, y1) = (orient_point((c, r), shape, orientation) for r, c in (self.start, self.end))
        for item in (self.halo, self.line):
            item.setLine(QLineF(x0, y0, x1, y1))
        self.label.setPos(QPointF(x1, y1))
        value, unit = self.length(cal)
        self.label.set_text(format_length(value, unit) + ("" if cal.calibrated else " (uncalibrated)"))


class Ruler:
    """The measurements on the current film, with the calibration and geometry they are drawn with."""

    def __init__(self, parent: QGraphicsItem):
        self.parent = parent
        self.measurements: list[Measurement] = []
        self.calibration = UNCALIBRATED
        self.shape: tuple[int, int] | None = None  # the file's (rows, columns)
        self.orientation = Orientation()
        self._active: Measurement | None = None

    def set_geometry(self, shape: tuple[int, int] | None, orientation: Orientation) -> None:
        if shape != self.shape:
            self.clear()
        self.shape, self.orientation = shape, orientation
        self._place_all()

    def set_calibration(self, cal: Calibration) -> None:
        self.calibration = cal
        self._place_all()

    def begin(self, point: tuple[float, float]) -> None:
        """Start a measurement at ``point`` (row, col) of the file's grid."""
        self._active = Measurement(self.parent, point)
        self.measurements.append(self._active)
        self._place_all()

    def drag(self, point: tuple[float, float]) -> None:
        if self._active is not None:
            self._active.end = point
            self._place(self._active)

    def finish(self) -> Measurement | None:
        """End the drag; a click without a drag leaves nothing behind."""
        done, self._active = self._active, None
        if done is not None and done.start == done.end:
            self._remove(done)
            return None
        return done

    def active(self) -> bool:
        return self._active is not None

    def clear(self) -> None:
        for m in list(self.measurements):
            self._remove(m)
        self._active = None

    def _remove(self, m: Measurement) -> None:
        scene = self.parent.scene()
        for item in m.items():
            if scene is not None:
                scene.removeItem(item)
        self.measurements.remove(m)

    def _place(self, m: Measurement) -> None:
        if self.shape is not None:
            m.place(self.shape, self.orientation, self.calibration)

    def _place_all(self) -> None:
        for m in self.measurements:
            self._place(m)
