"""Anonymise hides patient data in the banner, the worklist, the tag browser and PNG/CSV exports."""

import numpy as np
import pydicom
from PIL import Image

from ..conftest import DICOM_DIR
from .conftest import wait_idle

SECRETS = ("CompressedSamples", "9RG1", "2004-08-26", "20040826")


def test_anonymise_hides_patient_data_on_screen_and_in_exports(make_window, qtbot, tmp_path):
    w = make_window(paths=[DICOM_DIR / "RG1_J2KI.dcm"])
    wait_idle(qtbot, w)
    shown = " ".join(w.view.banner)
    assert "CompressedSamples" in shown and "9RG1" in shown and "2004-08-26" in shown
    row = w.worklist.model.index(0, 1)
    assert "CompressedSamples" in w.worklist.model.data(row)

    w.anonymise_action.trigger()
    assert w.anonymise
    banner = " ".join(w.view.banner)
    table = " ".join(str(w.worklist.model.data(w.worklist.model.index(0, c))) for c in range(6))
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
        qtbot.waitUntil(lambda: w.current_result() is not None)
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
