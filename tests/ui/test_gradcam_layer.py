"""Grad-CAM layer: on demand, toggled with G, opacity slider, aligned under rotation; rendered pixels change."""

import numpy as np
from PySide6.QtCore import Qt

from cxrviewer.ui.qimage import qimage_to_array

from .conftest import MODEL_TIMEOUT_MS


def grab(w) -> np.ndarray:
    return qimage_to_array(w.view.viewport().grab().toImage())[..., :3].astype(np.int16)


def test_gradcam_toggle_and_opacity_change_rendered_pixels(make_window, qtbot, hot_study_path):
    w = make_window(paths=[hot_study_path])
    qtbot.waitUntil(lambda: w.current_result() is not None, timeout=MODEL_TIMEOUT_MS)
    plain = grab(w)
    assert w.current_heat() is None
    qtbot.keyClick(w, Qt.Key.Key_G)
    assert w.panel.gradcam.isChecked() and w.gradcam_action.isChecked()
    qtbot.waitUntil(lambda: w.current_heat() is not None, timeout=MODEL_TIMEOUT_MS)
    qtbot.waitUntil(lambda: w.view.heat_visible())
    assert w.current_heat().shape == w.study.shape  # in the study's own pixel grid
    layered = grab(w)
    changed = lambda img: np.abs(img - plain).sum(axis=2).astype(bool).mean()  # noqa: E731
    w.panel.opacity.setValue(0)
    key_only = changed(grab(w))  # at zero opacity at most the colour key differs
    assert key_only < 0.05
    assert changed(layered) > key_only + 0.01
    w.panel.opacity.setValue(35)  # the default
    assert np.array_equal(grab(w), layered)

    w.panel.opacity.setValue(100)
    stronger = grab(w)
    w.panel.opacity.setValue(10)
    weaker = grab(w)
    assert np.abs(stronger - plain).sum() > np.abs(layered - plain).sum() > np.abs(weaker - plain).sum()

    w.panel.opacity.setValue(60)
    qtbot.keyClick(w, Qt.Key.Key_G)
    assert not w.view.heat_visible()
    assert np.array_equal(grab(w), plain)


def test_heat_layer_stays_aligned_under_rotation_and_flip(make_window, qtbot, hot_study_path):
    w = make_window(paths=[hot_study_path])
    w.set_gradcam_visible(True)
    qtbot.waitUntil(lambda: w.current_heat() is not None and w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)
    for key in (Qt.Key.Key_R, Qt.Key.Key_H, Qt.Key.Key_R):
        qtbot.keyClick(w, key)
        image, heat = w.view._image, w.view._heat
        assert heat.parentItem() is image  # moves with the image under zoom/pan
        assert heat.pixmap().size() == image.pixmap().size()
        alpha = qimage_to_array(heat.pixmap().toImage())[..., 3]
        from cxrviewer.core.rendering import heat_rgba, orient

        assert np.array_equal(alpha, heat_rgba(orient(w.current_heat(), w.orientation))[..., 3])
    qtbot.keyClick(w, Qt.Key.Key_Plus)
    assert w.view._heat.parentItem() is w.view._image


def test_gradcam_without_model_says_so(make_window, tmp_path):
    from ..conftest import NATIVE_DIR

    w = make_window(models_dir=tmp_path / "no-models", model=None, paths=[NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"])
    assert w.view.has_image()
    assert "No model" in w.panel.model_status.text()
    w.set_gradcam_visible(True)
    assert "needs a model" in w.panel.gradcam_status.text()
