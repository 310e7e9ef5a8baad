"""Decoding off the UI thread and off the model's thread: each file decoded once, for the screen or for scoring.

The model worker may be busy loading a bundle or scoring; the screen must not wait for it, and the model must
not spend its thread on decoding. So decoding has its own threads. A request for the screen jumps every
scoring decode (priority). Scoring decodes run at reduced resolution (``min_side``; see reduced_decode.py)
and at most ``max_ahead`` decoded studies wait for the model at a time (:meth:`DecodePool.release` frees a
place once the model has taken one), so a 3,000-file folder never sits decoded in memory.

    pool = DecodePool()
    pool.submit(path, on_done, for_screen=True)                # on_done(DecodeJob) in a pool thread
    pool.submit(path, on_done, min_side=MIN_SIDE, cancel=ev)   # scoring: skipped once ``ev`` is set
    pool.release()                                             # the model consumed one scoring study
    pool.run(fn)                                               # other file work (a folder's index)
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import StudyError
from .sniff import DICOM_KINDS, sniff_file
from .study import Study, load_study
from .windowing import auto_window

PRIORITY_SCREEN = 0
PRIORITY_OTHER = 1  # folder indexing
PRIORITY_SCORING = 2
THUMBNAIL_SIDE = 64
SCREEN_KEPT = 4  # screen decodes remembered for scoring (as many as the viewer's own study cache)


@dataclass
class DecodeJob:
    path: Path
    for_screen: bool
    min_side: int | None = None
    cancel: threading.Event | None = None
    frame: int = 0
    study: Study | None = None
    error: str = ""  # one line when the file could not be decoded
    cancelled: bool = False
    thumbnail: np.ndarray | None = None  # (h, w) uint8, longer side THUMBNAIL_SIDE, from the same decode
    reused: bool = False  # scoring took the study already decoded for the screen (no second decode)
    on_done: Callable[[DecodeJob], None] = field(default=lambda job: None, repr=False)


def thumbnail(study: Study, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A small uint8 picture of the study's display pixels (longer side ``side``), for the worklist.

    Shrunk first (Pillow, which lets other threads run meanwhile), quantised after: little work per study."""
    img = Image.fromarray(np.ascontiguousarray(study.pixels, dtype=np.float32), mode="F")
    img.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    small = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)


def decode_with_thumbnail(
    path: Path, min_side: int | None, frame: int, want_thumbnail: bool
) -> tuple[Study | None, str, np.ndarray | None]:
    """:func:`decode` plus the thumbnail, in one call (what a decode process runs)."""
    study, error = decode(path, min_side, frame)
    small = None
    if study is not None and want_thumbnail:
        try:
            small = thumbnail(study)
        except Exception:  # noqa: BLE001 - a thumbnail is a nicety
            small = None
    return study, error, small


def decode(path: Path, min_side: int | None = None, frame: int = 0) -> tuple[Study | None, str]:
    """(study, "") or (None, a one-line reason). Never raises."""
    try:
        return load_study(path, frame=frame, min_side=min_side), ""
    except StudyError as exc:
        return None, str(exc)
    except MemoryError:
        return None, f"{Path(path).name}: not enough memory to decode the image"
    except Exception as exc:  # noqa: BLE001 - a decode thread must never stop on one file
        return None, f"{Path(path).name}: unexpected {type(exc).__name__} while reading: {exc}"


