"""The Qt side of the scoring queue: requests go to the model worker, answers come back to the worklist.

The staleness rules live in :class:`cxrviewer.core.scoring_queue.ScoringQueue`; this class only moves
requests and answers between it, ``ModelService`` and the worklist, and shows one progress count in both the
progress bar and the status line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from cxrviewer.core.scoring_queue import CANCELLED, DONE, LARGE_QUEUE, QUEUED, ScoreRequest, ScoringQueue, unscored
from cxrviewer.core.study import Study
from cxrviewer.core.study_result import StudyResult

from .workers import ModelService
from .worklist import WorklistWidget


class ScoringController(QObject):
    row_finished = Signal(int)  # row id whose current request was answered or cancelled
    cancelled = Signal(int)  # how many studies a cancel left unscored

    def __init__(
        self,
        service: ModelService,
        worklist: WorklistWidget,
        status_label: QLabel,
        cached_study: Callable[[Path], Study | None],
        parent: QWidget,
    ):
        super().__init__(parent)
        self.service, self.worklist, self.status_label = service, worklist, status_label
        self._cached_study = cached_study
        self.decoder: Callable[[ScoreRequest], None] | None = None  # ui/decoding.py's feed, once installed
        self._parent = parent
        self.queue = ScoringQueue(self._run)
        self.errors: list[str] = []
        self.cancel_question: QMessageBox | None = None
        service.signals.result_ready.connect(self._on_result)
        service.signals.cancelled.connect(self._on_cancelled)
        # the bar is redrawn at most every 100 ms: the status line is written at the same moment, same count
        worklist.progress_shown.connect(lambda: self.status_label.setText(self.queue.progress().text()))

    def _run(self, request: ScoreRequest) -> None:
        study = self._cached_study(request.path)
        if study is None and self.decoder is not None:  # decoded off the model's thread, then scored
            entry = self.worklist.model.entry(request.row_id)
            if entry is not None and entry.state != QUEUED:  # a new row is queued already: no repaint
                self.worklist.model.update(request.row_id, state=QUEUED)
            self.decoder(request)
            return
        # a study already decoded (the one on screen) is scored from memory, ahead of the folder's queue
        interactive = request.interactive or study is not None
        if interactive != request.interactive:
            request = replace(request, interactive=True)  # same ticket, same cancel and superseded flags
        self.worklist.model.update(request.row_id, state=QUEUED)
        self.service.score(request, study)

    # -- requests ---------------------------------------------------------------------------------
    def add(self, rows: list[tuple[int, Path]]) -> None:
        """Score new rows, and rows that were cancelled (re-opened or selected again)."""
        self.queue.enqueue([(r, p) for r, p in rows if self.queue.state(r) != DONE])
        self.update_progress()

    def score_now(self, row_id: int, path: Path) -> None:
        """The row just shown: if it waits or was cancelled, score it from the decoded study, first."""
        state = self.queue.state(row_id)
        if state == CANCELLED or (state == QUEUED and self._cached_study(path) is not None):
            self.queue.requeue(row_id, path, interactive=True)
            self.update_progress()

    def restart(self) -> None:
        """A new model: no row keeps the old model's answer; every row is queued again."""
        for entry in self.worklist.model.entries:
            self.worklist.model.update(entry.row_id, result=unscored(entry.result, "not scored yet"), state=QUEUED)
        self.queue.restart()
        self.update_progress()

    def forget(self, row_ids: list[int]) -> None:
        self.queue.forget(row_ids)
        self.update_progress()

    # -- cancel and resume ------------------------------------------------------------------------
    def request_cancel(self) -> None:
        """Esc / Cancel: a large queue is cancelled only after a Yes (resume brings it back, slowly)."""
        pending = len(self.queue.pending_rows())
        if not pending:
            return
        if pending <= LARGE_QUEUE:
            self.cancel()
            return
        if self.cancel_question is not None:
            self.cancel_question.close()
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Cancel scoring",
            f"Cancel scoring of {pending} queued studies?\nThey can be scored later with AI ▸ Resume Scoring.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self._parent,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setModal(False)  # the worklist keeps scoring while the question is open
        box.buttonClicked.connect(
            lambda b: self.cancel() if box.standardButton(b) == QMessageBox.StandardButton.Yes else None
        )
        box.show()
        self.cancel_question = box

    def cancel(self) -> int:
        rows = self.queue.cancel()
        for row_id in rows:
            self.worklist.model.update(row_id, state=CANCELLED)
        self.update_progress()
        if rows:
            self.cancelled.emit(len(rows))
        return len(rows)

    def resume(self) -> int:
        requests = self.queue.resume()
        self.update_progress()
        return len(requests)

    # -- answers ----------------------------------------------------------------------------------
    def _on_result(self, ticket: int, row_id: int, result: StudyResult) -> None:
        if not self.queue.accept(ticket, row_id):
            return  # answer to a request that was superseded (model switch, re-open, cancel)
        self.worklist.model.update(row_id, result=result, state=DONE)
        if result.error and not result.scored and result.error != "no model available":
            self.errors.append(result.error)
        self.update_progress()
        self.row_finished.emit(row_id)

    def _on_cancelled(self, ticket: int, row_id: int) -> None:
        if self.queue.dropped(ticket, row_id):
            self.worklist.model.update(row_id, state=CANCELLED)
            self.update_progress()
            self.row_finished.emit(row_id)

    def update_progress(self) -> None:
        progress = self.queue.progress()
        self.worklist.set_progress(progress.done, progress.total, progress.running)

    def is_busy(self) -> bool:
        return self.queue.is_busy()

    def exported(self, row_id: int, result: StudyResult) -> StudyResult:
        return self.queue.exported(row_id, result)
