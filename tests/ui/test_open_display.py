"""Opening studies: every shared DICOM and native JPEG is shown, scored in a worker, errors go on."""

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from cxrviewer.core import load_study
from cxrviewer.core.batch import assess_file
from cxrviewer.core.rendering import to_uint8
from cxrviewer.ui.qimage import qimage_to_array

from ..conftest import DICOM_DIR, NATIVE_DIR
from .conftest import MODEL_TIMEOUT_MS, wait_idle, wait_shown

SHARED_FILES = sorted(DICOM_DIR.glob("*.dcm")) + sorted(NATIVE_DIR.rglob("*.jpeg"))


def shown_pixels(w) -> np.ndarray:
    return qimage_to_array(w.view._image.pixmap().toImage())[..., 0]


def test_every_shared_file_is_displayed(make_window, qtbot):
    w = make_window()
    for path in SHARED_FILES:
        w.open_paths([path])
        wait_shown(qtbot, w)
        assert w.study is not None and w.study.path == path, w.study_error
        assert w.view.has_image()
        expected = to_uint8(load_study(path).pixels)  # the core's grayscale pipeline, untouched by the UI
        assert np.array_equal(shown_pixels(w), expected), path.name
    assert not w.errors
    wait_idle(qtbot, w)
    assert all(e.result.scored for e in w.worklist.model.entries)


def test_dicom_without_extension_opens(make_window, qtbot, tmp_path):
    target = tmp_path / "IMG0001"
    shutil.copy(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm", target)
    w = make_window()
    w.open_paths([target])
    wait_shown(qtbot, w)
    assert w.study is not None and w.study.metadata["format"] == "DICOM"


def test_worker_delivers_prediction_by_signal(make_window, qtbot, viewer_predictor):
    w = make_window()
    path = NATIVE_DIR / "PNEUMONIA" / "person1155_virus_1934.jpeg"
    with qtbot.waitSignal(w.service.signals.result_ready, timeout=MODEL_TIMEOUT_MS) as blocker:
        w.open_paths([path])
    _ticket, _row, result = blocker.args
    expected = viewer_predictor.predict(load_study(path))
    assert result.probability == pytest.approx(expected.probability, abs=1e-5)
    assert result.model == expected.model_name
    verdict = assess_file(path, viewer_predictor).verdict
    assert result.verdict is verdict
    qtbot.waitUntil(lambda: w.current_result() is not None)
    text = w.panel.probability.text() + w.panel.label.text() + w.panel.threshold.text()
    assert verdict.wording in text
    if verdict.scored:
        assert f"{expected.probability:.2f}" in text
    assert f"{expected.threshold:.2f}" in text and expected.model_name in text


def test_non_chest_input_gets_a_warning_not_a_score(make_window, qtbot):
    w = make_window(paths=[DICOM_DIR / "RG3_J2KI.dcm"])
    qtbot.waitUntil(lambda: w.current_result() is not None, timeout=MODEL_TIMEOUT_MS)
    assert w.panel.warning.isVisible() and "EXTREMITY" in w.panel.warning.text()
    assert "withheld" in w.panel.probability.text()
    assert "Not a chest" in w.view.alert


def test_bad_files_show_a_message_and_the_app_goes_on(make_window, qtbot, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.dcm"
    truncated.write_bytes((DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").read_bytes()[:2000])
    w = make_window()
    w.open_paths([empty])
    wait_shown(qtbot, w)
    assert w.study is None and "empty" in w.study_error
    assert "empty" in w.view.placeholder
    w.open_paths([truncated, NATIVE_DIR / "NORMAL" / "IM-0441-0001.jpeg"])
    wait_shown(qtbot, w)
    assert w.study is None and "cut.dcm" in w.study_error  # the first file opened is shown: its error
    w.show_row(w.worklist.model.find_path(NATIVE_DIR / "NORMAL" / "IM-0441-0001.jpeg").row_id)
    wait_shown(qtbot, w)
    assert w.study is not None and w.view.has_image()
    wait_idle(qtbot, w)
    errors = {e.result.path.name: e.result.error for e in w.worklist.model.entries}
    assert errors["empty.png"] and errors["cut.dcm"] and not errors["IM-0441-0001.jpeg"]


def test_zoom_fit_window_level_invert_rotate(make_window, qtbot):
    w = make_window(paths=[DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"])
    wait_shown(qtbot, w)
    view = w.view
    fit = view.scale_factor()
    qtbot.keyClick(w, Qt.Key.Key_Plus)
    assert view.scale_factor() > fit
    qtbot.keyClick(w, Qt.Key.Key_F)
    assert view.scale_factor() == pytest.approx(fit)
    before = shown_pixels(w)

    vp = view.viewport()
    centre = QPointF(vp.width() / 2, vp.height() / 2)

    def mouse(kind, pos, button, buttons):
        ev = QMouseEvent(
            kind, pos, vp.mapToGlobal(pos.toPoint()).toPointF(), button, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(vp, ev)

    R = Qt.MouseButton.RightButton
    mouse(QMouseEvent.Type.MouseButtonPress, centre, R, R)
    mouse(QMouseEvent.Type.MouseMove, centre + QPointF(-60, 40), Qt.MouseButton.NoButton, R)
    mouse(QMouseEvent.Type.MouseButtonRelease, centre + QPointF(-60, 40), R, Qt.MouseButton.NoButton)
    assert w.window_level is not None and w.window_level[1] < w.study.default_window[1]  # narrower window
    assert not np.array_equal(shown_pixels(w), before)
    qtbot.keyClick(w, Qt.Key.Key_W)
    assert w.window_level is None and np.array_equal(shown_pixels(w), before)
    qtbot.keyClick(w, Qt.Key.Key_A)
    assert w.window_level is not None
    qtbot.keyClick(w, Qt.Key.Key_W)

    qtbot.keyClick(w, Qt.Key.Key_I)
    assert np.array_equal(shown_pixels(w), 255 - before)
    qtbot.keyClick(w, Qt.Key.Key_I)
    qtbot.keyClick(w, Qt.Key.Key_R)
    assert np.array_equal(shown_pixels(w), np.rot90(before, -1))
    qtbot.keyClick(w, Qt.Key.Key_H)
    assert np.array_equal(shown_pixels(w), np.rot90(before, -1)[:, ::-1])
    qtbot.keyClick(w, Qt.Key.Key_O)
    assert np.array_equal(shown_pixels(w), before)


def test_drop_opens_files(make_window, qtbot):
    w = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(NATIVE_DIR / "NORMAL" / "IM-0680-0001.jpeg"))])
    ev = QDropEvent(
        QPointF(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    w.dropEvent(ev)
    from PySide6.QtTest import QTest

    QTest.qWait(50)
    wait_shown(qtbot, w)
    assert w.study is not None and w.study.path.name == "IM-0680-0001.jpeg"
    assert str(NATIVE_DIR / "NORMAL" / "IM-0680-0001.jpeg") in w.settings.recent
