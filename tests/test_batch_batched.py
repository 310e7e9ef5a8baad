"""Batched scoring in the batch mode (core/batch_scoring.py): the same answers as scoring each file alone."""

import copy
import dataclasses
import shutil
import time

import numpy as np
import pydicom
import pytest

from cxrviewer.core import Predictor, batch_decode, load_bundle, load_study
from cxrviewer.core.batch import prepare_study_file, read_batch_csv, run_batch
from cxrviewer.core.batch_decode import compressed_dicom, decode_for_batch
from cxrviewer.core.batch_scoring import finish_prepared, score_prepared
from cxrviewer.core.heatmap_export import read_heatmap_png
from cxrviewer.core.input_checks import load_reference
from cxrviewer.core.preprocess import preprocess
from cxrviewer.core.reduced_decode import MIN_SIDE

from .conftest import DICOM_DIR, NATIVE_DIR, REPO, shipped_bundles

FLOAT_NOISE = 1e-6
CSV_NOISE = FLOAT_NOISE + 5e-7  # the CSV rounds probabilities to 6 decimals


def real_films() -> list:
    return sorted(NATIVE_DIR.glob("*/*.jpeg")) + sorted(DICOM_DIR.glob("*.dcm"))


@pytest.fixture()
def triage_folder(tmp_path, mixed_folder):
    """Every native film and DICOM of ../shared, with unreadable files and a non-image mixed in between."""
    folder = tmp_path / "triage"
    folder.mkdir()
    for film in real_films():
        shutil.copy(film, folder / f"{film.parent.name}-{film.name}")
    for name in ("empty.dcm", "truncated.dcm", "fake.jpeg", "notes.txt"):
        shutil.copy(mixed_folder / name, folder / f"NORMAL-{name}")  # sorts among the films
    return folder


class BatchSizes:
    """The predictor's real model, recording how many studies each forward pass took."""

    def __init__(self, model):
        self.model, self.sizes = model, []

    def __call__(self, inputs):
        self.sizes.append(len(inputs))
        return self.model(inputs)


def recording(predictor: Predictor) -> tuple[Predictor, BatchSizes]:
    spy = copy.copy(predictor)
    spy.model = BatchSizes(predictor.model)
    return spy, spy.model


@pytest.mark.parametrize("bundle_dir", [pytest.param(p, id=p.name) for p in shipped_bundles()])
def test_batches_of_eight_score_as_batch_one(bundle_dir, mixed_folder):
    predictor = Predictor(load_bundle(bundle_dir), site=False)
    reference = load_reference()
    files = real_films() + [mixed_folder / n for n in ("empty.dcm", "truncated.dcm", "fake.jpeg")]
    files.insert(3, files.pop())  # an unreadable file inside the first batch
    prepared = [prepare_study_file(p, predictor, reference, MIN_SIDE) for p in files]
    alone = [finish_prepared(copy.copy(r), x, predictor) for r, x, _ in prepared]
    batched = []
    for start in range(0, len(prepared), 8):
        chunk = [(copy.copy(r), x, None) for r, x, _ in prepared[start : start + 8]]
        batched += score_prepared(chunk, predictor)
    assert [r.path for r in batched] == files
    for one, many in zip(alone, batched):
        assert (one.probability is None) == (many.probability is None), one.path.name
        if one.probability is not None:
            assert many.probability == pytest.approx(one.probability, abs=FLOAT_NOISE), one.path.name
        assert (many.verdict, many.label, many.error, many.warnings) == (
            one.verdict,
            one.label,
            one.error,
            one.warnings,
        )
    verdicts = {r.verdict.value for r in batched}
    assert "unreadable" in verdicts and "withheld" in verdicts  # the batches mixed every kind of file
    assert sum(r.probability is not None for r in batched) == len(real_films())  # withheld films keep theirs for audit


