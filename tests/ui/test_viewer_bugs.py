"""The viewer bugs of issue 13, each on real files in a real window: model switch + cancel, resume, the old
model's result while a new one loads, the drag direction, orientation wording, one progress count, the
skipped-files note, the first study shown."""

import json
import os
import shutil

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from cxrviewer.core.batch import read_batch_csv
from cxrviewer.core.scoring_queue import LARGE_QUEUE
from cxrviewer.ui.qimage import qimage_to_array

from ..conftest import DICOM_DIR, KERMANY, NATIVE_DIR
from .conftest import MODEL_TIMEOUT_MS, wait_idle

FILMS = sorted((NATIVE_DIR / "NORMAL").glob("*.jpeg"))[:3] + sorted((NATIVE_DIR / "PNEUMONIA").glob("*.jpeg"))[:3]


def wait_rows(qtbot, w, paths):
    """Folders are indexed and films decoded off the UI thread: wait for their rows (and the study shown)."""
    qtbot.waitUntil(
        lambda: all(w.worklist.model.find_path(p) is not None for p in paths) and w.study is not None,
        timeout=MODEL_TIMEOUT_MS,
    )


def show(qtbot, w, path):
    w.open_paths([path])
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == path, timeout=MODEL_TIMEOUT_MS)


def two_models(tmp_path, viewer_models_dir, viewer_bundle_name):
    models = tmp_path / "models"
    shutil.copytree(viewer_models_dir / viewer_bundle_name, models / "first")
    shutil.copytree(viewer_models_dir / viewer_bundle_name, models / "second")
    card = json.loads((models / "second" / "model.json").read_text())
    card["name"] = "second-copy"
    (models / "second" / "model.json").write_text(json.dumps(card))
    return models, json.loads((models / "first" / "model.json").read_text())["name"]


def folder_of(tmp_path, n, name="many"):
    folder = tmp_path / name
    folder.mkdir()
    sources = sorted((KERMANY / "train" / "NORMAL").glob("*.jpeg"))[:n]
    for i, src in enumerate(sources):
        os.symlink(src, folder / f"{i:03d}-{src.name}")
    return folder


def films_in(folder):
    return sorted(folder.iterdir())


def test_model_switch_then_cancel_never_mixes_models_nor_exports_cancelled_rows_as_scored(
    make_window, qtbot, tmp_path, viewer_models_dir, viewer_bundle_name
):
    models, first_name = two_models(tmp_path, viewer_models_dir, viewer_bundle_name)
    w = make_window(models_dir=models, model="first", paths=FILMS)
    wait_idle(qtbot, w)
    assert {e.result.model for e in w.worklist.model.entries} == {first_name}
    w.choose_model("second")
    assert w.model_state == "loading"
    w.scoring.request_cancel()  # before the new bundle has scored anything
    w.service.wait(MODEL_TIMEOUT_MS)
    qtbot.wait(100)
    states = {e.state for e in w.worklist.model.entries}
    assert "cancelled" in states and not w.is_busy()
    for e in w.worklist.model.entries:
        assert e.result.model in ("", "second-copy"), e.result.path.name  # nothing of the first model remains
        if e.state == "cancelled":
            assert e.result.probability is None
    rows = read_batch_csv(w.export_csv(tmp_path / "after.csv"))
    by_path = {e.result.path: e for e in w.worklist.model.entries}
    for row in rows:
        entry = next(e for p, e in by_path.items() if str(p) == row["path"])
        assert row["model"] in ("", "second-copy")
        if entry.state != "done":
            assert row["verdict"] == "withheld" and "cancelled" in row["reason"] and row["probability"] == ""


def test_cancelled_studies_resume_by_key_by_selection_and_by_reopening(make_window, qtbot, tmp_path):
    folder = folder_of(tmp_path, 12)
    w = make_window()
    w.open_paths([folder])
    wait_rows(qtbot, w, films_in(folder))
    w.scoring.cancel()
    w.service.wait(MODEL_TIMEOUT_MS)
    qtbot.wait(50)
    cancelled = [e.row_id for e in w.worklist.model.entries if e.state == "cancelled"]
    assert cancelled and f"{len(cancelled)} cancelled" in w.status_label.text()
    # selecting a cancelled row scores it
    w.show_row(cancelled[0])
    qtbot.waitUntil(lambda: w.worklist.model.entry(cancelled[0]).state == "done", timeout=MODEL_TIMEOUT_MS)
    # re-opening the folder scores what was cancelled
    w.open_paths([folder])
    wait_idle(qtbot, w)
    assert all(e.state == "done" for e in w.worklist.model.entries)
    # Shift+Esc resumes after a cancel
    w.reload_model()
    w.scoring.cancel()
    w.service.wait(MODEL_TIMEOUT_MS)
    qtbot.wait(50)
    assert any(e.state == "cancelled" for e in w.worklist.model.entries)
    qtbot.keyClick(w, Qt.Key.Key_Escape, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, w)
    assert all(e.state == "done" and e.result.scored for e in w.worklist.model.entries)


def test_esc_on_a_large_queue_asks_first(make_window, qtbot, tmp_path):
    folder = folder_of(tmp_path, LARGE_QUEUE + 20)
    w = make_window()
    w.open_paths([folder])
    wait_rows(qtbot, w, films_in(folder))
    assert len(w.scoring.queue.pending_rows()) > LARGE_QUEUE
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    question = w.scoring.cancel_question
    assert question is not None and question.isVisible() and "Resume Scoring" in question.text()
    assert w.is_busy()  # nothing cancelled until Yes
    question.button(QMessageBox.StandardButton.Yes).click()
    assert not w.is_busy()
    assert "cancelled" in w.status_label.text()


