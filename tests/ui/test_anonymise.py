"""Anonymise hides patient data in the banner, the worklist, the tag browser and PNG/CSV exports."""

import numpy as np
import pydicom
from PIL import Image
from PySide6.QtCore import Qt

from cxrviewer.ui.worklist_model import COL_PATIENT, COLUMNS

from ..conftest import DICOM_DIR
from .conftest import wait_idle

SECRETS = ("CompressedSamples", "9RG1", "2004-08-26", "20040826")


def test_anonymise_hides_patient_data_on_screen_and_in_exports(make_window, qtbot, tmp_path):
    w = make_window(paths=[DICOM_DIR / "RG1_J2KI.dcm"])
    wait_idle(qtbot, w)
    shown = " ".join(w.view.banner)
    assert "CompressedSamples" in shown and "9RG1" in shown and "2004-08-26" in shown
    row = w.worklist.model.index(0, COL_PATIENT)
    assert "CompressedSamples" in w.worklist.model.data(row)

    w.anonymise_action.trigger()
    assert w.anonymise
    banner = " ".join(w.view.banner)
    table = " ".join(str(w.worklist.model.data(w.worklist.model.index(0, c))) for c in range(len(COLUMNS)))
    for secret in SECRETS + ("RG1_J2KI",):
        assert secret not in banner and secret not in table and secret not in w.windowTitle()
    w.show_tags()
    values = " ".join(w.tag_browser.all_values())
    assert "CompressedSamples" not in values and "9RG1" not in values
    assert "MONOCHROME1" in values  # non-identifying tags stay visible

    csv_text = w.export_csv(tmp_path / "anon.csv").read_text()
    for secret in SECRETS + ("RG1_J2KI",):
        assert secret not in csv_text
    w.anonymise_action.trigger()
    assert "CompressedSamples" in w.export_csv(tmp_path / "named.csv").read_text()


def test_anonymised_png_exports_do_not_depend_on_patient_data(make_window, qtbot, tmp_path):
    """Two files that differ only in name/ID/date give identical anonymised PNGs, different named ones."""
    ds = pydicom.dcmread(DICOM_DIR / "siim_acr_chest_pa.dcm")
    ds.save_as(tmp_path / "one.dcm")
    ds.PatientName, ds.PatientID, ds.StudyDate = "Other^Person", "ID-424242", "20240229"
    ds.save_as(tmp_path / "two.dcm")
    w = make_window(paths=[tmp_path / "one.dcm", tmp_path / "two.dcm"])
    wait_idle(qtbot, w)
    rows = {e.result.path.name: e.row_id for e in w.worklist.model.entries}

    def export(name, anonymise):
        w.set_anonymise(anonymise)
        w.show_row(rows[name])
        qtbot.waitUntil(lambda: w.study is not None and w.study.path.name == name and w.current_result() is not None)
        out = tmp_path / f"{name}-{anonymise}.png"
        w.export_png(out)
        return np.asarray(Image.open(out))

    named_one, named_two = export("one.dcm", False), export("two.dcm", False)
    assert named_one.shape == named_two.shape and not np.array_equal(named_one, named_two)
    anon_one, anon_two = export("one.dcm", True), export("two.dcm", True)
    # the only difference left is the study number standing in for the file name
    assert anon_one.shape == anon_two.shape
    differs = np.any(anon_one != anon_two, axis=2)
    rows_changed = np.flatnonzero(differs.any(axis=1))
    assert differs.sum() < named_one.shape[1] * 40
    banner_rows = np.flatnonzero(np.any(np.any(named_one != named_two, axis=2), axis=1))
    assert rows_changed.size == 0 or rows_changed.min() > banner_rows.min()  # patient line is identical
    assert Image.open(tmp_path / "one.dcm-True.png").text == {}  # no metadata chunks carry patient data


SECRET = "Doe_John_1957"


def test_anonymise_hides_file_names_in_messages_notes_recent_files_and_csv(make_window, qtbot, tmp_path):
    from cxrviewer.core.batch import read_batch_csv
    from cxrviewer.ui.worklist_model import COL_FILE, COL_STATUS

    from ..conftest import NATIVE_DIR
    from .conftest import MODEL_TIMEOUT_MS

    folder = tmp_path / f"{SECRET}_folder"
    folder.mkdir()
    (folder / f"{SECRET}_notes.txt").write_text("not an image")
    (folder / f"{SECRET}_cut.dcm").write_bytes((DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").read_bytes()[:2000])
    good = [folder / f"{SECRET}_{i}.jpeg" for i in range(2)]
    for i, target in enumerate(good):
        target.write_bytes(sorted((NATIVE_DIR / "NORMAL").glob("*.jpeg"))[i].read_bytes())
    w = make_window()
    w.set_anonymise(True)
    w.open_paths([folder, tmp_path / f"{SECRET}_missing.dcm"])
    qtbot.waitUntil(lambda: len(w.worklist.model.entries) == 3, timeout=MODEL_TIMEOUT_MS)
    wait_idle(qtbot, w)
    bad = w.worklist.model.find_path(folder / f"{SECRET}_cut.dcm")
    w.show_row(bad.row_id)
    qtbot.waitUntil(lambda: w.current_row == bad.row_id, timeout=MODEL_TIMEOUT_MS)
    shown = [
        w.study_error,
        w.view.placeholder,
        w.statusBar().currentMessage(),
        w.status_label.text(),
        w.windowTitle(),
        w.worklist.summary.text(),
        w.worklist.summary.toolTip(),
        w.panel.probability.text() + w.panel.label.text() + w.panel.warning.text(),
        " ".join(w.errors),
        " ".join(a.text() for a in w.recent_menu.actions()),
    ]
    model = w.worklist.model
    for entry in model.entries:
        row = model.row_of(entry.row_id)
        shown += [str(model.data(model.index(row, c))) for c in range(model.columnCount())]
        shown.append(str(model.data(model.index(row, COL_STATUS), Qt.ItemDataRole.ToolTipRole)))
    for text in shown:
        assert SECRET not in text, text
    assert "Skipped 1 non-image file" in w.worklist.summary.text()
    csv_path = w.export_csv(tmp_path / "anon.csv")
    assert SECRET not in csv_path.read_text()
    # "study N": one number per study on the list, the title, the CSV
    numbers = {e.row_id: model.data(model.index(model.row_of(e.row_id), COL_FILE)) for e in model.entries}
    assert all(n.startswith("study ") for n in numbers.values()) and len(set(numbers.values())) == 3
    assert w.windowTitle().endswith(numbers[bad.row_id])
    rows = read_batch_csv(csv_path)
    assert [r["path"] for r in rows] == [numbers[r] for r in w.worklist.visible_row_ids()]
    w.set_anonymise(False)
    assert any(SECRET in a.text() for a in w.recent_menu.actions())  # the names come back when allowed
