"""Folder scanning, per-file assessment (load, input checks, score) and the headless batch CSV."""

from __future__ import annotations

import csv
import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import StudyError
from .input_checks import Reference, check_study
from .study import Study, load_study

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".dcm", ".dicom"}
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
NOT_AN_IMAGE = "skipped: not a PNG, JPEG or DICOM file"
BATCH_COLUMNS = ("path", "probability", "label", "threshold", "model", "warning", "error")


@dataclass
class StudyResult:
    """What the worklist and the batch CSV know about one file."""

    path: Path
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modality: str = ""
    view: str = ""
    probability: float | None = None
    label: str = ""
    positive: bool = False  # label is the model's positive class (from its card)
    threshold: float | None = None
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def scored(self) -> bool:
        return self.probability is not None

    @property
    def status(self) -> str:
        if self.error:
            return f"error: {self.error}"
        if self.warnings:
            return "warning: " + "; ".join(self.warnings)
        return "scored" if self.scored else "not scored"


@dataclass
class FolderScan:
    candidates: list[Path]  # files that look like images (by extension or content)
    skipped: list[tuple[Path, str]]  # other files, with the reason


def looks_like_image(path: Path) -> bool:
    """By extension, or by content for files without one we know (DICOM often has no extension)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM" or any(head.startswith(m) for m in MAGIC)


def scan_folder(folder: str | os.PathLike) -> FolderScan:
    """All regular files under ``folder`` (recursive, sorted; directory links are not followed)."""
    candidates: list[Path] = []
    skipped: list[tuple[Path, str]] = []

    def unreadable(err: OSError) -> None:  # os.walk would otherwise drop such a folder silently
        skipped.append((Path(err.filename or folder), f"skipped: folder cannot be read ({err.strerror or err})"))

    for root, dirs, files in os.walk(os.fspath(folder), onerror=unreadable):
        for name in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            skipped.append((Path(root) / name, "skipped: link to a folder (not followed)"))
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_file():
                skipped.append((path, "skipped: not a regular file"))
            elif looks_like_image(path):
                candidates.append(path)
            else:
                skipped.append((path, NOT_AN_IMAGE))
    return FolderScan(candidates, skipped)


def result_from_metadata(path: Path, meta: dict) -> StudyResult:
    return StudyResult(
        path=Path(path),
        patient_name=meta.get("patient_name", ""),
        patient_id=meta.get("patient_id", ""),
        study_date=meta.get("study_date", ""),
        modality=meta.get("modality", ""),
        view=meta.get("view_position", ""),
    )


def assess_study(study: Study, predictor=None, reference: Reference | None = None) -> StudyResult:
    """Input checks and (when a predictor is given) the score of an already loaded study."""
    result = result_from_metadata(study.path, study.metadata)
    result.warnings = check_study(study, reference)
    if predictor is None:
        result.error = "no model available"
        return result
    return apply_prediction(result, predictor.predict(study))


def apply_prediction(result: StudyResult, pred) -> StudyResult:
    result.probability, result.label, result.threshold, result.model, result.positive = (
        pred.probability,
        pred.label,
        pred.threshold,
        pred.model_name,
        pred.positive,
    )
    return result


def assess_file(path: str | os.PathLike, predictor=None, reference: Reference | None = None) -> StudyResult:
    """Never raises: an unreadable file or an unexpected failure becomes ``error`` in the result."""
    path = Path(path)
    try:
        study = load_study(path)
    except StudyError as exc:
        return StudyResult(path=path, error=str(exc))
    except MemoryError:
        return StudyResult(path=path, error=f"{path.name}: not enough memory to decode the image")
    except Exception as exc:  # noqa: BLE001 - a batch must never stop on one file
        return StudyResult(path=path, error=f"{path.name}: unexpected {type(exc).__name__} while reading: {exc}")
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
    :func:`run_batch`'s decode threads while the model scores earlier files (:func:`finish_prepared`).
    """
    path = Path(path)
    try:
        study = load_study(path)
    except StudyError as exc:
        return StudyResult(path=path, error=str(exc)), None
    except MemoryError:
        return StudyResult(path=path, error=f"{path.name}: not enough memory to decode the image"), None
    except Exception as exc:  # noqa: BLE001 - a batch must never stop on one file
        return StudyResult(path=path, error=f"{path.name}: unexpected {type(exc).__name__} while reading: {exc}"), None
    result = result_from_metadata(path, study.metadata)
    try:
        result.warnings = check_study(study, reference)
        if predictor is None:
            result.error = "no model available"
            return result, None
        return result, predictor.model_input(study)
    except Exception as exc:  # noqa: BLE001
        result.error = f"{path.name}: scoring failed ({type(exc).__name__}: {exc})"
        return result, None


