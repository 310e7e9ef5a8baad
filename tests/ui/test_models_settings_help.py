"""Model choice and re-scoring, start-up without a model, persisted settings, Help dialogs."""

import json
import shutil

from PySide6.QtCore import Qt

from ..conftest import NATIVE_DIR
from .conftest import MODEL_TIMEOUT_MS, wait_idle


def test_window_appears_before_the_model_is_loaded(make_window, qtbot):
    w = make_window(wait_model=False, paths=[NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"])
    assert w.isVisible() and w.view.has_image()  # shown while the bundle may still be loading
    qtbot.waitUntil(lambda: w.model_state == "ready", timeout=MODEL_TIMEOUT_MS)
    wait_idle(qtbot, w)
    assert w.current_result().scored


def test_switching_models_rescores_open_studies(make_window, qtbot, tmp_path, viewer_models_dir, viewer_bundle_name):
    models = tmp_path / "models"
    shutil.copytree(viewer_models_dir / viewer_bundle_name, models / "first")
    shutil.copytree(viewer_models_dir / viewer_bundle_name, models / "second")
    card = json.loads((models / "second" / "model.json").read_text())
    card["name"], card["threshold"] = "second-copy", 0.99
    (models / "second" / "model.json").write_text(json.dumps(card))
    paths = [NATIVE_DIR / "NORMAL" / "IM-0282-0001.jpeg", NATIVE_DIR / "PNEUMONIA" / "person23_bacteria_85.jpeg"]
    w = make_window(models_dir=models, model=None, paths=paths)
    wait_idle(qtbot, w)
    box = w.panel.model_box
    assert [box.itemData(i) for i in range(box.count())] == ["first", "second"]
    # two copies of one bundle share a description, so the folder name tells them apart
    label = box.itemText(0)
    assert label.endswith("(first)") and box.itemText(1) == label.replace("(first)", "(second)")
    assert box.itemData(1, Qt.ItemDataRole.ToolTipRole) == "second"
    first = {e.result.path: e.result for e in w.worklist.model.entries}
    assert {r.model for r in first.values()} == {card_name(models / "first")}

    w.choose_model("second")
    qtbot.waitUntil(lambda: w.model_state == "ready", timeout=MODEL_TIMEOUT_MS)
    wait_idle(qtbot, w)
    second = {e.result.path: e.result for e in w.worklist.model.entries}
    for path in paths:
        assert second[path].model == "second-copy" and second[path].threshold == 0.99
        assert abs(second[path].probability - first[path].probability) < 1e-5  # same weights
    assert "second-copy" in w.panel.threshold.text()
    assert w.settings.model == "second"


def card_name(bundle):
    return json.loads((bundle / "model.json").read_text())["name"]


def test_no_model_still_shows_images(make_window, qtbot, tmp_path):
    w = make_window(models_dir=tmp_path / "empty", model=None, paths=[NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"])
    wait_idle(qtbot, w)
    assert w.view.has_image() and not w.panel.model_box.isEnabled()
    assert "No model available" in w.panel.model_status.text()
    assert not w.current_result().scored


def test_settings_persist(make_window, qtbot):
    w = make_window(paths=[NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"], size=(1111, 777))
    w.panel.opacity.setValue(73)
    w.close()
    again = make_window()
    assert again.panel.opacity.value() == 73
    assert again.settings.last_folder == str(NATIVE_DIR / "NORMAL")
    assert str(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg") in [a.text() for a in again.recent_menu.actions()]
    assert (again.width(), again.height()) == (1111, 777) or again.settings.window_size == (1111, 777)


def test_help_lists_shortcuts_and_model_card_disclaims(make_window, qtbot):
    w = make_window()
    dialog = w.show_shortcuts()
    keys = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert "G" in keys and "Grad-CAM" in keys["G"]
    assert any("Window/level" in v for v in keys.values())
    card = w.show_model_card().browser.toPlainText()
    assert "NOT a medical device" in card and "not be used for diagnosis" in card
    assert w.model_name in card and "Intended use" in card
    qtbot.keyClick(w, Qt.Key.Key_F1)
