"""The image canvas: fit/zoom/pan, right-drag window/level, the heat layer, measurements, and what is painted
over the film (banner, verdict, heat key, orientation markers, scale bar, pixel value, magnifier).

The heat layer and the measurements are children of the image item, and the pixmaps are oriented by the
same core call, so everything on the film stays aligned under zoom, pan, rotation and flips.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from cxrviewer.core.orientation_markers import Markers
from cxrviewer.core.pixel_spacing import UNCALIBRATED, Calibration
from cxrviewer.core.rendering import Orientation, unorient_point

from . import view_overlay as overlay
from .heat_layer import HeatLayer
from .qimage import to_pixmap
from .ruler import Ruler

BACKGROUND = QColor(0, 0, 0)
WARNING = QColor(255, 200, 60)
ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 40.0
PAN, RULER = "pan", "ruler"
DEFAULT_MEANING = "Regions that raised the pneumonia score"


class ImageView(QGraphicsView):
    window_drag = Signal(float, float)  # (dx, dy) in viewport pixels while right-dragging
    window_drag_finished = Signal()
    zoom_changed = Signal(float)
    view_changed = Signal()  # zoom or pan moved (for a linked comparison viewport)
    measured = Signal(str)  # a finished measurement, in words
    image_changed = Signal()  # the film was drawn again (new study, window, orientation) or taken off
    overlay_changed = Signal()  # new banner / info / verdict text (e.g. anonymise switched)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setAcceptDrops(False)  # drops go to the main window
        self.viewport().setAcceptDrops(False)
        self.viewport().setMouseTracking(True)  # the pixel value and the magnifier follow the pointer
        self._image = QGraphicsPixmapItem()
        self._image.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._image)
        self.heat_layer = HeatLayer(self._image)
        self._heat = self.heat_layer.wash
        self.ruler = Ruler(self._image)
        self._fit = True
        self._right_drag: QPointF | None = None
        self._cursor: QPointF | None = None
        self.tool = PAN
        self.magnifier = False
        self.markers: Markers | None = None
        self.markers_visible = True
        self.heat_meaning = DEFAULT_MEANING
        self.calibration: Calibration = UNCALIBRATED
        self.file_shape: tuple[int, int] | None = None  # the study's own (rows, columns)
        self.orientation = Orientation()
        self.value_probe: Callable[[int, int], str] | None = None  # (row, col) of the file -> value text
        self.banner: list[str] = []
        self.info: list[str] = []
        self.alert = ""
        self.alert_colour = WARNING
        self.placeholder = "Drop chest X-ray files or folders here, or use File ▸ Open"
        self.horizontalScrollBar().valueChanged.connect(lambda _v: self.view_changed.emit())
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.view_changed.emit())

    # -- content ---------------------------------------------------------------------------------
    def has_image(self) -> bool:
        return not self._image.pixmap().isNull()

    def set_image(self, gray: np.ndarray | None, refit: bool = False) -> None:
        """Show (H, W) uint8 display pixels; ``refit`` (or a change of shape) fits it to the window."""
        if gray is None:
            self._image.setPixmap(QPixmap())
            self.clear_heat()
            self.ruler.clear()
            self.scene().setSceneRect(QRectF())
            self.viewport().update()
            self.image_changed.emit()
            return
        old = self._image.pixmap().size()
        self._image.setPixmap(to_pixmap(gray))
        new = self._image.pixmap().size()
        self.scene().setSceneRect(QRectF(0, 0, new.width(), new.height()))
        if refit or old != new or self._fit:
            self.fit_to_window()
        self.viewport().update()
        self.image_changed.emit()

    def set_geometry(self, file_shape: tuple[int, int] | None, orientation: Orientation) -> None:
        """The study's own (rows, columns) and how it is turned on screen: for measurements and the readout.
        A new shape (another film) removes the measurements."""
        self.file_shape, self.orientation = file_shape, orientation
        self.ruler.set_geometry(file_shape, orientation)
        self.viewport().update()

    def set_calibration(self, cal: Calibration) -> None:
        self.calibration = cal
        self.ruler.set_calibration(cal)
        self.viewport().update()

    def set_markers(self, markers: Markers | None) -> None:
        self.markers = markers
        self.viewport().update()

    def set_markers_visible(self, on: bool) -> None:
        """Orientation markers and the scale bar."""
        self.markers_visible = bool(on)
        self.viewport().update()

    # -- heat layer ------------------------------------------------------------------------------
    def set_heat_map(self, heat: np.ndarray | None) -> None:
        """The map (H, W) in [0, 1], oriented like the image: drawn as a wash or as contours."""
        self.heat_layer.set_map(heat)
        self.viewport().update()

    def set_heat(self, rgba: np.ndarray | None) -> None:
        """A ready-made RGBA wash (contours need :meth:`set_heat_map`)."""
        self.heat_layer.set_wash(rgba)
        self.viewport().update()

    def clear_heat(self) -> None:
        self.heat_layer.set_map(None)
        self.heat_layer.set_visible(False)
        self.viewport().update()

    def set_heat_visible(self, visible: bool) -> None:
        self.heat_layer.set_visible(visible)
        self.viewport().update()

    def heat_visible(self) -> bool:
        return self.heat_layer.visible()

    def set_heat_opacity(self, opacity: float) -> None:
        self.heat_layer.set_opacity(opacity)
        self.viewport().update()

    def set_heat_style(self, style: str) -> None:
        """``heat_layer.WASH`` (colour wash) or ``heat_layer.CONTOURS`` (lines around the hottest regions)."""
        self.heat_layer.set_style(style)
        self.viewport().update()

    def heat_style(self) -> str:
        return self.heat_layer.style

    def set_heat_meaning(self, text: str) -> None:
        """The key's title: what the map shows ("Regions that raised the pneumonia score")."""
        self.heat_meaning = text or DEFAULT_MEANING
        self.viewport().update()

    def set_overlay(self, banner: list[str], info: list[str], alert: str = "", alert_colour: str = "") -> None:
        """``alert``: one line at the bottom (the AI verdict), drawn in ``alert_colour`` (default: warning amber)."""
        self.banner, self.info, self.alert = list(banner), list(info), alert
        self.alert_colour = QColor(alert_colour) if alert_colour else WARNING
        self.viewport().update()
        self.overlay_changed.emit()

    # -- tools -----------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """PAN (left drag pans) or RULER (left drag measures)."""
        if tool not in (PAN, RULER):
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        ruler = tool == RULER
        self.setDragMode(QGraphicsView.DragMode.NoDrag if ruler else QGraphicsView.DragMode.ScrollHandDrag)
        if ruler:
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.viewport().unsetCursor()

    def set_magnifier(self, on: bool) -> None:
        self.magnifier = bool(on)
        self.viewport().update()

    def file_point(self, viewport_pos: QPointF) -> tuple[float, float] | None:
        """A viewport position -> (row, col) continuous in the study's own grid; None off the film."""
        if self.file_shape is None or not self.has_image():
            return None
        p = self._image.mapFromScene(self.mapToScene(viewport_pos.toPoint()))
        size = self._image.pixmap().size()
        if not (0 <= p.x() < size.width() and 0 <= p.y() < size.height()):
            return None
        x, y = unorient_point((p.x(), p.y()), self.file_shape, self.orientation)
        return y, x

    # -- zoom / fit ------------------------------------------------------------------------------
    def scale_factor(self) -> float:
        return self.transform().m11()

    def fit_scale(self) -> float:
        size = self._image.pixmap().size()
        if size.isEmpty():
            return 1.0
        vp = self.viewport().rect()
        return min(vp.width() / size.width(), vp.height() / size.height())

    def fit_to_window(self) -> None:
        self._fit = True
        if self.has_image():
            self.resetTransform()
            self.fitInView(self._image, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.scale_factor())
            self.view_changed.emit()

    def zoom(self, factor: float) -> None:
        if not self.has_image():
            return
        current = self.scale_factor()
        factor = max(MIN_SCALE / current, min(MAX_SCALE / current, factor))
        self._fit = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.scale_factor())
        self.view_changed.emit()

    def actual_size(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoom_changed.emit(1.0)
        self.view_changed.emit()

    def view_state(self) -> tuple[float, float, float]:
        """(zoom relative to fit, centre x, centre y as fractions of the image): comparable across films."""
        size = self._image.pixmap().size()
        centre = self.mapToScene(self.viewport().rect().center())
        w, h = max(size.width(), 1), max(size.height(), 1)
        return self.scale_factor() / self.fit_scale(), centre.x() / w, centre.y() / h

    def set_view_state(self, state: tuple[float, float, float]) -> None:
        if not self.has_image():
            return
        relative, cx, cy = state
        size = self._image.pixmap().size()
        scale = max(MIN_SCALE, min(MAX_SCALE, relative * self.fit_scale()))
        self._fit = False
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(cx * size.width(), cy * size.height())
        self.zoom_changed.emit(self.scale_factor())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if self._fit:
            self.fit_to_window()

    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(ZOOM_STEP**steps)
        event.accept()

    # -- mouse: right-drag window/level, ruler, pointer ------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            self._right_drag = event.position()
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.tool == RULER:
            point = self.file_point(event.position())
            if point is not None:
                self.ruler.begin(point)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        self._cursor = event.position()
        if self._right_drag is not None:
            pos = event.position()
            delta = pos - self._right_drag
            self._right_drag = pos
            self.window_drag.emit(delta.x(), delta.y())
            event.accept()
            return
        if self.ruler.active():
            point = self._clamped_file_point(event.position())
            if point is not None:
                self.ruler.drag(point)
            event.accept()
            self.viewport().update()
            return
        super().mouseMoveEvent(event)
        self.viewport().update()  # readout and magnifier

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton and self._right_drag is not None:
            self._right_drag = None
            if self.tool == RULER:
                self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            else:
                self.viewport().unsetCursor()
            self.window_drag_finished.emit()
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.ruler.active():
            done = self.ruler.finish()
            if done is not None:
                self.measured.emit(done.label.text)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802
        self._cursor = None
        self.viewport().update()
        super().leaveEvent(event)

    def _clamped_file_point(self, pos: QPointF) -> tuple[float, float] | None:
        """Like :meth:`file_point`, but a drag past the film's edge stops at the edge."""
        if self.file_shape is None or not self.has_image():
            return None
        p = self._image.mapFromScene(self.mapToScene(pos.toPoint()))
        size = self._image.pixmap().size()
        x = min(max(p.x(), 0.0), float(size.width()))
        y = min(max(p.y(), 0.0), float(size.height()))
        fx, fy = unorient_point((x, y), self.file_shape, self.orientation)
        return fy, fx

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - right button is window/level here
        event.accept()

    # -- overlay ---------------------------------------------------------------------------------
    def cursor_position(self) -> QPointF | None:
        """The pointer in viewport pixels while it is over the view."""
        return self._cursor

    def readout(self) -> str:
        """The pixel under the pointer: position in the file's grid and its value ("" off the film)."""
        if self._cursor is None:
            return ""
        point = self.file_point(self._cursor)
        if point is None:
            return ""
        row, col = int(point[0]), int(point[1])
        value = self.value_probe(row, col) if self.value_probe is not None else ""
        return f"x {col}  y {row}" + (f" · {value}" if value else "")

    def image_rect(self) -> QRectF:
        """The film's rectangle in viewport pixels."""
        return self.mapFromScene(self._image.sceneBoundingRect()).boundingRect().toRectF()

    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802
        overlay.paint(self, painter)
