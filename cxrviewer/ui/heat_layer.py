"""The heat-map layer on the image: a colour wash or contour lines of the hottest regions, one at a time.

Both are children of the image item, drawn from the map already oriented like the image pixmap (the same
``core.rendering.orient`` call), so zoom, pan, rotation and flips move them with the film. Contour pens are
cosmetic: the lines stay 2 px wide on screen at any zoom.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem

from cxrviewer.core.heat_contours import Contour, heat_contours
from cxrviewer.core.rendering import HEAT_ALPHA_START, heat_rgba

from .qimage import to_pixmap

WASH, CONTOURS = "wash", "contours"
# hottest 10 %: solid yellow; hottest 20 %: dashed orange (told apart without colour vision too)
CONTOUR_STYLES = {
    0.10: (QColor(255, 235, 40), Qt.PenStyle.SolidLine, 2.5),
    0.20: (QColor(255, 140, 30), Qt.PenStyle.DashLine, 2.0),
}
HALO = QColor(0, 0, 0, 170)  # a dark rim keeps the lines visible over white bone


def contour_style(fraction: float) -> tuple[QColor, Qt.PenStyle, float]:
    nearest = min(CONTOUR_STYLES, key=lambda f: abs(f - fraction))
    return CONTOUR_STYLES[nearest]


def contour_pen(fraction: float, halo: bool = False) -> QPen:
    colour, style, width = contour_style(fraction)
    pen = QPen(HALO if halo else colour, width + 2.0 if halo else width)
    pen.setStyle(Qt.PenStyle.SolidLine if halo else style)
    pen.setCosmetic(True)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


def contour_path(contour: Contour) -> QPainterPath:
    path = QPainterPath()
    for line in contour.lines:
        if len(line) < 2:
            continue
        path.moveTo(QPointF(float(line[0, 0]), float(line[0, 1])))
        for x, y in line[1:]:
            path.lineTo(QPointF(float(x), float(y)))
    return path


class HeatLayer:
    """Owns the wash pixmap item and the contour items under ``parent`` (the image item)."""

    def __init__(self, parent: QGraphicsItem):
        self.parent = parent
        self.wash = QGraphicsPixmapItem(parent)
        self.wash.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.wash.setZValue(1)
        self.wash.setVisible(False)
        self.contour_items: list[QGraphicsPathItem] = []
        self.style = WASH
        self.heat: np.ndarray | None = None  # oriented like the image pixmap
        self._contours: list[Contour] | None = None  # traced on first use
        self._wanted = False
        self._opacity = self.wash.opacity()
        self._has_wash = False

    # -- content ----------------------------------------------------------------------------------
    def set_map(self, heat: np.ndarray | None) -> None:
        """The heat map (H, W) in [0, 1], oriented like the image; None clears the layer."""
        self.heat = None if heat is None else np.asarray(heat, dtype=np.float32)
        self._contours = None
        self._remove_contour_items()
        if self.heat is None:
            self.wash.setPixmap(QPixmap())
            self._has_wash = False
        else:
            self.wash.setPixmap(to_pixmap(heat_rgba(self.heat)))
            self._has_wash = True
        self._sync()

    def set_wash(self, rgba: np.ndarray | None) -> None:
        """A ready-made RGBA wash without the map behind it (no contours possible)."""
        self.heat, self._contours = None, None
        self._remove_contour_items()
        self.wash.setPixmap(QPixmap() if rgba is None else to_pixmap(rgba))
        self._has_wash = rgba is not None
        self._sync()

    def contours(self) -> list[Contour]:
        if self._contours is None:
            self._contours = heat_contours(self.heat) if self.heat is not None else []
        return self._contours

    def has_map(self) -> bool:
        return self._has_wash

    # -- display ----------------------------------------------------------------------------------
    def set_visible(self, visible: bool) -> None:
        self._wanted = bool(visible)
        self._sync()

    def set_style(self, style: str) -> None:
        if style not in (WASH, CONTOURS):
            raise ValueError(f"unknown heat style {style!r}")
        self.style = style
        self._sync()

    def set_opacity(self, opacity: float) -> None:
        """The slider acts on the wash; contour lines cover almost nothing and stay opaque."""
        self._opacity = max(0.0, min(1.0, opacity))
        self.wash.setOpacity(self._opacity)

    def opacity(self) -> float:
        return self._opacity

    def visible(self) -> bool:
        """The layer is on and there is a map to show (in either style)."""
        return self._wanted and self._has_wash

    def legend(self) -> str:
        """What the on-image key must show: "wash", "contours" or "" (nothing visible, nothing to explain)."""
        if not self.visible():
            return ""
        if self.style == CONTOURS and self.heat is not None:
            return CONTOURS if any(c.lines for c in self.contours()) else ""
        if self._opacity <= 0.0:
            return ""
        if self.heat is not None and not np.any(self.heat >= HEAT_ALPHA_START):
            return ""  # every pixel is transparent: an empty map
        return WASH

    def _sync(self) -> None:
        on = self.visible()
        contours = on and self.style == CONTOURS and self.heat is not None
        self.wash.setVisible(on and not contours)
        if contours and not self.contour_items:
            self._build_contour_items()
        for item in self.contour_items:
            item.setVisible(contours)

    def _build_contour_items(self) -> None:
        for contour in self.contours():
            path = contour_path(contour)
            for halo, z in ((True, 2.0), (False, 2.1)):
                item = QGraphicsPathItem(path, self.parent)
                item.setPen(contour_pen(contour.fraction, halo))
                item.setZValue(z)
                self.contour_items.append(item)

    def _remove_contour_items(self) -> None:
        scene = self.parent.scene()
        for item in self.contour_items:
            if scene is not None:
                scene.removeItem(item)
        self.contour_items = []
