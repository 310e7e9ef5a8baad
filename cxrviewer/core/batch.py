"""Folder scanning, per-file assessment (load, input checks, score) and the headless batch CSV."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable
from contextlib import closing
from functools import partial
from pathlib import Path

import numpy as np

from .batch_decode import decode_for_batch
from .batch_resume import batch_state_path, file_signature, relative_key, resume_rows, shard_of
from .batch_scoring import DEFAULT_BATCH_SIZE, apply_prediction, scored_in_order
from .folder_scan import scan_folder
from .heatmap_export import export_study_heatmap
from .input_checks import Reference, check_study
from .patient_age import age_evidence, format_years
from .reduced_decode import MIN_SIDE as REDUCED_MIN_SIDE
from .result_csv import RESULT_COLUMNS, result_row
from .study import Study
from .study_result import StudyResult


def result_from_metadata(path: Path, meta: dict) -> StudyResult:
    evidence = age_evidence(meta)
    return StudyResult(
        path=Path(path),
        patient_name=meta.get("patient_name", ""),
        patient_id=meta.get("patient_id", ""),
        study_date=meta.get("study_date", ""),
        modality=meta.get("modality", ""),
        view=meta.get("view_position", ""),
        age=evidence.describe(),
        age_years=evidence.years,
        study_instance_uid=meta.get("study_instance_uid", ""),
        series_instance_uid=meta.get("series_instance_uid", ""),
    )


def assess_study(study: Study, predictor=None, reference: Reference | None = None) -> StudyResult:
    """Input checks and (when a predictor is given) the score of an already loaded study."""
    result = result_from_metadata(study.path, study.metadata)
    result.warnings = withhold_reasons(study, predictor, reference)
    if predictor is None:
        result.error = "no model available"
        return result
    return apply_prediction(result, predictor.predict(study))


def withhold_reasons(study: Study, predictor=None, reference: Reference | None = None) -> list[str]:
    """Every reason the app withholds this study's score: the input checks, then the model's population."""
    return check_study(study, reference) + population_reasons(study.metadata, predictor)


def population_reasons(meta: dict, predictor) -> list[str]:
    """Why the model card's intended population excludes the study (the patient's age); empty if it does not.

    An unknown age excludes nothing here: the pixel gate decides. Conflicting sources withhold when either
    of them lies outside the card's range.
    """
    population = getattr(getattr(predictor, "card", None), "intended_population", None)
    if population is None:
        return []
    evidence = age_evidence(meta)
    outside = [r for r in evidence.readings if not population.admits_age(r.years)]
    if not outside:
        return []
    validated = f"the model was validated on {population.age_text()}"
    if evidence.conflict:
        return [f"patient age conflicting ({evidence.describe()}); {validated}"]
    return [f"patient aged {format_years(outside[0].years)}; {validated}"]


def load_or_refuse(
    path: Path, min_side: int | None = None, dicom_processes: int = 0
) -> tuple[Study | None, StudyResult | None]:
    """(study, None), or (None, an unreadable result whose error says why in one line). Never raises.

    ``min_side``: decode reduced for scoring only (``load_study``; reduced_decode.py). ``dicom_processes``:
    decode DICOM files in that many shared processes, off this process's GIL (batch_decode.py; 0: here)."""
    study, error = decode_for_batch(path, min_side, dicom_processes)
    if study is not None:
        return study, None
    return None, StudyResult(path=path, error=error, unreadable=True)


def assess_file(path: str | os.PathLike, predictor=None, reference: Reference | None = None) -> StudyResult:
    """Never raises: an unreadable file or an unexpected failure becomes ``error`` in the result."""
    path = Path(path)
    study, refused = load_or_refuse(path)
    if study is None:
        assert refused is not None
        return refused
    try:
        return assess_study(study, predictor, reference)
    except Exception as exc:  # noqa: BLE001
        result = result_from_metadata(path, study.metadata)
        result.error = f"{path.name}: scoring failed ({type(exc).__name__}: {exc})"
        return result


def prepare_file(
    path: str | os.PathLike[str], predictor=None, reference: Reference | None = None
) -> tuple[StudyResult, np.ndarray | None]:
    """Everything but the model for one file: load, input checks, model input. Never raises.

    Returns ``(result, model_input)``; ``model_input`` is None when there is nothing to score. Runs in
    :func:`run_batch`'s decode threads while the model scores earlier files (``batch_scoring``).
    """
    result, model_input, _ = prepare_study_file(path, predictor, reference)
    return result, model_input


def prepare_study_file(
    path: str | os.PathLike[str],
    predictor=None,
    reference: Reference | None = None,
    min_side: int | None = None,
    dicom_processes: int = 0,
) -> tuple[StudyResult, np.ndarray | None, tuple[int, int] | None]:
    """:func:`prepare_file` plus the file's pixel shape (H, W), which ``--heatmaps`` maps are resampled to
    (the file's own size, also when ``min_side`` decoded it reduced)."""
    path = Path(path)
    study, refused = load_or_refuse(path, min_side, dicom_processes)
    if study is None:
        return refused or StudyResult(path=path, error="unreadable", unreadable=True), None, None
    result = result_from_metadata(path, study.metadata)
    try:
        result.warnings = withhold_reasons(study, predictor, reference)
        if predictor is None:
            result.error = "no model available"
            return result, None, study.file_shape
        return result, predictor.model_input(study), study.file_shape
    except Exception as exc:  # noqa: BLE001
        result.error = f"{path.name}: scoring failed ({type(exc).__name__}: {exc})"
        return result, None, study.file_shape


