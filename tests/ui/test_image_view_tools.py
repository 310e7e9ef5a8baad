"""The image view's reading-room tools on real films: heat key and verdict fitting, contours vs wash, ruler,
pixel readout, magnifier, markers; the heat lines and measurements stay on the film under zoom, pan,
rotation and flip."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from cxrviewer.core import load_study
from cxrviewer.core.display_tags import read_display_tags
from cxrviewer.core.orientation_markers import orientation_markers
from cxrviewer.core.pixel_spacing import calibration, distance, pixel_value
from cxrviewer.core.rendering import Orientation, display_pixels, orient, orient_point, to_uint8
from cxrviewer.ui.heat_layer import CONTOURS, WASH
from cxrviewer.ui.image_view import RULER, ImageView
from cxrviewer.ui.magnifier import lens_rect
from cxrviewer.ui.qimage import qimage_to_array
from cxrviewer.ui.view_overlay import wrap_lines

from ..conftest import DICOM_DIR, NATIVE_DIR

SIIM = DICOM_DIR / "siim_acr_chest_pa.dcm"  # Pixel Spacing 0.168 mm
RG1 = DICOM_DIR / "RG1_J2KI.dcm"  # Patient Orientation L\F


def grab(view: ImageView) -> np.ndarray:
    return qimage_to_array(view.viewport().grab().toImage())[..., :3].astype(np.int16)


def hot_blob(shape, cx_frac=0.3, cy_frac=0.45) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - cx_frac * w) ** 2 + (yy - cy_frac * h) ** 2) / (2 * (0.08 * w) ** 2)).astype(np.float32)


UPRIGHT = Orientation()


def show(qtbot, path, orientation=UPRIGHT, size=(900, 700)):
    study = load_study(path)
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    place(view, study, orientation)
    tags = read_display_tags(study)
    view.set_calibration(calibration(tags))
    return view, study, tags


def place(view, study, orientation, heat=None):
    """What the main window does on a rotation or flip: the film, the map and the geometry, all oriented."""
    view.set_image(to_uint8(orient(display_pixels(study), orientation)), refit=True)
    view.set_geometry(study.shape, orientation)
    view.set_markers(orientation_markers(study.metadata, orientation))
    if heat is not None:
        view.set_heat_map(orient(heat, orientation))


def yellow(img: np.ndarray) -> np.ndarray:
    """Pixels of the hottest-10 % contour colour (255, 235, 40)."""
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return (r > 220) & (g > 200) & (b < 90)


# -- bugs: the key and the verdict -------------------------------------------------------------------------


def test_colour_key_is_not_drawn_at_zero_opacity_or_for_an_empty_map(qtbot):
    view, study, _ = show(qtbot, SIIM)
    view.set_markers_visible(False)
    plain = grab(view)
    view.set_heat_map(np.zeros(study.shape, np.float32))  # an empty map
    view.set_heat_visible(True)
    view.set_heat_opacity(0.35)
    assert view.heat_visible() and view.heat_layer.legend() == ""
    assert np.array_equal(grab(view), plain)
    view.set_heat_map(hot_blob(study.shape))
    view.set_heat_opacity(0.0)
    assert view.heat_layer.legend() == ""
    assert np.array_equal(grab(view), plain)  # nothing visible: no key either
    view.set_heat_opacity(0.35)
    assert view.heat_layer.legend() == WASH
    assert np.abs(grab(view) - plain).sum() > 0


def test_long_verdict_wraps_inside_a_narrow_viewport(qtbot):
    view, study, _ = show(qtbot, SIIM, size=(420, 600))
    view.set_markers_visible(False)
    alert = "⚠ AI: score withheld: " + "the film does not look like the paediatric frontal films the model knows " * 2
    view.set_overlay([], [], alert, "#ffc83c")
    img = grab(view)
    amber = (img[..., 0] > 200) & (img[..., 1] > 150) & (img[..., 1] < 215) & (img[..., 2] < 100)
    rows, cols = np.nonzero(amber)
    assert cols.size > 0 and cols.max() < view.viewport().width() - 10  # inside the margin, not cut at the edge
    text_rows = np.unique(rows)
    assert np.diff(text_rows).max() > 3  # more than one line of text
    fm = view.fontMetrics()
    lines = wrap_lines(fm, alert, 300)
    assert 1 < len(lines) <= 3 and all(fm.horizontalAdvance(line) <= 300 for line in lines)
    assert lines[0].split()[:3] == alert.split()[:3]


# -- contours vs wash ------------------------------------------------------------------------------------------


def test_contours_leave_the_lung_texture_visible_and_the_wash_does_not(qtbot):
    view, study, _ = show(qtbot, SIIM)
    view.set_markers_visible(False)
    plain = grab(view)
    view.set_heat_map(hot_blob(study.shape))
    view.set_heat_visible(True)
    view.set_heat_opacity(0.35)
    changed = lambda img: (np.abs(img - plain).sum(axis=2) > 6).mean()  # noqa: E731
    wash = changed(grab(view))
    view.set_heat_style(CONTOURS)
    assert view.heat_style() == CONTOURS and view.heat_layer.legend() == CONTOURS
    contours = grab(view)
    assert yellow(contours).sum() > 200  # the line is drawn
    assert changed(contours) < wash / 3  # lines and the key cover far less of the film than the wash
    view.set_heat_visible(False)
    assert np.array_equal(grab(view), plain)


@pytest.mark.parametrize(
    "orientation", [Orientation(), Orientation(90), Orientation(0, True), Orientation(270, False, True)]
)
def test_contours_and_ruler_stay_on_the_film_under_rotation_flip_zoom_and_pan(qtbot, orientation):
    view, study, _ = show(qtbot, SIIM)
    view.set_markers_visible(False)
    heat = hot_blob(study.shape)
    view.set_heat_style(CONTOURS)
    view.set_heat_visible(True)
    start, end = (300.0, 200.0), (700.0, 600.0)  # (row, col) in the file
    view.ruler.begin(start)
    view.ruler.drag(end)
    view.ruler.finish()
    place(view, study, orientation, heat)
    for step in ("fit", "zoom", "pan"):
        if step == "zoom":
            view.zoom(1.8)
        if step == "pan":
            view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 60)
        lines = yellow(grab(view))
        lines[-110:, -280:] = False  # the key's sample line, bottom right
        ys, xs = np.nonzero(lines)
        assert xs.size > 100, step
        # every yellow pixel on screen lies on the traced line, mapped through the image item to the viewport
        traced = view.heat_layer.contours()[0].lines[0]
        mapped = np.array(
            [
                (q.x(), q.y())
                for q in (view.mapFromScene(view._image.mapToScene(QPointF(*map(float, p)))) for p in traced)
            ]
        )
        gaps = np.hypot(xs[:, None] - mapped[None, :, 0], ys[:, None] - mapped[None, :, 1]).min(axis=1)
        assert np.percentile(gaps, 99) < 6, step
        # and the line is where orient() put the hot pixels
        hot_x, hot_y = orient_point((0.3 * study.shape[1], 0.45 * study.shape[0]), study.shape, orientation)
        assert traced.mean(axis=0) == pytest.approx((hot_x, hot_y), abs=4)
        # the measurement's line follows the pixels too; its length does not change
        (m,) = view.ruler.measurements
        line = m.line.line()
        for (r, c), p in ((start, line.p1()), (end, line.p2())):
            assert (p.x(), p.y()) == pytest.approx(orient_point((c, r), study.shape, orientation))
        assert m.label.text == "95.0 mm"  # hypot(400, 400) px * 0.168 mm


# -- ruler, readout, magnifier, markers ------------------------------------------------------------------------


def test_ruler_drag_measures_in_mm_from_pixel_spacing(qtbot):
    view, study, tags = show(qtbot, SIIM, Orientation(90))
    view.set_tool(RULER)
    a, b = QPoint(300, 200), QPoint(600, 500)
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(view.viewport(), pos=QPoint(450, 350))
    qtbot.mouseMove(view.viewport(), pos=b)
    with qtbot.waitSignal(view.measured) as done:
        qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=b)
    (m,) = view.ruler.measurements
    p, q = view.file_point(QPointF(a)), view.file_point(QPointF(b))
    assert p is not None and q is not None
    value, unit = distance(calibration(tags), p, q)
    assert unit == "mm" and m.length(calibration(tags))[0] == pytest.approx(value, rel=0.01)
    # 300 px on screen both ways at the fit scale: the length in file pixels times 0.168 mm
    expected_px = np.hypot(300, 300) / view.scale_factor()
    assert value == pytest.approx(expected_px * 0.168, rel=0.02)
    assert done.args[0].endswith("cm") or done.args[0].endswith("mm")
    view.ruler.clear()
    assert view.ruler.measurements == []


def test_readout_shows_the_value_of_the_pixel_under_the_pointer(qtbot):
    import pydicom

    path = DICOM_DIR / "pydicom_wheel_CR1_6154.dcm"  # rescaled: stored and modality values differ
    view, study, tags = show(qtbot, path, size=(400, 400))
    view.value_probe = lambda r, c: pixel_value(study, tags, r, c).text()
    qtbot.mouseMove(view.viewport(), pos=QPoint(200, 200))
    point = view.file_point(QPointF(200, 200))
    assert point is not None
    row, col = int(point[0]), int(point[1])
    stored = pydicom.dcmread(path).pixel_array[row, col]
    text = view.readout()
    assert text.startswith(f"x {col}  y {row}") and f"stored {stored}" in text
    view.leaveEvent(None)
    assert view.readout() == ""


def test_magnifier_shows_the_film_under_the_pointer_enlarged(qtbot):
    view, study, _ = show(qtbot, NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg", size=(600, 500))
    cursor = QPoint(260, 240)
    qtbot.mouseMove(view.viewport(), pos=cursor)
    plain = grab(view)
    view.set_magnifier(True)
    lensed = grab(view)
    lens = lens_rect(QPointF(cursor), view.viewport().rect().toRectF())
    cx, cy = int(lens.center().x()), int(lens.center().y())
    assert np.abs(lensed[cy + 3, cx + 3] - plain[cursor.y(), cursor.x()]).max() <= 12
    inside = lensed[int(lens.top()) + 4 : int(lens.bottom()) - 4, int(lens.left()) + 4 : int(lens.right()) - 4]
    assert not np.array_equal(
        inside, plain[int(lens.top()) + 4 : int(lens.bottom()) - 4, int(lens.left()) + 4 : int(lens.right()) - 4]
    )
    view.set_magnifier(False)
    assert np.array_equal(grab(view), plain)


def test_markers_and_scale_bar_are_drawn_and_can_be_hidden(qtbot):
    view, study, _ = show(qtbot, RG1)
    shown = grab(view)
    view.set_markers_visible(False)
    hidden = grab(view)
    top_mid = (slice(0, 60), slice(view.viewport().width() // 2 - 30, view.viewport().width() // 2 + 30))
    assert np.abs(shown[top_mid] - hidden[top_mid]).sum() > 0  # "H" at the top edge
    jpeg_view, _, _ = show(qtbot, NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg")
    assert jpeg_view.markers is not None and jpeg_view.markers.edges is None  # never invented for a bitmap
