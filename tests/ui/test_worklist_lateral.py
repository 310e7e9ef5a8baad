"""A PA + lateral study in the main window: the lateral (dimmed, not scored) opens on the main view when its
thumbnail is clicked or with Worklist ▸ Next Image of Study, shown with its own window, tags and orientation,
labelled "not scored" (no verdict, no heat map) while the study's verdict stays the frontal's; and files
opened one by one (File ▸ Open, drag & drop, a second file later) are grouped into studies as a folder is."""

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from cxrviewer.core import load_study
from cxrviewer.core.rendering import to_uint8
from cxrviewer.ui import worklist_actions
from cxrviewer.ui.qimage import qimage_to_array
from cxrviewer.ui.worklist import DONE
from cxrviewer.ui.worklist_model import COL_IMAGES

from .conftest import MODEL_TIMEOUT_MS, wait_idle, wait_shown
from .test_worklist import film

NOT_SCORED = "not scored"


def pa_and_lateral(folder: Path) -> tuple[Path, Path]:
    """A PA + lateral study from the public chest film, the lateral with a window and orientation of its own."""
    study = generate_uid()
    frontal = film(folder / "IM-0001", "P1", study, "PA", 1)
    lateral = film(folder / "IM-0002", "P1", study, "LL", 2)
    ds = pydicom.dcmread(lateral)
    ds.WindowCenter, ds.WindowWidth = 300, 500  # its own window, unlike the frontal's automatic one
    ds.PatientOrientation = ["A", "F"]
    ds.save_as(lateral)
    return frontal, lateral


def shown_pixels(w) -> np.ndarray:
    return qimage_to_array(w.view._image.pixmap().toImage())[..., 0]


def click_image(qtbot, w, row_id: int, path: Path, double: bool = False) -> None:
    """A click (or double-click) on ``path``'s thumbnail in the row's Images cell, where the delegate draws it."""
    table, model = w.worklist.table, w.worklist.model
    rect = table.visualRect(model.index(model.row_of(row_id), COL_IMAGES))
    box = next(b for image, b in w.worklist.images.boxes(model.entry(row_id), rect) if image.path == path)
    click = qtbot.mouseDClick if double else qtbot.mouseClick
    click(table.viewport(), Qt.MouseButton.LeftButton, pos=box.center())


def test_lateral_opens_on_the_main_view_not_scored(make_window, qtbot, tmp_path):
    frontal, lateral = pa_and_lateral(tmp_path / "study")
    w = make_window()
    w.set_heat_on_negative(True)  # a map would be drawn on any scored study: none may come on the lateral
    w.set_gradcam_visible(True)
    w.open_paths([tmp_path / "study"])
    wait_idle(qtbot, w)
    (entry,) = w.worklist.model.entries
    assert entry.state == DONE and entry.result.path == frontal and w.study.path == frontal
    verdict = (entry.result.verdict, entry.result.probability)
    w.show_tags()

    click_image(qtbot, w, entry.row_id, lateral)
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == lateral, timeout=30_000)
    wait_idle(qtbot, w)
    expected = load_study(lateral)
    assert np.array_equal(shown_pixels(w), to_uint8(expected.pixels))  # displayed as the core decodes it
    assert w.window_level is None and w.study.default_window == expected.default_window == (300.0, 500.0)
    assert "window: file" in w.view.info
    assert w.orientation.rotation == 0 and not w.orientation.flip_h
    tags = w.tag_browser.all_values()
    assert "300.0" in tags and "['A', 'F']" in tags  # its own tags: the lateral's window and orientation
    assert NOT_SCORED in w.view.alert.lower() and "lateral" in w.view.alert.lower()
    assert NOT_SCORED in w.panel.probability.text()
    assert any(lateral.name in line for line in w.view.banner)  # the banner names the image on screen
    w.set_anonymise(True)
    assert not any(lateral.name in line for line in w.view.banner) and "study 1 (lateral)" in " ".join(w.view.banner)
    w.set_anonymise(False)
    result = w.current_result()
    assert result is not None and result.probability is None and not result.verdict.scored  # no verdict
    assert w.current_heat() is None and not w.view.heat_visible()  # no heat map
    assert "lateral is not scored" in w.panel.gradcam_status.text()
    assert w.worklist.images.shown == lateral  # the worklist frames the image on screen
    # the study's verdict stays the frontal's: not rescored, not replaced by the lateral
    assert entry.state == DONE and entry.result.path == frontal
    assert (entry.result.verdict, entry.result.probability) == verdict
    shot = Path("test-artifacts/screenshots")
    shot.mkdir(parents=True, exist_ok=True)
    w.grab().save(str(shot / "lateral_on_main_view.png"))

    assert worklist_actions.next_image(w) == frontal  # L: back to the frontal, with its verdict
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == frontal, timeout=30_000)
    assert NOT_SCORED not in w.view.alert.lower() and w.current_result() is entry.result
    click_image(qtbot, w, entry.row_id, lateral, double=True)  # a double-click on the row selected: the lateral
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == lateral, timeout=30_000)


def test_files_opened_one_by_one_are_grouped_into_studies(make_window, qtbot, tmp_path):
    frontal, lateral = pa_and_lateral(tmp_path / "study")
    w = make_window()
    w.open_paths([frontal])  # File ▸ Open of one file...
    wait_idle(qtbot, w)
    (entry,) = w.worklist.model.entries
    probability = entry.result.probability
    w.open_paths([lateral])  # ...and a second file of the same study later: it joins the row
    wait_shown(qtbot, w)
    assert len(w.worklist.model.entries) == 1
    assert [(i.path, i.scored) for i in entry.images] == [(frontal, True), (lateral, False)]
    assert w.study.path == lateral and NOT_SCORED in w.view.alert.lower()  # the file asked for is shown
    wait_idle(qtbot, w)
    assert entry.state == DONE and entry.result.path == frontal and entry.result.probability == probability

    w2 = make_window()
    w2.open_paths([lateral, frontal, frontal.with_name("missing")])  # several files chosen at once
    wait_idle(qtbot, w2)
    (row,) = w2.worklist.model.entries
    assert row.result.path == frontal and [i.scored for i in row.images] == [True, False]
    assert w2.study.path == lateral  # the first file chosen is the one shown
    assert any("missing: no such file" in e for e in w2.errors)

    w3 = make_window()
    w3.open_paths([lateral])  # the lateral first: scored from it (the study has nothing else yet)...
    wait_idle(qtbot, w3)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(frontal))])
    w3.dropEvent(
        QDropEvent(
            QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    )
    qtbot.waitUntil(lambda: w3.worklist.model.entries[0].result.path == frontal, timeout=30_000)
    wait_idle(qtbot, w3)
    (row,) = w3.worklist.model.entries  # ...then the frontal dropped: the study's verdict now comes from it
    assert [(i.path, i.scored) for i in row.images] == [(frontal, True), (lateral, False)]
    qtbot.waitUntil(lambda: row.state == DONE and row.result.probability is not None, timeout=MODEL_TIMEOUT_MS)
    assert row.result.probability == probability  # the frontal's own score, as in the first window
