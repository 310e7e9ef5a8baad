"""The reading-room tools in the main window, by their keys: presets, markers, ruler, readout, contours,
comparison with a prior (linked zoom, pan and window). Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt

from cxrviewer.core import read_card
from cxrviewer.core.map_check import map_check
from cxrviewer.core.orientation_markers import Edges
from cxrviewer.core.window_presets import window_to_fractions
from cxrviewer.ui.heat_layer import CONTOURS, WASH
from cxrviewer.ui.image_view import PAN, RULER

from ..conftest import DICOM_DIR, NATIVE_DIR, REPO, shipped_bundles
from ..test_reading_tools import write_dicom
from .conftest import MODEL_TIMEOUT_MS

SHOTS = REPO / "test-artifacts" / "screenshots"


def tools(w):
    return w.reading_room


@pytest.fixture
def make_window(make_window, qtbot):
    """The main window, active (keyboard shortcuts need the active window)."""

    def make(**kwargs):
        w = make_window(**kwargs)
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow)
        if kwargs.get("paths"):
            qtbot.waitUntil(lambda: w.study is not None)  # the film may be decoded off the UI thread
        return w

    return make


def show_row(qtbot, w, index: int) -> None:
    entry = w.worklist.model.entries[index]
    w.show_row(entry.row_id)
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == entry.result.path)


def press(qtbot, w, key, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(w, key, modifier)


def save(widget, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    widget.grab().save(str(path))
    return path


def film_dicom(path: Path, source: Path, patient: str, date: str, **tags) -> Path:
    """A real film's pixels as a 12-bit CR DICOM of ``patient`` taken on ``date``."""
    grey = np.asarray(Image.open(source).convert("L"), dtype=np.uint16) * 16
    write_dicom(
        path,
        grey,
        PatientID=patient,
        StudyDate=date,
        PatientOrientation=["L", "F"],
        ViewPosition="AP",
        PixelSpacing=[0.14, 0.14],
        **tags,
    )
    return path


def test_window_presets_by_key_and_the_files_windows(make_window, qtbot, tmp_path):
    path = tmp_path / "windows.dcm"
    film_dicom(
        path,
        NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg",
        "P7",
        "20240102",
        WindowCenter=["2000", "1200"],
        WindowWidth=["4000", "1500"],
        WindowCenterWidthExplanation=["STANDARD", "LUNG"],
    )
    w = make_window(paths=[path], wait_model=False)
    presets = {p.name: p for p in tools(w).presets}
    press(qtbot, w, Qt.Key.Key_2)
    assert w.window_level == presets["Lung"].window
    press(qtbot, w, Qt.Key.Key_4)
    assert w.window_level == presets["Bone"].window
    press(qtbot, w, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert w.window_level == (2000.0, 4000.0)
    press(qtbot, w, Qt.Key.Key_W, Qt.KeyboardModifier.ShiftModifier)
    assert w.window_level == (1200.0, 1500.0)
    menu = w.action_table.submenus["tools.window_presets"]
    names = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert names[0] == "File's own" and any(n.startswith("LUNG (W 1500 L 1200)") for n in names)
    save(w, "reading-room-presets.png")


def test_markers_follow_rotation_and_flip_in_the_window(make_window, qtbot):
    w = make_window(paths=[DICOM_DIR / "RG1_J2KI.dcm"], wait_model=False)  # Patient Orientation L\F
    assert w.view.markers.edges == Edges("H", "L", "F", "R")
    press(qtbot, w, Qt.Key.Key_R)
    assert w.view.markers.edges == Edges("R", "H", "L", "F")
    press(qtbot, w, Qt.Key.Key_H)  # a screen-horizontal flip of the rotated film
    assert w.view.markers.edges == Edges("R", "F", "L", "H")
    save(w, "reading-room-markers-rotated-flipped.png")
    press(qtbot, w, Qt.Key.Key_K)
    assert not w.view.markers_visible
    jpeg = NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"
    w.open_paths([jpeg])
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == jpeg)
    assert w.view.markers is not None and w.view.markers.edges is None  # a JPEG: nothing invented


