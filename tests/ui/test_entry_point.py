"""`python -m cxrviewer` with no paths opens the demo studies, scores them, and shows the first one.

Runs in a child process: app.exec() and quit() would leave this test process's event loop unusable."""

import json
import os
import subprocess
import sys

from cxrviewer.ui.app import DEMO_DIR

from ..conftest import REPO

DRIVER = r"""
import json, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from cxrviewer.__main__ import main
from cxrviewer.ui.main_window import MainWindow

seen = {}

def inspect():
    app = QApplication.instance()
    windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    if len(windows) != 1 or windows[0].model_state == "loading" or windows[0].is_busy():
        QTimer.singleShot(100, inspect)
        return
    w = windows[0]
    seen["files"] = sorted(e.result.path.name for e in w.worklist.model.entries)
    seen["scored"] = sum(e.result.scored for e in w.worklist.model.entries)
    seen["shown"] = w.view.has_image()
    seen["model"] = w.model_name
    w.close()

QTimer.singleShot(0, inspect)
rc = main(sys.argv[1:])
print("RESULT " + json.dumps(dict(seen, rc=rc)))
"""


def test_main_without_paths_opens_the_demo_studies(tmp_path, viewer_models_dir, viewer_bundle_name):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, "--models-dir", str(viewer_models_dir), "--model", viewer_bundle_name],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stderr[-2000:]
    seen = json.loads(lines[-1][7:])
    demo = sorted(p.name for p in DEMO_DIR.iterdir() if p.suffix.lower() in (".jpeg", ".dcm"))
    assert len(demo) == 3 and seen["files"] == demo
    assert seen["rc"] == 0 and seen["shown"] and seen["scored"] == 3 and seen["model"]
