"""The main window's decoding, off the UI thread: the study on screen, the studies to score, a folder's index.

Glue between :class:`cxrviewer.core.decode_pool.DecodePool` (its own threads, apart from the model's) and
the window: a row asked for is decoded in full for the screen and shown when ready (the UI thread never
decodes); a study to score is decoded reduced, handed to the model worker as a decoded study (the worker
never decodes), and its thumbnail goes to the worklist; the screen's decode is what scoring uses when it
comes first. A folder is scanned and indexed (patient / study / images, through its DICOMDIR if it has one)
in the pool too, and its rows are added in chunks, so a 3,000-file folder never freezes the window.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from cxrviewer.core.decode_pool import DecodeJob, DecodePool
from cxrviewer.core.reduced_decode import MIN_SIDE
from cxrviewer.core.scoring_queue import ScoreRequest
from cxrviewer.core.study_index import StudyIndex, index_folder
from cxrviewer.core.study_result import StudyResult

from .worklist_model import index_rows, split_skipped

if TYPE_CHECKING:
    from .main_window import MainWindow

ROWS_PER_TURN = 50  # rows added (and queued for scoring) per turn of the event loop


def install(window: MainWindow) -> DecodeGlue:
    """The window's decoding and its Worklist menu; the pool stops when the window closes."""
    from . import worklist_actions

    glue = DecodeGlue(window)
    window.scoring.decoder = glue.feed
    window.action_table.add(worklist_actions.action_specs(window))
    window.worklist.clear_requested.connect(lambda: worklist_actions.close_worklist(window))
    window.installEventFilter(glue)
    return glue