def test_batches_and_decode_processes_write_the_same_csv_as_the_old_pipeline(tmp_path, triage_folder, viewer_predictor):
    reference = load_reference()
    one_csv, many_csv = tmp_path / "one.csv", tmp_path / "many.csv"
    spy, sizes = recording(viewer_predictor)
    # the old pipeline (every file decoded in the threads, batch 1) beside the new one (DICOMs in processes)
    run_batch(triage_folder, one_csv, spy, reference, batch_size=1, dicom_processes=0, keep_results=False)
    assert set(sizes.sizes) == {1}

    def let_the_decoders_run_ahead(i, n, result):
        if i == 1:
            time.sleep(1.5)  # the files behind the first are prepared meanwhile: the next pass takes 8

    spy, sizes = recording(viewer_predictor)
    run_batch(triage_folder, many_csv, spy, reference, progress=let_the_decoders_run_ahead, keep_results=False)
    assert max(sizes.sizes) == 8 and sum(sizes.sizes) == len(real_films())
    assert batch_decode._pools.get(2) is not None  # the DICOMs went to the (still usable) decode processes
    one, many = read_batch_csv(one_csv), read_batch_csv(many_csv)
    assert [r["path"] for r in many] == [r["path"] for r in one] == sorted(r["path"] for r in one)
    for a, b in zip(one, many):
        if a["probability"]:
            assert float(b["probability"]) == pytest.approx(float(a["probability"]), abs=CSV_NOISE), a["path"]
        assert {k: v for k, v in a.items() if k != "probability"} == {k: v for k, v in b.items() if k != "probability"}
    assert {r["verdict"] for r in many} >= {"unreadable", "withheld"}
    state_one = (tmp_path / "one.csv.state.jsonl").read_text().splitlines()
    state_many = (tmp_path / "many.csv.state.jsonl").read_text().splitlines()
    assert len(state_many) == len(many) and [s.split(', "size"')[0] for s in state_many] == [
        s.split(', "size"')[0] for s in state_one
    ]


def test_batched_heatmaps_equal_batch_one_maps(tmp_path, viewer_predictor):
    folder = tmp_path / "films"
    folder.mkdir()
    for film in sorted(NATIVE_DIR.glob("*/*.jpeg"))[:10]:
        shutil.copy(film, folder / film.name)
    maps = {}
    for size in (1, 8):
        spy, sizes = recording(viewer_predictor)
        # no pixel gate: every film is vouched for, so every film gets a map to compare
        run_batch(folder, tmp_path / f"{size}.csv", spy, None, batch_size=size, heatmaps_dir=tmp_path / f"maps{size}")
        maps[size] = {p.name: read_heatmap_png(p) for p in (tmp_path / f"maps{size}").glob("*.png")}
    assert len(maps[1]) == 10 and maps[8].keys() == maps[1].keys()
    for name, heat in maps[1].items():
        assert heat.shape == maps[8][name].shape
        assert np.abs(heat - maps[8][name]).max() <= 2 / 65535, name  # a 16-bit level either way: float noise


def test_one_bad_model_input_costs_only_its_own_score(viewer_predictor):
    """A stack that cannot run (here one input preprocessed at another size) falls back to batch 1."""
    films = sorted(NATIVE_DIR.glob("*/*.jpeg"))[:4]
    prepared = [prepare_study_file(p, viewer_predictor, None, MIN_SIDE) for p in films]
    other_size = dataclasses.replace(viewer_predictor.config, input_size=viewer_predictor.config.input_size + 16)
    items = [(r, x, None) for r, x, _ in prepared]
    items[2] = (items[2][0], preprocess(load_study(films[2], min_side=MIN_SIDE).pixels, other_size), None)
    results = score_prepared(items, viewer_predictor)
    assert [r.path for r in results] == films
    assert "scoring failed" in results[2].error and results[2].probability is None
    for i in (0, 1, 3):
        expected = finish_prepared(copy.copy(prepared[i][0]), prepared[i][1], viewer_predictor)
        assert not results[i].error and results[i].probability == pytest.approx(expected.probability, abs=FLOAT_NOISE)


def test_dicoms_whose_decoder_holds_the_gil_go_to_the_decode_processes():
    """Routing follows the transfer syntax pydicom reads: compressed but not JPEG baseline / extended."""
    selftest = REPO / "resources" / "selftest"
    files = sorted(DICOM_DIR.glob("*.dcm")) + sorted(selftest.glob("*.dcm")) + sorted(NATIVE_DIR.glob("*/*.jpeg"))[:3]
    for path in files:
        syntax = pydicom.dcmread(path, stop_before_pixels=True, force=True).file_meta.get("TransferSyntaxUID", "")
        meta_in_file = path.read_bytes()[128:132] == b"DICM"
        expected = (
            meta_in_file and syntax.is_compressed and syntax not in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")
        )
        assert compressed_dicom(path) == expected, (path.name, syntax)
    assert sum(compressed_dicom(p) for p in files) >= 5  # JPEG 2000, JPEG-LS and RLE among them


def test_a_study_decoded_in_a_process_equals_the_one_decoded_here():
    for path in sorted(DICOM_DIR.glob("*J2K*.dcm")) + [REPO / "resources" / "selftest" / "MR_small_RLE.dcm"]:
        there, error = decode_for_batch(path, MIN_SIDE, processes=1)
        here = load_study(path, min_side=MIN_SIDE)
        assert not error and there is not None and there.raw is None  # scoring needs only the display pixels
        assert np.array_equal(there.pixels, here.pixels) and there.metadata == here.metadata, path.name