def test_the_old_models_result_and_map_leave_the_screen_while_the_new_one_loads(
    make_window, qtbot, tmp_path, viewer_models_dir, viewer_bundle_name, hot_study_path
):
    models, _ = two_models(tmp_path, viewer_models_dir, viewer_bundle_name)
    w = make_window(models_dir=models, model="first", paths=[hot_study_path])
    w.set_heat_on_negative(True)
    w.set_gradcam_visible(True)
    qtbot.waitUntil(lambda: w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)
    assert w.view.alert.startswith("AI:")
    w.choose_model("second")
    assert not w.view.heat_visible() and w.current_heat() is None and w.current_result() is None
    assert "Loading model" in w.panel.probability.text() and "loading model" in w.view.alert
    qtbot.waitUntil(lambda: w.model_state == "ready" and w.current_result() is not None, timeout=MODEL_TIMEOUT_MS)
    assert w.current_result().model == "second-copy"
    qtbot.waitUntil(lambda: w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)


def drag(w, dx, dy):
    vp = w.view.viewport()
    start = QPointF(vp.width() / 2, vp.height() / 2)

    def send(kind, pos, button, buttons):
        global_pos = vp.mapToGlobal(pos.toPoint()).toPointF()
        QApplication.sendEvent(vp, QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier))

    right = Qt.MouseButton.RightButton
    send(QMouseEvent.Type.MouseButtonPress, start, right, right)
    send(QMouseEvent.Type.MouseMove, start + QPointF(dx, dy), Qt.MouseButton.NoButton, right)
    send(QMouseEvent.Type.MouseButtonRelease, start + QPointF(dx, dy), right, Qt.MouseButton.NoButton)


def shown_mean(w) -> float:
    return float(qimage_to_array(w.view._image.pixmap().toImage())[..., 0].mean())


def test_one_right_drag_direction_for_monochrome1_and_monochrome2(make_window, qtbot):
    w = make_window()
    for path in (DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm", DICOM_DIR / "siim_acr_chest_pa.dcm"):
        show(qtbot, w, path)
        for inverted in (False, True):
            w.display.set_inverted(inverted)
            before = shown_mean(w)
            drag(w, 0, -40)  # up
            assert shown_mean(w) > before + 1, (path.name, inverted)
            width = w.window_level[1]
            drag(w, 50, 0)  # right
            assert w.window_level[1] > width
            qtbot.keyClick(w, Qt.Key.Key_W)


def test_orientation_text_names_the_flip_pressed(make_window, qtbot):
    w = make_window()
    show(qtbot, w, FILMS[0])
    qtbot.keyClick(w, Qt.Key.Key_R)
    qtbot.keyClick(w, Qt.Key.Key_H)
    assert "rotated 90°, flipped horizontally" in w.view.info
    qtbot.keyClick(w, Qt.Key.Key_O)
    assert not any("rotated" in line or "flipped" in line for line in w.view.info)


def test_status_line_and_progress_bar_count_the_same(make_window, qtbot, tmp_path):
    w = make_window()
    folder = folder_of(tmp_path, 30)
    w.open_paths([folder])
    wait_rows(qtbot, w, films_in(folder))
    seen = 0
    while w.is_busy() and seen < 5:
        bar = w.worklist.progress
        if bar.isVisible():
            assert w.status_label.text().startswith(f"{bar.value()}/{bar.maximum()} scored")
        qtbot.wait(150)
        seen += 1
    wait_idle(qtbot, w)
    assert w.status_label.text().startswith("30/30 scored")


def test_skipped_note_is_cleared_by_a_folder_without_any(make_window, qtbot, tmp_path, mixed_folder):
    w = make_window()
    w.open_paths([mixed_folder])
    wait_idle(qtbot, w)
    assert "notes.txt" in w.worklist.summary.text()
    clean = folder_of(tmp_path, 2, "clean")
    w.open_paths([clean])
    wait_rows(qtbot, w, films_in(clean))
    wait_idle(qtbot, w)
    assert w.worklist.summary.text() == "" and w.skipped == []


def test_the_first_study_shown_after_a_folder_opens_is_the_top_row(make_window, qtbot, tmp_path, mixed_folder):
    w = make_window(paths=[FILMS[-1]])
    wait_idle(qtbot, w)
    w.open_paths([mixed_folder])
    wait_rows(qtbot, w, [mixed_folder / "a.jpeg"])
    qtbot.waitUntil(lambda: str(w.study.path).startswith(str(mixed_folder)), timeout=MODEL_TIMEOUT_MS)
    order = w.worklist.visible_row_ids()
    folder_rows = [r for r in order if str(w.worklist.model.entry(r).result.path).startswith(str(mixed_folder))]
    assert w.current_row == folder_rows[0]
    assert w.worklist.current_row_id() == w.current_row


def test_gradcam_is_not_drawn_on_a_negative_study_unless_asked(make_window, qtbot):
    w = make_window(paths=FILMS)
    wait_idle(qtbot, w)
    negative = next((e for e in w.worklist.model.entries if e.result.verdict.value == "negative"), None)
    if negative is None:
        return  # the test model calls none of these films negative: nothing to check
    w.show_row(negative.row_id)
    w.set_gradcam_visible(True)
    qtbot.wait(200)
    assert w.current_heat() is None and not w.view.heat_visible()
    assert "negative" in w.panel.gradcam_status.text()
    w.action_table.action("ai.heat_on_negative").trigger()
    qtbot.waitUntil(lambda: w.view.heat_visible(), timeout=MODEL_TIMEOUT_MS)
    assert w.settings.heat_on_negative
    assert np.isfinite(w.current_heat()).all()