class DecodeGlue(QObject):
    job_done = Signal(object)  # DecodeJob, emitted in a pool thread, handled in the UI thread
    folder_indexed = Signal(object, object, object, str)  # folder, StudyIndex or None, its rows, error

    def __init__(self, window: MainWindow, workers: int | None = None):
        super().__init__(window)
        self.w = window
        self.pool = DecodePool(workers, scoring_workers=1)  # one thread stays free for the screen
        self.wanted_row: int | None = None  # the row the reader asked for, decoding for the screen
        self.errors: dict[Path, str] = {}  # screen decodes that failed (session.open then says why)
        self._fed: set[int] = set()  # tickets of decoded studies handed to the model
        self._requests: dict[int, ScoreRequest] = {}  # job id -> request waiting for its decode
        self.folders_opening = 0
        self._screen_queued: dict[Path, threading.Event] = {}  # screen decodes asked for, and their cancel
        self.job_done.connect(self._on_job)
        self.folder_indexed.connect(self._on_index)
        signals = window.service.signals
        signals.result_ready.connect(lambda ticket, _row, _result: self._consumed(ticket))
        signals.cancelled.connect(lambda ticket, _row: self._consumed(ticket))

    # -- the screen -------------------------------------------------------------------------------
    def defer_show(self, row_id: int) -> bool:
        """True when the row's study must be decoded first (the window shows it once decoded)."""
        entry = self.w.worklist.model.entry(row_id)
        if entry is None:
            return False
        path = Path(entry.result.path)
        if self.w.session.studies.get(path) is not None or self.errors.pop(path, None) is not None:
            self.wanted_row = None  # decoded (or refused: the session says why) and shown now
            self.w.worklist.model.set_read(row_id)
            return False
        self.wanted_row = row_id
        self.w.worklist.select_row_id(row_id)
        self.w.statusBar().showMessage(f"Opening {self.w.presenter.shown_name(row_id)}…", 3000)
        for other, superseded in list(self._screen_queued.items()):  # only the latest request is decoded
            if other != path:
                superseded.set()
                del self._screen_queued[other]
        if path not in self._screen_queued:  # asked again while decoding: one decode
            self._screen_queued[path] = threading.Event()
            self.pool.submit(path, self.job_done.emit, for_screen=True, cancel=self._screen_queued[path])
        return True

    # -- scoring ----------------------------------------------------------------------------------
    def feed(self, request: ScoreRequest) -> None:
        """Decode a row's study for scoring (reduced), then hand the decoded study to the model worker."""
        job = self.pool.submit(request.path, self.job_done.emit, min_side=MIN_SIDE, cancel=request.cancel)
        self._requests[id(job)] = request
        entry = self.w.worklist.model.entry(request.row_id)
        for image in entry.images if entry is not None else []:
            if not image.scored and image.path not in self.w.worklist.thumbnails:
                self.pool.submit(image.path, self.job_done.emit, min_side=MIN_SIDE)  # lateral: thumbnail only

    def _consumed(self, ticket: int) -> None:
        if ticket in self._fed:
            self._fed.discard(ticket)
            self.pool.release()

    def _on_job(self, job: DecodeJob) -> None:
        if job.thumbnail is not None and job.thumbnail.size:
            self.w.worklist.set_thumbnail(job.path, job.thumbnail)
        if job.for_screen:
            self._on_screen_decoded(job)
            return
        request = self._requests.pop(id(job), None)
        if request is None:  # a thumbnail of a lateral: the model takes nothing
            if job.study is not None:
                self.pool.release()
            return
        service = self.w.service
        if job.cancelled or job.study is None and request.cancelled:
            service.score(request, None)  # the worker answers "cancelled" without decoding
        elif job.study is None:
            if not job.path.exists():
                self.w.worklist.model.mark_missing()
            refused = StudyResult(path=request.path, error=job.error, unreadable=True)
            service.signals.result_ready.emit(request.ticket, request.row_id, refused)
        else:
            self._fed.add(request.ticket)
            service.score(request, job.study)

    def _on_screen_decoded(self, job: DecodeJob) -> None:
        if job.cancelled:  # superseded by a later request
            return
        self._screen_queued.pop(job.path, None)
        if job.study is not None:
            self.w.session.studies.put(job.path, job.study)
        else:
            self.errors[job.path] = job.error
            if not job.path.exists():
                self.w.worklist.model.mark_missing()
        row = self.wanted_row
        entry = self.w.worklist.model.entry(row) if row is not None else None
        if entry is not None and Path(entry.result.path) == job.path:
            self.wanted_row = None
            self.w.show_row(entry.row_id)

    # -- folders ----------------------------------------------------------------------------------
    def open_folder(self, folder: Path) -> None:
        """Index ``folder`` in the pool (its DICOMDIR if it has one); rows appear when it is done."""
        self.folders_opening += 1
        self.w.statusBar().showMessage(f"Reading {self.w.hide_names(str(folder), folder)}…")

        def work():
            try:
                index = index_folder(folder)
                rows, skipped = index_rows(index), split_skipped(index)[1]  # here too, not on the UI thread
            except Exception as exc:  # noqa: BLE001 - reported as one line, the window goes on
                self.folder_indexed.emit(folder, None, None, f"{type(exc).__name__}: {exc}")
                return
            self.folder_indexed.emit(folder, index, (rows, skipped), "")

        self.pool.run(work)

    def _on_index(self, folder: Path, index: StudyIndex | None, found, error: str) -> None:
        w = self.w
        shown = w.hide_names(str(folder), folder)
        if index is None:
            self.folders_opening -= 1
            w.report(f"{shown}: the folder could not be read ({error})")
            return
        rows, w.opener.skipped = found
        w.opener.show_skipped()
        via = " (through its DICOMDIR)" if index.source is not None else ""
        w.statusBar().showMessage(f"{len(rows)} studies found in {shown}{via}", 5000)
        if not rows:
            self.folders_opening -= 1
            w.report(f"{shown}: no PNG, JPEG or DICOM files found")
            return
        self._add_chunk(rows, 0, first=True)

    def _add_chunk(self, rows, start: int, first: bool) -> None:
        w, model = self.w, self.w.worklist.model
        new, queued = [], []
        for path, images, result in rows[start : start + ROWS_PER_TURN]:
            existing = model.find_path(path)
            if existing is None:
                new.append((path, images, result))
            else:
                queued.append((existing.row_id, path))
        ids = model.add_many([(p, i) for p, i, _ in new])
        for row_id, (_, _, result) in zip(ids, new):
            model.entries[model.row_of(row_id)].result = result  # type: ignore[index]
        w.scoring.add(queued + [(row_id, path) for row_id, (path, _, _) in zip(ids, new)])
        if first:  # the top of the list as shown, among this folder's rows
            mine = set(ids) | {r for r, _ in queued}
            top = next((r for r in w.worklist.visible_row_ids() if r in mine), None)
            if top is not None:
                w.show_row(top)
        if start + ROWS_PER_TURN < len(rows):
            QTimer.singleShot(0, lambda: self._add_chunk(rows, start + ROWS_PER_TURN, False))
        else:
            self.folders_opening -= 1

    def is_busy(self) -> bool:
        return self.folders_opening > 0 or self.wanted_row is not None

    def shutdown(self) -> None:
        self.pool.shutdown()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self.w and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False