def test_ruler_by_key_measures_in_mm_and_says_the_source(make_window, qtbot):
    w = make_window(paths=[DICOM_DIR / "siim_acr_chest_pa.dcm"], wait_model=False)
    press(qtbot, w, Qt.Key.Key_M)
    assert w.view.tool == RULER and "Pixel Spacing" in w.view.calibration.source
    vp = w.view.viewport()
    a, b = QPoint(vp.width() // 3, vp.height() // 3), QPoint(vp.width() // 2, vp.height() * 2 // 3)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(vp, pos=b)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)
    (m,) = w.view.ruler.measurements
    p, q = w.view.file_point(QPointF(a)), w.view.file_point(QPointF(b))
    expected = np.hypot(q[0] - p[0], q[1] - p[1]) * 0.168
    assert m.length(w.view.calibration)[0] == pytest.approx(expected, rel=0.01)
    assert "Measured" in w.statusBar().currentMessage()
    qtbot.mouseMove(vp, pos=QPoint(vp.width() // 2, vp.height() // 2))
    assert "value" in w.view.readout()
    save(w, "reading-room-ruler.png")
    press(qtbot, w, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    assert w.view.ruler.measurements == []
    press(qtbot, w, Qt.Key.Key_M)
    assert w.view.tool == PAN


def test_heat_map_as_contours_with_its_legend(make_window, qtbot, hot_study_path):
    w = make_window(paths=[hot_study_path])
    w.set_heat_on_negative(True)  # the policy is the session's; here the drawing is under test
    w.set_gradcam_visible(True)
    qtbot.waitUntil(lambda: w.current_heat() is not None and w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)
    assert w.view.heat_style() == WASH
    press(qtbot, w, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    assert w.view.heat_style() == CONTOURS
    assert w.view.heat_layer.contours() and w.view.heat_layer.legend() == CONTOURS
    assert "raised the pneumonia score" in w.view.heat_meaning
    note = map_check(w.model_card).key_note
    assert w.view.heat_meaning.endswith(f"({note})") if note else "(" not in w.view.heat_meaning
    save(w, "reading-room-contours.png")
    press(qtbot, w, Qt.Key.Key_R)  # the lines are traced again from the rotated map
    assert w.view.heat_layer.heat.shape == w.view._image.pixmap().size().toTuple()[::-1]
    exported = Image.open(w.export_png(SHOTS / "reading-room-contours-export.png"))
    assert exported.width == w.view._image.pixmap().width()  # no colour scale beside the film: lines have a key line
    w.close()
    again = make_window(paths=[hot_study_path])  # the choice is remembered
    assert again.view.heat_style() == CONTOURS and again.action_table.action("ai.heat_contours").isChecked()


def test_comparison_with_a_prior_linked_zoom_pan_and_window(make_window, qtbot, tmp_path):
    current = film_dicom(
        tmp_path / "current.dcm", NATIVE_DIR / "PNEUMONIA" / "person23_bacteria_85.jpeg", "P42", "20240601"
    )
    prior = film_dicom(tmp_path / "prior.dcm", NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg", "P42", "20230105")
    other = film_dicom(tmp_path / "other.dcm", NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg", "P9", "20220101")
    w = make_window(paths=[current, prior, other], wait_model=False)
    show_row(qtbot, w, 0)
    press(qtbot, w, Qt.Key.Key_C)
    pane = tools(w).comparison
    assert pane.is_open() and pane.prior.session.study.path == prior
    banner = " ".join(pane.prior.banner)
    assert pane.prior.banner[0] == "PRIOR" and "P42" in banner and "2023-01-05" in banner and "prior.dcm" in banner
    w.set_anonymise(True)  # the prior's banner is anonymised with the main one
    banner = " ".join(pane.prior.banner)
    assert "P42" not in banner and "2023" not in banner and "prior.dcm" not in banner and "study 2" in banner
    w.set_anonymise(False)
    press(qtbot, w, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)
    assert pane.linked
    w.view.zoom(2.0)
    w.view.horizontalScrollBar().setValue(w.view.horizontalScrollBar().value() + 40)
    main_state, prior_state = w.view.view_state(), pane.prior.view_state()
    assert prior_state == pytest.approx(main_state, abs=0.02)  # zoom relative to fit, centre as fractions
    press(qtbot, w, Qt.Key.Key_2)  # lung preset on the current film
    main_fr = window_to_fractions(w.study, w.window_level)
    prior_fr = window_to_fractions(pane.prior.session.study, pane.prior.session.window_level)
    assert prior_fr == pytest.approx(main_fr)
    save(w, "reading-room-comparison.png")
    press(qtbot, w, Qt.Key.Key_C, Qt.KeyboardModifier.ShiftModifier)  # unlinked: the prior stays put
    w.view.zoom(1.5)
    assert pane.prior.view_state()[0] == pytest.approx(prior_state[0], abs=0.02)
    press(qtbot, w, Qt.Key.Key_C)
    assert not pane.is_open()
    press(qtbot, w, Qt.Key.Key_C)
    assert pane.is_open()
    show_row(qtbot, w, 2)  # the next study, of patient P9, has no prior: closed
    assert not pane.is_open() and not w.action_table.action("tools.compare").isChecked()
    press(qtbot, w, Qt.Key.Key_C)
    assert not pane.is_open() and "no other study" in w.statusBar().currentMessage()
    assert not w.action_table.action("tools.compare").isChecked()


def test_a_map_whose_card_records_failed_checks_says_so_in_its_key(make_window, qtbot, hot_study_path):
    """The map is still drawn on request, but its key says it was not shown to point at the evidence."""
    checks = {b: map_check(read_card(b)) for b in shipped_bundles()}
    failing = [b for b, check in checks.items() if check.measured and not check.faithful]
    if not failing:
        pytest.skip("every shipped bundle's map passed its checks")
    w = make_window(models_dir=failing[0].parent, model=failing[0].name, paths=[hot_study_path])
    w.set_heat_on_negative(True)
    w.set_gradcam_visible(True)
    qtbot.waitUntil(lambda: w.current_heat() is not None and w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)
    assert w.view.heat_meaning.endswith("(map not validated)")
    save(w, "reading-room-unvalidated-map.png")