def default_decode_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def run_batch(
    folder: str | os.PathLike,
    csv_path: str | os.PathLike,
    predictor=None,
    reference: Reference | None = None,
    progress: Callable[[int, int, StudyResult], None] | None = None,
    workers: int | None = None,
    *,
    resume: bool = False,
    shard: tuple[int, int] | None = None,
    keep_results: bool = True,
    heatmaps_dir: str | os.PathLike[str] | None = None,
    min_side: int | None = REDUCED_MIN_SIDE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dicom_processes: int | None = None,
) -> list[StudyResult]:
    """Score every file under ``folder`` and write one CSV row per file found (skipped ones included).

    The CSV is opened before scanning (so an unwritable path fails at once with OSError) and each row is
    flushed as it is written, so an interrupted run (a crash, Ctrl-C) leaves a valid CSV of the rows done
    so far. Beside it, ``OUT.csv.state.jsonl`` records each row's file size and mtime; with ``resume`` the
    rows of files unchanged since are kept (a cut last line, duplicates and changed files are dropped) and
    only the other files are scored and appended. ``shard=(i, n)`` takes the files whose relative path
    hashes to ``i`` of ``n`` (:func:`shard_of`): n runs with i = 0..n-1 cover the folder exactly once.

    Files are decoded and preprocessed by ``workers`` threads a few files ahead of the model (decoding
    overlaps inference); the model scores the next file together with the following ones already prepared,
    up to ``batch_size`` per forward pass (batch_scoring.py; 1: each file alone), and rows are written in path
    order. Memory stays flat however many files there are when ``keep_results`` is False (the results are
    then not returned). Compressed DICOMs decode in ``dicom_processes`` spawned processes (default: as many
    as ``workers``; 0: in the decode threads), because their decoders hold the GIL (batch_decode.py); a
    script that calls this keeps its own work under ``if __name__ == "__main__":``, since a spawned process
    imports the script's main module.
    ``batch_size=1, min_side=None, dicom_processes=0`` is the pipeline as it was before these speed-ups.
    ``heatmaps_dir``: also write each vouched-for study's map in its own pixel grid (``heatmap_export``).
    ``min_side``: JPEG / JPEG 2000 decoded reduced for scoring (reduced_decode.py; None: full decode).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: no such folder")
    csv_path = Path(csv_path)
    state_path = batch_state_path(csv_path)
    resuming = resume and csv_path.is_file() and csv_path.stat().st_size > 0
    if resuming:
        open(csv_path, "r+b").close()  # fails at once, like a fresh run, if it cannot be written
    else:
        with open(csv_path, "w", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, fieldnames=RESULT_COLUMNS).writeheader()
        state_path.write_text("")
    ours = {
        os.path.realpath(p)  # realpath, unlike Path.resolve, never raises on a link loop
        for p in (csv_path, state_path, Path(f"{csv_path}.tmp"), Path(f"{state_path}.tmp"))
    }
    scan = scan_folder(folder)
    items: list[tuple[Path, str | None]] = [(p, None) for p in scan.candidates]
    items += [(p, why) for p, why in scan.skipped if os.path.realpath(p) not in ours]
    del scan
    items.sort(key=lambda item: str(item[0]))
    if shard is not None:
        index, count = shard
        items = [item for item in items if shard_of(relative_key(item[0], folder), count) == index]
    done: set[str] = set()
    if resuming:
        current = {relative_key(p, folder): file_signature(p) for p, _ in items}
        done = resume_rows(csv_path, state_path, folder, current)
        del current
        items = [item for item in items if relative_key(item[0], folder) not in done]
    results: list[StudyResult] = []
    with (
        open(csv_path, "a", newline="", encoding="utf-8") as fh,
        open(state_path, "a", encoding="utf-8", errors="surrogateescape") as state,
    ):
        writer = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        workers = default_decode_workers() if workers is None else max(1, workers)

        processes = workers if dicom_processes is None else max(0, dicom_processes)

        def prepare(path: Path):
            return prepare_study_file(path, predictor, reference, min_side, processes)

        map_for = None
        if heatmaps_dir is not None and predictor is not None:
            map_for = partial(_heatmap_writer, Path(heatmaps_dir), folder, predictor.config.input_size)
        scored = scored_in_order(items, prepare, predictor, workers=workers, batch_size=batch_size, map_for=map_for)
        with closing(scored):  # on Ctrl-C: drop the files queued ahead instead of decoding them
            for i, result in enumerate(scored, start=1):
                signature = file_signature(result.path)
                row = result_row(result)
                writer.writerow(row)
                fh.flush()  # the row first: a row without its state line is redone by --resume
                if signature is not None:
                    record = {"path": row["path"], "rel": relative_key(result.path, folder)}
                    state.write(json.dumps({**record, "size": signature[0], "mtime_ns": signature[1]}) + "\n")
                    state.flush()
                if keep_results:
                    results.append(result)
                if progress:
                    progress(i, len(items), result)
    return results


def _heatmap_writer(maps_dir: Path, folder: Path, input_size: int, path: Path, shape: tuple[int, int] | None):
    """The ``on_map`` of one study for ``--heatmaps`` (None when its shape is unknown: nothing to map onto)."""
    if shape is None:
        return None
    return partial(export_study_heatmap, maps_dir, path, folder, input_size=input_size, shape=shape)


def read_batch_csv(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def iter_results_sorted(results: Iterable[StudyResult]) -> list[StudyResult]:
    """Most suspicious first: called studies by descending probability, then withheld, then unreadable ones."""
    return sorted(results, key=result_sort_key)


def result_sort_key(r: StudyResult) -> tuple[int, float, str]:
    rank = r.verdict.sort_rank
    return rank, -(r.probability or 0.0) if rank == 0 else 0.0, str(r.path)
