"""Background model work: bundle loading, scoring and Grad-CAM on one worker thread.

Every use of the model goes through one single-thread QThreadPool, so predictions and Grad-CAM
never run concurrently (the Predictor is not thread-safe for that). Workers never touch widgets: they
only emit signals, which Qt delivers in the UI thread (queued connections).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from cxrviewer.core.batch import StudyResult, assess_file, assess_study
from cxrviewer.core.bundle import load_bundle
from cxrviewer.core.errors import BundleError
from cxrviewer.core.input_checks import Reference, load_reference
from cxrviewer.core.scoring_queue import ScoreRequest
from cxrviewer.core.study import Study

if TYPE_CHECKING:  # imported in the worker when a model loads: onnxruntime stays out of the UI's start
    from cxrviewer.core.predictor import Predictor

PRIORITY_BATCH = 0
PRIORITY_INTERACTIVE = 10  # the study on screen and Grad-CAM jump the folder queue


class ServiceSignals(QObject):
    model_loaded = Signal(int, str, object)  # generation, bundle name, ModelCard
    model_failed = Signal(int, str)  # generation, message ("" bundle path means no model)
    result_ready = Signal(int, int, object)  # ticket, row id, StudyResult
    cancelled = Signal(int, int)  # ticket, row id whose queued scoring was cancelled
    gradcam_ready = Signal(str, str, object)  # path, model name, heat (H, W) float32
    gradcam_failed = Signal(str, str)  # path, message


class _Task(QRunnable):
    """The pool owns and deletes the task after run() (autoDelete); PySide keeps the Python side alive."""

    def __init__(self, fn: Callable[[], None]):
        super().__init__()
        self.setAutoDelete(True)
        self._fn = fn

    def run(self) -> None:
        try:
            self._fn()
        except Exception:  # noqa: BLE001 - a worker must never take the app down
            traceback.print_exc()


class ModelService(QObject):
    """Owns the predictor; all its methods are called from the UI thread and return at once."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.signals = ServiceSignals()
        self._predictor: Predictor | None = None
        self._shutting_down = threading.Event()
        self.generation = 0
        self._loaded_generation = 0  # generation whose load has finished (self._predictor belongs to it)
        self._pending_load: Callable[[], None] = lambda: None  # the latest load_model's work
        self.model_name = ""
        self._reference_loaded = False
        self._reference: Reference | None = None
        # thread ids that scored / computed Grad-CAM: the self-test proves it was never the UI thread
        self.worker_threads: dict[str, set[int]] = {"score": set(), "gradcam": set()}

    @property
    def predictor(self):
        """The loaded Predictor, or None (read-only: for reports such as the self-test's)."""
        return self._predictor

    # -- plumbing --------------------------------------------------------------------------------
    def _submit(self, fn: Callable[[], None], priority: int) -> None:
        self.pool.start(_Task(fn), priority)

    def _reference_in_worker(self):
        if not self._reference_loaded:
            self._reference = load_reference()
            self._reference_loaded = True
        return self._reference

    def run_in_worker(self, fn: Callable[[], None]) -> None:
        """Run other model work (e.g. a site calibration) on the same single worker thread."""
        self._submit(fn, PRIORITY_BATCH)

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)

    def shutdown(self) -> None:
        self._shutting_down.set()
        self.pool.clear()
        self.pool.waitForDone(10000)

    # -- model -----------------------------------------------------------------------------------
    def load_model(self, bundle_dir: Path | None) -> int:
        """Load a bundle in the background (None: run without a model). Returns the new generation."""
        self.generation += 1
        gen = self.generation

        def work():
            if self._loaded_generation >= gen:  # already run inline by a scoring task that needed it
                return
            try:
                load()
            finally:
                self._loaded_generation = max(self._loaded_generation, gen)

        def load():
            if bundle_dir is None:
                self._predictor = None
                self.signals.model_failed.emit(gen, "")
                return
            try:
                from cxrviewer.core.predictor import Predictor  # onnxruntime loads here, after the window is up

                predictor = Predictor(load_bundle(bundle_dir))
            except BundleError as exc:
                self._predictor = None
                self.signals.model_failed.emit(gen, str(exc))
                return
            except Exception as exc:  # noqa: BLE001
                self._predictor = None
                self.signals.model_failed.emit(gen, f"{Path(bundle_dir).name}: {type(exc).__name__}: {exc}")
                return
            self._predictor = predictor
            self.signals.model_loaded.emit(gen, predictor.name, predictor.bundle.card)

        self._pending_load = work
        self._submit(work, PRIORITY_INTERACTIVE + 10)
        return gen

    # -- scoring ---------------------------------------------------------------------------------
    def score(self, request: ScoreRequest, study: Study | None = None) -> None:
        """Check and score one file (or an already loaded study) in the background.

        result_ready or cancelled later reports with the request's ticket; the scoring queue
        (cxrviewer.core.scoring_queue) decides whether the answer is still wanted.
        """
        gen = self.generation
        priority = PRIORITY_INTERACTIVE if request.interactive else PRIORITY_BATCH

        def work():
            if request.cancelled or self._shutting_down.is_set():
                self.signals.cancelled.emit(request.ticket, request.row_id)
                return
            if self._loaded_generation < gen:
                # The model asked for before this request has not loaded yet: load it here, on this same
                # (only) worker thread, rather than requeue and rely on the pool's priority order, which
                # was seen to leave the load queued behind requeued requests indefinitely.
                self._pending_load()
            self.worker_threads["score"].add(threading.get_ident())
            reference = self._reference_in_worker()
            predictor = self._predictor
            if study is not None:
                try:
                    result = assess_study(study, predictor, reference)
                except Exception as exc:  # noqa: BLE001
                    result = StudyResult(path=request.path, error=f"scoring failed ({type(exc).__name__}: {exc})")
            else:
                result = assess_file(request.path, predictor, reference)
            self.signals.result_ready.emit(request.ticket, request.row_id, result)

        self._submit(work, priority)

    # -- Grad-CAM --------------------------------------------------------------------------------
    def gradcam(self, study: Study) -> None:
        path = str(study.path)

        def work():
            predictor = self._predictor
            if predictor is None:
                self.signals.gradcam_failed.emit(path, "no model is loaded")
                return
            self.worker_threads["gradcam"].add(threading.get_ident())
            try:
                heat = predictor.gradcam(study)
            except Exception as exc:  # noqa: BLE001
                self.signals.gradcam_failed.emit(path, f"Grad-CAM failed: {type(exc).__name__}: {exc}")
                return
            self.signals.gradcam_ready.emit(path, predictor.name, heat)

        self._submit(work, PRIORITY_INTERACTIVE)