class DecodePool:
    def __init__(
        self, workers: int | None = None, max_ahead: int = 6, processes: int = 1, scoring_workers: int | None = None
    ):
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._ahead = threading.Semaphore(max_ahead)
        # scoring decodes at once (None: as many as threads); the GUI keeps one, so that a thread is always
        # free for the screen's decode and the CPU is not all taken by triage
        self._scoring = threading.Semaphore(scoring_workers) if scoring_workers else None
        self._closed = threading.Event()
        count = workers or max(1, min(2, (os.cpu_count() or 1)))
        self._threads = [threading.Thread(target=self._work, name=f"cxr-decode-{i}", daemon=True) for i in range(count)]
        self.decoded = 0  # files decoded so far (a test reads it to prove that nothing is decoded twice)
        self._lock = threading.Lock()
        self._on_screen: OrderedDict[Path, Study] = OrderedDict()  # the last few screen decodes, for scoring
        # DICOM decoders (JPEG 2000 in pydicom's plugins and in Pillow alike) hold the GIL for a whole frame
        # (benchmarks/ui_contention.py), during which no Python runs on the UI thread either. So DICOM files are decoded
        # in a separate process (started at the first one); threads remain the fallback.
        self._processes = processes
        self._executor: Executor | None = None
        self._executor_lock = threading.Lock()
        for t in self._threads:
            t.start()

    def submit(
        self,
        path: str | os.PathLike,
        on_done: Callable[[DecodeJob], None],
        *,
        for_screen: bool = False,
        min_side: int | None = None,
        cancel: threading.Event | None = None,
        frame: int = 0,
        thumbnail: bool = True,
    ) -> DecodeJob:
        # cancel: a scoring request cancelled, or a screen request superseded by the next one (N held down)
        job = DecodeJob(Path(path), for_screen, None if for_screen else min_side, cancel, frame, on_done=on_done)
        job.thumbnail = np.zeros((0, 0), np.uint8) if not thumbnail else None
        priority = PRIORITY_SCREEN if for_screen else PRIORITY_SCORING
        self._queue.put((priority, next(self._order), job))
        return job

    def run(self, fn: Callable[[], None]) -> None:
        """Other file work (scanning and indexing a folder) on the pool, ahead of scoring decodes."""
        self._queue.put((PRIORITY_OTHER, next(self._order), fn))

    def shown(self, path: Path, study: Study) -> None:
        """A study decoded elsewhere for the screen: scoring it takes this one too."""
        with self._lock:
            self._on_screen[Path(path)] = study
            while len(self._on_screen) > SCREEN_KEPT:
                self._on_screen.popitem(last=False)

    def release(self) -> None:
        """The model has taken one scoring study: one more may be decoded ahead."""
        self._ahead.release()

    def _decode_in_process(self, job: DecodeJob) -> bool:
        """Decode a DICOM file in the decode process; False (decode here instead) for anything else."""
        if not self._processes or sniff_file(job.path) not in DICOM_KINDS:
            return False
        executor = self._process_executor()
        if executor is None:
            return False
        try:
            job.study, job.error, small = executor.submit(
                decode_with_thumbnail, job.path, job.min_side, job.frame, job.thumbnail is None
            ).result()
        except Exception:  # noqa: BLE001 - a broken or refused process pool: decode in this thread from now on
            self._processes = 0
            return False
        if small is not None:
            job.thumbnail = small
        return True

    def _process_executor(self):
        with self._executor_lock:
            if self._executor is None and self._processes and not self._closed.is_set():
                try:
                    import multiprocessing
                    from concurrent.futures import ProcessPoolExecutor

                    context = multiprocessing.get_context("spawn")  # never fork a process that runs Qt threads
                    self._executor = ProcessPoolExecutor(self._processes, mp_context=context)
                except Exception:  # noqa: BLE001 - no processes here (sandbox, frozen without support)
                    self._processes = 0
            return self._executor

    def shutdown(self, wait: float = 5.0) -> None:
        self._closed.set()
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
        for _ in self._threads:
            self._queue.put((-1, next(self._order), None))
        for t in self._threads:
            t.join(wait)

    def _work(self) -> None:
        while not self._closed.is_set():
            priority, order, item = self._queue.get()
            if item is None:
                return
            try:
                if not isinstance(item, DecodeJob):
                    item()
                elif self._cancelled(item):
                    item.cancelled = True
                    item.on_done(item)
                elif item.for_screen:
                    self._decode(item)
                elif self._take_scoring_place():
                    try:
                        self._decode(item)
                    finally:
                        if self._scoring is not None:
                            self._scoring.release()
                else:  # no place ahead of the model: back in line, so a screen request can pass it
                    self._queue.put((priority, order, item))
            except Exception:  # noqa: BLE001 - the pool must outlive any one job's callback
                traceback.print_exc()

    def _take_scoring_place(self) -> bool:
        """A scoring decode may start: a scoring thread is free and fewer than max_ahead studies wait."""
        if self._scoring is not None and not self._scoring.acquire(timeout=0.05):
            return False
        if self._ahead.acquire(timeout=0.05):
            return True
        if self._scoring is not None:
            self._scoring.release()
        return False

    @staticmethod
    def _cancelled(job: DecodeJob) -> bool:
        return job.cancel is not None and job.cancel.is_set()

    def _decode(self, job: DecodeJob) -> None:
        with self._lock:
            shown = self._on_screen.get(job.path) if not job.for_screen and job.frame == 0 else None
        if shown is not None:  # the screen's full decode serves scoring too
            job.study, job.reused = shown, True
            job.on_done(job)
            return
        if not self._decode_in_process(job):
            job.study, job.error = decode(job.path, job.min_side, job.frame)
        with self._lock:
            self.decoded += 1
            if job.for_screen and job.study is not None and job.frame == 0:
                self._on_screen[job.path] = job.study
                while len(self._on_screen) > SCREEN_KEPT:
                    self._on_screen.popitem(last=False)
        if job.for_screen and job.study is not None:  # what the display asks for first, computed here
            auto_window(job.study.raw if job.study.raw is not None else job.study.pixels)
        if job.study is not None and job.thumbnail is None:
            try:
                job.thumbnail = thumbnail(job.study)
            except Exception:  # noqa: BLE001 - a thumbnail is a nicety; the study itself is fine
                job.thumbnail = None
        if not job.for_screen and job.study is None:
            self._ahead.release()  # nothing for the model to take
        job.on_done(job)
