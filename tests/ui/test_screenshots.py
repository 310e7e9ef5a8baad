"""Screenshots of the main window with and without the Grad-CAM layer, for human review.

Written to test-artifacts/screenshots/ (git-ignored)."""

from cxrviewer.core.verdict import Verdict

from ..conftest import DICOM_DIR, REPO
from .conftest import MODEL_TIMEOUT_MS, wait_idle, wait_shown

OUT = REPO / "test-artifacts" / "screenshots"


def test_screenshots(make_window, qtbot, hot_study_path):
    OUT.mkdir(parents=True, exist_ok=True)
    w = make_window(paths=[hot_study_path, DICOM_DIR / "RG1_J2KI.dcm", DICOM_DIR / "RG3_J2KI.dcm"], size=(1440, 900))
    wait_idle(qtbot, w)
    w.show_row(w.worklist.model.find_path(hot_study_path).row_id)
    wait_shown(qtbot, w)
    qtbot.wait(100)
    w.grab().save(str(OUT / "main-window.png"))
    w.set_gradcam_visible(True)
    qtbot.waitUntil(lambda: w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)
    w.grab().save(str(OUT / "main-window-gradcam.png"))
    w.export_png(OUT / "export-gradcam.png")
    # a 64-year-old's film: the score is withheld for age, and no heat map is drawn on it
    w.show_row(w.worklist.model.find_path(DICOM_DIR / "RG1_J2KI.dcm").row_id)
    wait_shown(qtbot, w)
    qtbot.wait(200)
    assert w.current_result().verdict is Verdict.WITHHELD and "aged 64 y" in w.current_result().reason
    assert not w.view.heat_visible() and w.current_heat() is None
    assert "withheld" in w.panel.gradcam_status.text()
    w.grab().save(str(OUT / "adult-dicom-withheld.png"))
    w.set_gradcam_visible(False)
    w.show_row(w.worklist.model.find_path(DICOM_DIR / "RG3_J2KI.dcm").row_id)
    wait_shown(qtbot, w)
    qtbot.wait(100)
    w.grab().save(str(OUT / "non-chest-warning.png"))
    w.set_anonymise(True)
    qtbot.wait(100)
    w.grab().save(str(OUT / "anonymised.png"))
    for name in ("main-window.png", "main-window-gradcam.png", "export-gradcam.png", "non-chest-warning.png"):
        assert (OUT / name).stat().st_size > 10_000
