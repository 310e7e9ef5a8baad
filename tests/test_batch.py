"""Folder scanning, per-file assessment and the headless batch CSV (python -m cxrviewer --batch)."""

import csv
import hashlib
import shutil
import subprocess
import sys

import pydicom
import pytest

from cxrviewer.__main__ import main
from cxrviewer.core import load_study
from cxrviewer.core.batch import assess_file, assess_study, read_batch_csv, scan_folder
from cxrviewer.core.reduced_decode import MIN_SIDE as REDUCED_MIN_SIDE
from cxrviewer.core.result_csv import RESULT_COLUMNS

from .conftest import DICOM_DIR, NATIVE_DIR, REPO


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scan_finds_images_recursively_and_skips_others(mixed_folder):
    scan = scan_folder(mixed_folder)
    names = {p.name for p in scan.candidates}
    assert names == {"a.jpeg", "b.jpeg", "chest_no_extension", "empty.dcm", "truncated.dcm", "fake.jpeg"}
    assert [p.name for p, _ in scan.skipped] == ["notes.txt"]


def test_assess_file_never_raises_and_says_why(mixed_folder, viewer_predictor):
    for name in ("empty.dcm", "truncated.dcm", "fake.jpeg"):
        result = assess_file(mixed_folder / name, viewer_predictor)
        assert result.probability is None and result.error, name
    assert "empty" in assess_file(mixed_folder / "empty.dcm").error
    good = assess_file(mixed_folder / "sub" / "chest_no_extension", viewer_predictor)
    assert good.scored and not good.error and good.modality == "CR"


def test_batch_csv_matches_core_predictions(tmp_path, viewer_models_dir, viewer_bundle_name, viewer_predictor):
    out = tmp_path / "native.csv"
    rc = main(
        [
            "--batch",
            str(NATIVE_DIR),
            "--csv",
            str(out),
            "--models-dir",
            str(viewer_models_dir),
            "--model",
            viewer_bundle_name,
        ]
    )
    assert rc == 0
    rows = read_batch_csv(out)
    assert tuple(rows[0].keys()) == RESULT_COLUMNS
    images = sorted(NATIVE_DIR.rglob("*.jpeg"))
    by_path = {r["path"]: r for r in rows}
    assert len(rows) == len(list(p for p in NATIVE_DIR.rglob("*") if p.is_file()))  # one row per file found
    for path in images:
        row = by_path[str(path)]
        # the batch decodes reduced for scoring (reduced_decode.py): the same as that decode, and within 0.005
        # of the full decode (tests/test_reduced_decode.py holds that on all the native films)
        reduced = load_study(path, min_side=REDUCED_MIN_SIDE)
        pred = viewer_predictor.predict(reduced)
        expected = assess_study(reduced, viewer_predictor)
        assert float(row["probability"]) == pytest.approx(pred.probability, abs=2e-6)
        full = viewer_predictor.predict(load_study(path)).probability
        assert float(row["probability"]) == pytest.approx(full, abs=5e-3)
        assert row["verdict"] == expected.verdict.value and row["label"] == expected.label
        assert float(row["threshold"]) == pytest.approx(pred.threshold, abs=1e-6)
        assert row["model"] == pred.model_name and row["verdict"] != "unreadable"
    readme = by_path[str(NATIVE_DIR / "README.md")]
    assert readme["probability"] == "" and readme["verdict"] == "unreadable" and readme["reason"]


def test_batch_on_mixed_folder_lists_bad_files_and_modifies_nothing(tmp_path, mixed_folder, viewer_models_dir):
    before = {p: digest(p) for p in mixed_folder.rglob("*") if p.is_file()}
    out = tmp_path / "mixed.csv"
    assert main(["--batch", str(mixed_folder), "--csv", str(out), "--models-dir", str(viewer_models_dir)]) == 0
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in read_batch_csv(out)}
    assert set(rows) == {p.name for p in before}
    for bad in ("empty.dcm", "truncated.dcm", "fake.jpeg", "notes.txt"):
        assert rows[bad]["probability"] == "" and rows[bad]["verdict"] == "unreadable", bad
    for good in ("a.jpeg", "b.jpeg", "chest_no_extension"):
        assert 0.0 <= float(rows[good]["probability"]) <= 1.0 and rows[good]["verdict"] != "unreadable", good
    assert {p: digest(p) for p in before} == before


def test_batch_flags_non_chest_input(tmp_path, viewer_models_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(DICOM_DIR / "RG3_J2KI.dcm", folder / "knee.dcm")
    out = tmp_path / "o.csv"
    assert main(["--batch", str(folder), "--csv", str(out), "--models-dir", str(viewer_models_dir)]) == 0
    (row,) = read_batch_csv(out)
    assert row["verdict"] == "withheld" and "Not a chest image" in row["reason"] and row["label"] == ""
    ds = pydicom.dcmread(DICOM_DIR / "RG3_J2KI.dcm", stop_before_pixels=True)
    assert (row["study_instance_uid"], row["series_instance_uid"]) == (ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert row["probability"] != ""  # kept for audit


def test_batch_misuse_exits_non_zero(tmp_path, viewer_models_dir):
    assert main(["--resume"]) == 2 and main(["--shard", "0/2"]) == 2  # batch-only options without --batch
    assert main(["--batch", str(tmp_path / "missing"), "--csv", str(tmp_path / "o.csv")]) != 0
    assert (
        main(
            [
                "--batch",
                str(NATIVE_DIR),
                "--csv",
                str(tmp_path / "no" / "dir" / "o.csv"),
                "--models-dir",
                str(viewer_models_dir),
            ]
        )
        != 0
    )
    assert (
        main(
            [
                "--batch",
                str(NATIVE_DIR),
                "--csv",
                str(tmp_path / "o.csv"),
                "--model",
                "no-such-model",
                "--models-dir",
                str(viewer_models_dir),
            ]
        )
        != 0
    )


def test_batch_without_any_model_still_writes_rows(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg", folder)
    out = tmp_path / "o.csv"
    assert main(["--batch", str(folder), "--csv", str(out), "--models-dir", str(tmp_path / "empty")]) == 0
    (row,) = read_batch_csv(out)
    assert row["probability"] == "" and row["verdict"] == "withheld" and "no model" in row["reason"]


def test_batch_mode_never_imports_qt(tmp_path, viewer_models_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm", folder)
    code = (
        "import sys; from cxrviewer.__main__ import main; "
        f"rc = main(['--batch', {str(folder)!r}, '--csv', {str(tmp_path / 'o.csv')!r}, "
        f"'--models-dir', {str(viewer_models_dir)!r}]); "
        "print(rc, any(m.startswith('PySide6') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr
    with open(tmp_path / "o.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1
