"""Child process for benchmarks/run.py: start the GUI as `python -m cxrviewer` does, report timings.

argv: T0 (the parent's time.time() just before spawning) MODEL_NAME. Prints one JSON line:
window_s (window shown and painted), ready_s (model loaded), rss_* (MB) after model load, after scoring
the demo studies and after one Grad-CAM, and which training-only libraries the process imported (none).
"""

import json
import sys
import time

T0 = float(sys.argv[1])
MODEL = sys.argv[2] if len(sys.argv) > 2 else None


def mem():
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def main():
    from PySide6.QtWidgets import QApplication

    from cxrviewer.ui.app import DEMO_DIR
    from cxrviewer.ui.main_window import MainWindow
    from cxrviewer.ui.selftest import TRAINING_ONLY_MODULES
    from cxrviewer.ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_dark_theme(app)
    window = MainWindow(model=MODEL)
    window.show()
    window.start([DEMO_DIR])
    app.processEvents()
    window.repaint()
    window_s = time.time() - T0
    while window.model_state == "loading":
        app.processEvents()
        time.sleep(0.002)
    ready_s = time.time() - T0
    ready_mem = mem()
    while window.is_busy():
        app.processEvents()
        time.sleep(0.002)
    scored_mem = mem()
    window.set_heat_on_negative(True)  # the study shown may be negative: its map is then drawn only when asked
    # The top row may be the demo's adult DICOM film, which is withheld (no map, ever): show the paediatric one.
    for row in window.worklist.visible_row_ids():
        entry = window.worklist.model.entry(row)
        if entry is not None and entry.result.path.name.startswith("pneumonia-"):
            window.show_row(row)
    window.set_gradcam_visible(True)
    t = time.time()
    while window.current_heat() is None and time.time() - t < 60:
        app.processEvents()
        time.sleep(0.002)
    print(
        json.dumps(
            {
                "window_s": window_s,
                "ready_s": ready_s,
                "model_state": window.model_state,
                "training_modules_loaded": sorted({m.split(".")[0] for m in sys.modules} & TRAINING_ONLY_MODULES),
                "rss_ready_mb": ready_mem["VmRSS"],
                "rss_scored_mb": scored_mem["VmRSS"],
                "peak_rss_mb": mem()["VmHWM"],
            }
        ),
        flush=True,
    )
    window.close()


if __name__ == "__main__":
    main()