def finish_prepared(result: StudyResult, model_input, predictor) -> StudyResult:
    """Score a prepared file (batch 1: the same probability as :func:`assess_file`)."""
    if model_input is None or predictor is None:
        return result
    try:
        pred = predictor.to_prediction(predictor.probabilities(model_input[None])[0])
    except Exception as exc:  # noqa: BLE001
        result.error = f"{result.path.name}: scoring failed ({type(exc).__name__}: {exc})"
        return result
    return apply_prediction(result, pred)


def default_decode_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def batch_row(result: StudyResult) -> dict:
    return {
        "path": str(result.path),
        "probability": "" if result.probability is None else f"{result.probability:.6f}",
        "label": result.label,
        "threshold": "" if result.threshold is None else f"{result.threshold:g}",
        "model": result.model,
        "warning": "; ".join(result.warnings),
        "error": result.error,
    }


def run_batch(
    folder: str | os.PathLike,
    csv_path: str | os.PathLike,
    predictor=None,
    reference: Reference | None = None,
    progress: Callable[[int, int, StudyResult], None] | None = None,
    workers: int | None = None,
) -> list[StudyResult]:
    """Score every file under ``folder`` and write one CSV row per file found (skipped ones included).

    The CSV is opened before scanning (so an unwritable path fails at once with OSError) and flushed
    after every row, so an interrupted run leaves the rows done so far. Files are decoded and
    preprocessed by ``workers`` threads a few files ahead of the model (decoding overlaps inference);
    rows are still written in path order and each study is scored at batch 1.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: no such folder")
    csv_path = Path(csv_path)
    out_resolved = os.path.realpath(csv_path)  # realpath, unlike Path.resolve, never raises on a link loop
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=BATCH_COLUMNS)
        writer.writeheader()
        fh.flush()
        scan = scan_folder(folder)
        items: list[tuple[Path, str | None]] = [(p, None) for p in scan.candidates]
        items += [(p, why) for p, why in scan.skipped if os.path.realpath(p) != out_resolved]
        items.sort(key=lambda item: str(item[0]))
        results = []
        workers = default_decode_workers() if workers is None else max(1, workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxr-decode") as pool:
            ahead: deque = deque()  # futures in path order, at most 2 x workers + 1 studies in memory
            todo = iter(items)

            def refill():
                while len(ahead) < 2 * workers + 1:
                    item = next(todo, None)
                    if item is None:
                        return
                    path, why = item
                    ahead.append((path, why, None if why else pool.submit(prepare_file, path, predictor, reference)))

            refill()
            i = 0
            while ahead:
                path, why, future = ahead.popleft()
                refill()
                if why:
                    result = StudyResult(path=path, error=why)
                else:
                    prepared, model_input = future.result()
                    result = finish_prepared(prepared, model_input, predictor)
                writer.writerow(batch_row(result))
                fh.flush()
                results.append(result)
                i += 1
                if progress:
                    progress(i, len(items), result)
    return results


def read_batch_csv(path: str | os.PathLike) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def iter_results_sorted(results: Iterable[StudyResult]) -> list[StudyResult]:
    """Most suspicious first: scored studies by descending probability, then unscored ones."""
    return sorted(results, key=lambda r: (r.probability is None, -(r.probability or 0.0), str(r.path)))
