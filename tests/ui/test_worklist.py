"""The worklist widget on its own: rows per study from the study index (PA + lateral one row, a PNG a study of
its own), thumbnails, read / unread and next unread, the folder column, a stable order, file missing, clear."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from cxrviewer.core import load_study
from cxrviewer.core.decode_pool import thumbnail
from cxrviewer.core.study_index import build_study_index
from cxrviewer.core.study_result import StudyResult
from cxrviewer.ui.worklist import DONE, MISSING, WorklistWidget
from cxrviewer.ui.worklist_model import (
    COL_FOLDER,
    COL_IMAGES,
    COL_PROBABILITY,
    COL_READ,
    COL_STATUS,
    UNREAD_MARK,
    index_rows,
)

from ..conftest import DICOM_DIR, NATIVE_DIR

CHEST = DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"


def film(path: Path, patient: str, study: str, view: str, number: int) -> Path:
    ds = pydicom.dcmread(CHEST)
    ds.PatientID, ds.PatientName = patient, f"Doe^{patient}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20240102", "101500", "1"
    ds.SeriesNumber, ds.InstanceNumber, ds.ViewPosition = number, number, view
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path)
    return path


@pytest.fixture
def studies_folder(tmp_path):
    root = tmp_path / "ward"
    study = generate_uid()
    film(root / "p1" / "IM-0001", "P1", study, "LL", 2)  # the lateral first in path order
    film(root / "p1" / "IM-0002", "P1", study, "PA", 1)
    film(root / "p2" / "IM-0001", "P2", generate_uid(), "AP", 1)
    jpeg = sorted((NATIVE_DIR / "NORMAL").glob("*.jpeg"))[0]
    (root / "loose").mkdir()
    Image.open(jpeg).convert("L").save(root / "loose" / "film.png")  # a PNG: a study of its own
    return root, study


def make_worklist(qtbot, folder):
    widget = WorklistWidget()
    qtbot.addWidget(widget)
    widget.resize(1100, 320)
    rows = index_rows(build_study_index([folder]))
    ids = widget.model.add_many([(p, images) for p, images, _ in rows])
    for row_id, (_, _, result) in zip(ids, rows):
        widget.model.entry(row_id).result = result
    return widget, ids


def test_pa_and_lateral_are_one_row_scored_from_the_frontal(qtbot, studies_folder):
    root, study = studies_folder
    widget, ids = make_worklist(qtbot, root)
    assert len(ids) == 3  # P1's PA + LL study, P2's AP, the PNG on its own
    entries = [widget.model.entry(r) for r in ids]
    pa_lat = next(e for e in entries if len(e.images) == 2)
    assert pa_lat.result.path == root / "p1" / "IM-0002"  # the frontal image is the one scored
    assert [(i.view, i.scored) for i in pa_lat.images] == [("PA", True), ("LL", False)]
    assert pa_lat.result.study_instance_uid == study
    index = widget.model.index(widget.model.row_of(pa_lat.row_id), COL_IMAGES)
    assert widget.model.data(index) == "PA + LL (1 not scored)"
    # the lateral's path finds the same row
    assert widget.model.find_path(root / "p1" / "IM-0001").row_id == pa_lat.row_id
    png = next(e for e in entries if e.result.path.suffix == ".png")
    assert len(png.images) == 1 and png.images[0].scored
    folders = {widget.model.data(widget.model.index(widget.model.row_of(e.row_id), COL_FOLDER)) for e in entries}
    assert folders == {"p1", "p2", "loose"}  # the folder column: the parent folder's name


def test_read_unread_next_unread_and_stable_order(qtbot, studies_folder):
    root, _ = studies_folder
    widget, ids = make_worklist(qtbot, root)
    order = widget.visible_row_ids()
    assert widget.top_row_id() == order[0]
    model = widget.model
    assert all(model.data(model.index(model.row_of(r), COL_READ)) == UNREAD_MARK for r in ids)
    model.set_read(order[0])
    assert model.data(model.index(model.row_of(order[0]), COL_READ)) == ""
    assert widget.next_unread_row_id(order[0]) == order[1]
    model.set_read(order[1])
    assert widget.next_unread_row_id(order[1]) == order[2]
    assert widget.next_unread_row_id(order[2]) is None or widget.next_unread_row_id(order[2]) == order[2]
    # a result for the last row does not move it while the reader is on the list; Re-sort does
    last = order[-1]
    model.update(
        last, result=StudyResult(path=model.entry(last).result.path, probability=0.99, threshold=0.5), state=DONE
    )
    assert widget.visible_row_ids() == order and "1 new" in widget.resort_button.text()
    widget.resort()
    assert widget.visible_row_ids()[0] == last and widget.resort_button.text() == "Re-sort"


def test_deleted_file_is_marked_missing_not_scored(qtbot, studies_folder):
    root, _ = studies_folder
    widget, ids = make_worklist(qtbot, root)
    model = widget.model
    png = next(r for r in ids if model.entry(r).result.path.suffix == ".png")
    path = model.entry(png).result.path
    model.update(png, result=StudyResult(path=path, probability=0.01, threshold=0.5, model="m"), state=DONE)
    row = model.row_of(png)
    assert model.data(model.index(row, COL_PROBABILITY)) == "0.01"
    path.unlink()
    assert model.mark_missing() == [png]
    assert model.data(model.index(row, COL_STATUS)) == MISSING
    assert model.data(model.index(row, COL_PROBABILITY)) == ""


def test_thumbnails_drawn_and_clear(qtbot, studies_folder, tmp_path):
    root, _ = studies_folder
    widget, ids = make_worklist(qtbot, root)
    widget.show()
    for entry in widget.model.entries:
        for image in entry.images:
            widget.set_thumbnail(image.path, thumbnail(load_study(image.path)))
    qtbot.wait(50)
    shot = widget.grab()
    out = Path("test-artifacts/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    shot.save(str(out / "worklist_grouped.png"))
    # the thumbnail column carries picture content (not a flat background) in every row
    img = shot.toImage()
    x0 = widget.table.columnViewportPosition(COL_IMAGES) + widget.table.verticalHeader().width() + 6
    for r in range(len(ids)):
        y = widget.table.rowViewportPosition(r) + widget.table.horizontalHeader().height() + 8
        values = [img.pixelColor(x0 + dx, y + dy).lightness() for dx in range(0, 36, 3) for dy in range(0, 30, 3)]
        assert np.std(values) > 5, r
    widget.clear()
    assert widget.model.rowCount() == 0 and widget.top_row_id() is None
    assert widget.thumbnails.get(ids and root / "p2" / "IM-0001") is None


def _rows_shape(model):
    """Each row as (scored path, [(image path, scored)]), in the order added."""
    return sorted((e.result.path, [(i.path, i.scored) for i in e.images]) for e in model.entries)


def _add_files(model, paths):
    """What File ▸ Open does with ``paths``: index them (every chosen file a row) and add the rows."""
    return model.add_rows(index_rows(build_study_index(paths), every_file=True))


@pytest.mark.parametrize("order", [("PA", "LL"), ("LL", "PA")])
def test_files_opened_one_by_one_group_as_a_folder_does(qtbot, tmp_path, order):
    study = generate_uid()
    files = {view: film(tmp_path / f"{view}.dcm", "P1", study, view, n) for n, view in enumerate(order, 1)}
    repeat = film(tmp_path / "PA2.dcm", "P1", study, "PA", 3)  # a second frontal: a row of its own
    other = film(tmp_path / "other.dcm", "P2", generate_uid(), "AP", 1)
    png = tmp_path / "film.png"
    Image.open(sorted((NATIVE_DIR / "NORMAL").glob("*.jpeg"))[0]).convert("L").save(png)
    folder = WorklistWidget()
    qtbot.addWidget(folder)
    folder.model.add_rows(index_rows(build_study_index([tmp_path])))
    one_by_one = WorklistWidget()
    qtbot.addWidget(one_by_one)
    model = one_by_one.model
    first = _add_files(model, [files[order[0]]])
    assert len(first.new) == 1
    second = _add_files(model, [files[order[1]]])
    if order == ("LL", "PA"):  # the study had its lateral only: the frontal now gives the verdict
        assert second.retargeted == first.new and not second.new
    else:
        assert not second.new and second.joined == [files["LL"]]
    assert len(model.entries) == 1
    (entry,) = model.entries
    assert entry.result.path == files["PA"] and entry.result.study_instance_uid == study
    assert [(i.view, i.scored) for i in entry.images][0] == ("PA", True)
    _add_files(model, [repeat, other, png])
    assert _rows_shape(model) == _rows_shape(folder.model)  # the same rows as the folder opened at once
    again = _add_files(model, [files["LL"]])  # a file opened again: its row found, nothing added
    assert again.listed == [entry.row_id] and not again.new and len(model.entries) == 4


def test_several_files_chosen_at_once_are_one_study_and_unreadable_ones_get_a_row(qtbot, tmp_path):
    study = generate_uid()
    lateral = film(tmp_path / "a" / "IM1", "P1", study, "LL", 2)
    frontal = film(tmp_path / "b" / "IM2", "P1", study, "PA", 1)  # another folder: the study still groups
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    widget = WorklistWidget()
    qtbot.addWidget(widget)
    added = _add_files(widget.model, [lateral, frontal, notes])
    assert len(added.new) == 2
    rows = {e.result.path: [(i.path, i.scored) for i in e.images] for e in widget.model.entries}
    assert rows == {frontal: [(frontal, True), (lateral, False)], notes: [(notes, True)]}
