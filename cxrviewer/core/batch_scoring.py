"""Scoring for :func:`cxrviewer.core.batch.run_batch`: prepared files through the classifier, several at once.

Decode threads prepare files (load, input checks, model input) a few files ahead; the scoring side takes the
next file in path order and, with it, the following files that are already prepared, up to ``batch_size``
model inputs, and runs the classifier once on the stack. Batching only where files are ready means a
decode-bound folder scores as soon as each file arrives (small batches), while an inference-bound folder
(ResNet50) fills whole batches. The results come back in path order, one per file.

The probabilities equal batch-1 scoring within float noise (ONNX Runtime's kernels may sum in another order
for another batch size; ``tests/test_batch_batched.py`` holds them to 1e-6 on the native films and DICOMs).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .study_result import StudyResult

DEFAULT_BATCH_SIZE = 8  # ResNet50 costs less per study at 8 than at 1 (benchmarks/triage.py: the forward pass alone)

OnMap = Callable[[np.ndarray], object]
Prepared = tuple[StudyResult, np.ndarray | None, tuple[int, int] | None]  # result, model input, file shape


def apply_prediction(result: StudyResult, pred) -> StudyResult:
    result.probability, result.threshold, result.model = pred.probability, pred.threshold, pred.model_name
    result.band, result.threshold_source = pred.band, pred.threshold_source
    result.positive_class, result.negative_class = pred.positive_class, pred.negative_class
    return result


def finish_prepared(result: StudyResult, model_input, predictor, on_map: OnMap | None = None) -> StudyResult:
    """Score a prepared file (batch 1: the same probability as :func:`cxrviewer.core.batch.assess_file`).

    ``on_map`` receives the graph's raw ``cam`` grid of the same forward pass, only for a study whose score
    the verdict vouches for (never a withheld one).
    """
    if model_input is None or predictor is None:
        return result
    try:
        logits, cam = predictor.model(model_input[None])
        pred = predictor.to_prediction(predictor.calibrated(logits)[0])
    except Exception as exc:  # noqa: BLE001 - a batch must never stop on one file
        result.error = f"{result.path.name}: scoring failed ({type(exc).__name__}: {exc})"
        return result
    return _finish(result, pred, cam[0], on_map)


def _finish(result: StudyResult, pred, cam: np.ndarray, on_map: OnMap | None) -> StudyResult:
    result = apply_prediction(result, pred)
    if on_map is not None and result.verdict.scored:
        on_map(cam)
    return result


def score_prepared(
    items: Sequence[tuple[StudyResult, np.ndarray | None, OnMap | None]], predictor
) -> list[StudyResult]:
    """Score prepared files in one forward pass; one result per item, in the items' order.

    Items without a model input (unreadable, no model) pass through unchanged. A single input is scored
    exactly as :func:`finish_prepared`. If the stacked run fails, each file is scored alone, so that one
    file's failure costs only that file its score.
    """
    scoreable = [i for i, (_, model_input, _) in enumerate(items) if model_input is not None]
    inputs = [x for _, x, _ in items if x is not None]
    if predictor is None or len(inputs) <= 1:
        return [finish_prepared(result, x, predictor, on_map) for result, x, on_map in items]
    try:
        logits, cams = predictor.model(np.stack(inputs))
        probabilities = predictor.calibrated(logits)
    except Exception:  # noqa: BLE001 - e.g. not enough memory for the stack: fall back to batch 1
        return [finish_prepared(result, x, predictor, on_map) for result, x, on_map in items]
    out = [result for result, _, _ in items]
    for row, i in enumerate(scoreable):
        result, _, on_map = items[i]
        out[i] = _finish(result, predictor.to_prediction(probabilities[row]), cams[row], on_map)
    return out


def scored_in_order(
    items: Iterable[tuple[Path, str | None]],
    prepare: Callable[[Path], Prepared],
    predictor,
    *,
    workers: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    map_for: Callable[[Path, tuple[int, int] | None], OnMap | None] | None = None,
) -> Generator[StudyResult, None, None]:
    """Results of ``items`` ((path, why skipped or None)) in their order, scored in batches as files are ready.

    ``prepare(path)`` runs in ``workers`` threads ahead of the model. Use it as ``with closing(...)``: closing
    drops the files still queued (Ctrl-C, a failed CSV write) instead of decoding them.
    """
    batch_size = max(1, batch_size)
    # enough files ahead that a full batch can be ready while the model runs; the decoded studies themselves
    # never pile up (a prepared file keeps only its small model input), at most ``workers`` are in decode
    window = max(2 * workers + 1, 2 * batch_size + workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxr-decode")
    ahead: deque[tuple[Path, str | None, Future[Any] | None]] = deque()
    todo = iter(items)

    def refill() -> None:
        while len(ahead) < window:
            item = next(todo, None)
            if item is None:
                return
            path, why = item
            ahead.append((path, why, None if why else pool.submit(prepare, path)))

    try:
        refill()
        while ahead:
            group = [ahead.popleft()]
            refill()
            if group[0][2] is not None:
                group[0][2].result()  # the next file in path order: always wait for it
            inputs = _input_count(group[0])
            while ahead and inputs < batch_size and _ready(ahead[0]):
                group.append(ahead.popleft())
                inputs += _input_count(group[-1])
            refill()
            yield from score_prepared([_scoring_item(entry, map_for) for entry in group], predictor)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready(entry: tuple[Path, str | None, Future[Any] | None]) -> bool:
    return entry[2] is None or entry[2].done()


def _input_count(entry: tuple[Path, str | None, Future[Any] | None]) -> int:
    return int(entry[2] is not None and entry[2].result()[1] is not None)


def _scoring_item(
    entry: tuple[Path, str | None, Future[Any] | None],
    map_for: Callable[[Path, tuple[int, int] | None], OnMap | None] | None,
) -> tuple[StudyResult, np.ndarray | None, OnMap | None]:
    path, why, future = entry
    if future is None:
        return StudyResult(path=path, error=why or "skipped", unreadable=True), None, None
    result, model_input, shape = future.result()
    on_map = map_for(path, shape) if map_for is not None and model_input is not None else None
    return result, model_input, on_map
