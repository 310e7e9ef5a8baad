"""The main window's decoding, off the UI thread: the study on screen, the studies to score, a folder's index.

Glue between :class:`cxrviewer.core.decode_pool.DecodePool` (its own threads, apart from the model's) and
the window: a row asked for is decoded in full for the screen and shown when ready (the UI thread never
decodes); a study to score is decoded reduced, handed to the model worker as a decoded study (the worker
never decodes), and its thumbnail goes to the worklist; the screen's decode is what scoring uses when it
comes first. A folder is scanned and indexed (patient / study / images, through its DICOMDIR if it has one)
in the pool too, and its rows are added in chunks, so a 3,000-file folder never freezes the window. Files
opened one by one (File ▸ Open, drag & drop) are indexed the same way, and their rows join the studies
already listed (WorklistModel.add_rows): two DICOMs of one study are one row whenever they were opened.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from cxrviewer.core.decode_pool import DecodeJob, DecodePool
from cxrviewer.core.reduced_decode import MIN_SIDE
from cxrviewer.core.scoring_queue import ScoreRequest
from cxrviewer.core.study_index import StudyIndex, build_study_index, index_folder
from cxrviewer.core.study_result import StudyResult

from .worklist_rows import Row, index_rows, split_skipped

if TYPE_CHECKING:
    from .main_window import MainWindow

# Per turn of the event loop while a folder opens: rows added (each insert repaints the table: few, large
# ones) and rows queued for scoring (each request is made on the UI thread: a few per turn).
ROWS_PER_TURN = 500
QUEUED_PER_TURN = 50
# The next turn is a timer, not a posted event: Qt handles every posted event (the next turn, the repaint it
# causes, the decoders' signals) before any timer, so turns posted back to back held the event loop for
# several turns and their repaints at a time (heartbeat gaps of 2 turns and 2 repaints measured).
NEXT_TURN_MS = 1


@dataclass
class Opening:
    """One Open Folder (``folder``) or File ▸ Open / drop of files (``files``), from its index to its rows."""

    folder: Path | None = None
    files: list[Path] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    next_row: int = 0  # rows[next_row:] are still to add
    to_score: list[int] = field(default_factory=list)  # rows added, still to queue for scoring
    ids: set[int] = field(default_factory=set)  # this opening's rows
    shown: bool = False  # its first study has been put on screen

    @property
    def name(self) -> Path:
        return self.folder if self.folder is not None else self.files[0]


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
    folder_indexed = Signal(object, object, object, str)  # Opening, StudyIndex or None, its rows, error

    def __init__(self, window: MainWindow, workers: int | None = None):
        super().__init__(window)
        self.w = window
        self.pool = DecodePool(workers, scoring_workers=1)  # one thread stays free for the screen
        self.wanted_row: int | None = None  # the row the reader asked for, decoding for the screen
        self.wanted_path: Path | None = None  # the image of that row asked for (its scored one, or a lateral)
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
    def defer_show(self, row_id: int, image: Path | None = None) -> bool:
        """True when the row's image (its scored one, or ``image``) must be decoded first (the window shows it
        once decoded)."""
        entry = self.w.worklist.model.entry(row_id)
        if entry is None:
            return False
        path = Path(image if image is not None else entry.result.path)
        if self.w.session.studies.get(path) is not None or self.errors.pop(path, None) is not None:
            self.wanted_row = None  # decoded (or refused: the session says why) and shown now
            self.w.worklist.model.set_read(row_id)
            return False
        # selected first: a selection change shows the row's scored image (the window's slot), which the
        # request below then supersedes when another of its images (a lateral) was asked for
        self.w.worklist.select_row_id(row_id)
        self.wanted_row, self.wanted_path = row_id, path
        name = self.w.presenter.shown_name(row_id)
        if path != Path(entry.result.path):  # a lateral of the row's study: named as the banner will name it
            name = f"{name} (lateral)" if self.w.anonymise else path.name
        self.w.statusBar().showMessage(f"Opening {name}…", 3000)
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
            if not image.scored:
                self._thumbnail(image.path)

    def _thumbnail(self, path: Path) -> None:
        """A thumbnail of an image not scored (a lateral): decoded reduced, the model takes nothing."""
        if path not in self.w.worklist.thumbnails:
            self.pool.submit(path, self.job_done.emit, min_side=MIN_SIDE)

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
        if entry is not None and self.wanted_path == job.path:
            self.wanted_row = None
            self.w.show_row(entry.row_id, job.path)

    # -- folders and files ------------------------------------------------------------------------
    def open_folder(self, folder: Path) -> None:
        """Index ``folder`` in the pool (its DICOMDIR if it has one); rows appear when it is done, and the one
        on top of the list is shown."""
        self.w.statusBar().showMessage(f"Reading {self.w.hide_names(str(folder), folder)}…")
        self._index(Opening(folder=folder))

    def open_files(self, files: list[Path]) -> None:
        """Index files opened one by one in the pool, as a folder is (every file chosen gets a row, an
        unreadable one with its reason); their rows join the studies listed, and the first file is shown."""
        self._index(Opening(files=list(files)))

    def _index(self, opening: Opening) -> None:
        self.folders_opening += 1

        def work():
            every_file = opening.folder is None  # files the reader chose: each one gets a row, or a reason
            try:
                index = index_folder(opening.folder) if opening.folder else build_study_index(opening.files)
                rows, skipped = (
                    index_rows(index, every_file),
                    split_skipped(index, every_file)[1],
                )  # not on the UI thread
            except Exception as exc:  # noqa: BLE001 - reported as one line, the window goes on
                self.folder_indexed.emit(opening, None, None, f"{type(exc).__name__}: {exc}")
                return
            self.folder_indexed.emit(opening, index, (rows, skipped), "")

        self.pool.run(work)

    def _on_index(self, opening: Opening, index: StudyIndex | None, found, error: str) -> None:
        w = self.w
        shown = w.hide_names(str(opening.name), opening.name)
        if index is None:
            self.folders_opening -= 1
            w.report(f"{shown}: could not be read ({error})")
            return
        rows, skipped = found
        if opening.folder is not None:
            w.opener.skipped = skipped
            w.opener.show_skipped()
            via = " (through its DICOMDIR)" if index.source is not None else ""
            w.statusBar().showMessage(f"{len(rows)} studies found in {shown}{via}", 5000)
        elif skipped:  # the same image chosen twice
            w.statusBar().showMessage(f"{len(skipped)} file(s) held an image already opened: shown once", 5000)
        if not rows:
            self.folders_opening -= 1
            w.report(f"{shown}: no PNG, JPEG or DICOM files found")
            return
        opening.rows = rows
        self._add_turn(opening)

    def _add_turn(self, opening: Opening) -> None:
        """The next rows of ``opening``, grouped with the studies listed, and the next ones queued for scoring
        (in the order added: the study shown first is among the first scored)."""
        w, model = self.w, self.w.worklist.model
        if opening.next_row < len(opening.rows):
            chunk = opening.rows[opening.next_row : opening.next_row + ROWS_PER_TURN]
            opening.next_row += len(chunk)
            added = model.add_rows(chunk)
            opening.to_score += [r for r in dict.fromkeys(added.new + added.listed) if r not in opening.ids]
            opening.ids.update(added.new + added.listed + added.retargeted)
            for row_id in added.retargeted:  # a frontal joined a study listed from its laterals: scored from it now
                w.scoring.queue.requeue(row_id, model.entry(row_id).result.path)  # type: ignore[union-attr]
            if added.retargeted:
                w.scoring.update_progress()
            for path in added.joined:
                self._thumbnail(path)
        queued, opening.to_score = opening.to_score[:QUEUED_PER_TURN], opening.to_score[QUEUED_PER_TURN:]
        w.scoring.add([(r, e.result.path) for r in queued if (e := model.entry(r)) is not None])
        done = opening.next_row >= len(opening.rows)
        self._show_first(opening, done)
        if done and not opening.to_score:
            self.folders_opening -= 1
        else:
            QTimer.singleShot(NEXT_TURN_MS, lambda: self._add_turn(opening))

    def _show_first(self, opening: Opening, done: bool) -> None:
        """A folder: the top of the list as shown, among its rows (after its first turn). Files: the first file
        chosen, once its row is in (the image itself, when it joined a study listed as a lateral)."""
        if opening.shown:
            return
        w, model = self.w, self.w.worklist.model
        if opening.folder is None:
            entry = model.find_path(opening.files[0])
            if entry is not None:
                opening.shown = True
                w.show_row(entry.row_id, opening.files[0])
                return
            if not done:
                return
        opening.shown = True
        top = next((r for r in w.worklist.visible_row_ids() if r in opening.ids), None)
        if top is not None:
            w.show_row(top)

    def is_busy(self) -> bool:
        return self.folders_opening > 0 or self.wanted_row is not None

    def shutdown(self) -> None:
        self.pool.shutdown()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self.w and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False
