"""GUI test fixtures: offscreen Qt, isolated QSettings, a main window on a real model bundle."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from ..conftest import NATIVE_DIR  # noqa: E402

MODEL_TIMEOUT_MS = 120_000


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "settings"))
        QSettings.setPath(fmt, QSettings.Scope.SystemScope, str(tmp_path / "settings-system"))
    yield tmp_path / "settings"


@pytest.fixture
def make_window(qtbot, viewer_models_dir, viewer_bundle_name):
    from cxrviewer.ui.main_window import MainWindow

    def make(models_dir=None, model="default", paths=None, wait_model=True, size=(1280, 860)):
        w = MainWindow(
            models_dir=models_dir or viewer_models_dir, model=viewer_bundle_name if model == "default" else model
        )
        qtbot.addWidget(w)
        w.resize(*size)
        w.show()
        w.start(list(paths or []))
        if paths:
            wait_shown(qtbot, w)  # the first study is decoded off the UI thread, then shown
        if wait_model:
            qtbot.waitUntil(lambda: w.model_state != "loading", timeout=MODEL_TIMEOUT_MS)
        return w

    return make


def wait_shown(qtbot, w, timeout=30_000):
    """Until the study asked for is on screen (it is decoded off the UI thread) and any folder has opened."""
    qtbot.waitUntil(lambda: not w.decoding.is_busy(), timeout=timeout)


def wait_idle(qtbot, w, timeout=MODEL_TIMEOUT_MS):
    qtbot.waitUntil(lambda: not w.is_busy(), timeout=timeout)


@pytest.fixture(scope="session")
def hot_study_path(viewer_predictor):
    """A native pneumonia film whose Grad-CAM map is not empty for the test model."""
    from cxrviewer.core import load_study

    for path in sorted((NATIVE_DIR / "PNEUMONIA").glob("*.jpeg"), key=lambda p: p.stat().st_size):
        heat = viewer_predictor.gradcam(load_study(path))
        if np.mean(heat > 0.3) > 0.05:
            return path
    pytest.skip("the test model gives no Grad-CAM signal on any native pneumonia film")
