"""The scoring queue: tickets, pending work, progress, cancel and resume, in one Qt-free place.

Every request to score a worklist row gets a fresh ticket. An answer is accepted only if it carries the
row's current ticket, so answers to superseded requests (a model switch, a re-open, a cancel) are dropped
here and nowhere else. The queue does not run anything: it hands each request to a ``runner`` (in the app,
``ModelService.score``) and is told the outcome with :meth:`accept` / :meth:`dropped`.

Cancelled rows are remembered, so they can be scored again (:meth:`resume`, or :meth:`enqueue` when the
row is selected or its folder re-opened). A model switch (:meth:`restart`) re-queues every row and gives
each a new ticket, so no result of the old model can land after the switch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .study_result import StudyResult

QUEUED, DONE, CANCELLED = "queued", "done", "cancelled"
LARGE_QUEUE = 50  # cancelling more pending studies than this asks first (they can be resumed, but it is slow)


@dataclass(frozen=True)
class ScoreRequest:
    ticket: int
    row_id: int
    path: Path
    interactive: bool  # the study on screen: jumps the folder's queue
    cancel: threading.Event = field(compare=False)  # set when its run is cancelled before it runs
    # set when a newer request for the same row (or its removal) makes this one useless: the worker skips it
    superseded: threading.Event = field(default_factory=threading.Event, compare=False)

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set() or self.superseded.is_set()


@dataclass(frozen=True)
class Progress:
    """One count for the progress bar and the status line: requests of the current run, done of them."""

    done: int
    total: int
    cancelled: int  # rows waiting for a resume

    @property
    def running(self) -> bool:
        return self.done < self.total

    @property
    def pending(self) -> int:
        return self.total - self.done

    def text(self) -> str:
        parts = []
        if self.total:
            parts.append(f"{self.done}/{self.total} scored")
        if self.running:
            parts.append(f"{self.pending} to go")
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled (resume: Shift+Esc)")
        return " · ".join(parts)


def unscored(result: StudyResult, why: str) -> StudyResult:
    """``result`` without any score (patient and study fields kept): what a row not (yet) scored exports."""
    return replace(
        result,
        probability=None,
        threshold=None,
        band=None,
        threshold_source="",
        model="",
        warnings=[why],
        error="",
        unreadable=False,
        age="",
        age_years=None,
    )


class ScoringQueue:
    def __init__(self, runner: Callable[[ScoreRequest], None]):
        self._runner = runner
        self._next_ticket = 0
        self._cancel = threading.Event()
        self._tickets: dict[int, int] = {}  # row id -> ticket of its latest request (pending rows only)
        self._live: dict[int, ScoreRequest] = {}  # row id -> that request
        self._paths: dict[int, Path] = {}
        self._states: dict[int, str] = {}
        self._run_total = 0  # requests of the current run (reset when the queue runs empty)
        self._run_done = 0

    # -- requests ---------------------------------------------------------------------------------
    def enqueue(self, rows: Iterable[tuple[int, Path]], interactive: bool = False) -> list[ScoreRequest]:
        """Queue rows that are not already waiting (cancelled rows are queued again)."""
        requests = []
        for row_id, path in rows:
            if row_id in self._tickets:
                continue
            requests.append(self._request(row_id, Path(path), interactive))
        return requests

    def requeue(self, row_id: int, path: Path, interactive: bool = False) -> ScoreRequest:
        """Score a row again even if it is waiting (e.g. its cached study is now available): a new ticket."""
        if row_id in self._tickets:
            self._run_total -= 1  # the old request is superseded, not done
            del self._tickets[row_id]
            self._supersede(row_id)
        return self._request(row_id, Path(path), interactive)

    def _supersede(self, row_id: int) -> None:
        request = self._live.pop(row_id, None)
        if request is not None:
            request.superseded.set()

    def _request(self, row_id: int, path: Path, interactive: bool) -> ScoreRequest:
        if not self._tickets:
            self._run_total = self._run_done = 0
        self._next_ticket += 1
        request = ScoreRequest(self._next_ticket, row_id, path, interactive, self._cancel)
        self._tickets[row_id] = request.ticket
        self._live[row_id] = request
        self._paths[row_id] = path
        self._states[row_id] = QUEUED
        self._run_total += 1
        self._runner(request)
        return request

    def restart(self) -> list[ScoreRequest]:
        """The model changed: every queued request is cancelled and every row is queued again."""
        self._drop_pending()
        self._tickets.clear()
        self._live.clear()
        rows = list(self._paths.items())
        return [self._request(row_id, path, False) for row_id, path in rows]

    def _drop_pending(self) -> None:
        self._cancel.set()
        self._cancel = threading.Event()

    # -- answers ----------------------------------------------------------------------------------
    def is_current(self, ticket: int, row_id: int) -> bool:
        return self._tickets.get(row_id) == ticket

    def accept(self, ticket: int, row_id: int) -> bool:
        """True if this answer is the row's latest request (then the row is done); False: ignore it."""
        if not self.is_current(ticket, row_id):
            return False
        del self._tickets[row_id]
        self._live.pop(row_id, None)
        self._states[row_id] = DONE
        self._run_done += 1
        return True

    def dropped(self, ticket: int, row_id: int) -> bool:
        """The worker skipped a cancelled request. True if it was the row's latest (now cancelled)."""
        if not self.is_current(ticket, row_id):
            return False
        del self._tickets[row_id]
        self._live.pop(row_id, None)
        self._states[row_id] = CANCELLED
        self._run_total -= 1
        return True

    # -- cancel and resume ------------------------------------------------------------------------
    def cancel(self) -> list[int]:
        """Drop every queued request (the one running finishes and is ignored). Returns the rows cancelled."""
        rows = list(self._tickets)
        self._drop_pending()
        for row_id in rows:
            self._states[row_id] = CANCELLED
        self._tickets.clear()
        self._live.clear()
        self._run_total = self._run_done
        return rows

    def resume(self) -> list[ScoreRequest]:
        """Queue every cancelled row again."""
        rows = [(r, self._paths[r]) for r, s in self._states.items() if s == CANCELLED]
        return self.enqueue(rows)

    def forget(self, row_ids: Iterable[int]) -> None:
        """Rows removed from the worklist: their answers will be ignored."""
        for row_id in row_ids:
            if self._tickets.pop(row_id, None) is not None:
                self._run_total -= 1
                self._supersede(row_id)
            self._paths.pop(row_id, None)
            self._states.pop(row_id, None)
        if not self._tickets:
            self._run_total = self._run_done = 0

    # -- state ------------------------------------------------------------------------------------
    def state(self, row_id: int) -> str:
        return self._states.get(row_id, QUEUED)

    def pending_rows(self) -> list[int]:
        return list(self._tickets)

    def is_busy(self) -> bool:
        return bool(self._tickets)

    def progress(self) -> Progress:
        cancelled = sum(1 for s in self._states.values() if s == CANCELLED)
        return Progress(self._run_done, self._run_total, cancelled)

    def exported(self, row_id: int, result: StudyResult) -> StudyResult:
        """The result a CSV may carry for this row: a row not done carries no score (never an older one)."""
        state = self.state(row_id)
        if state == DONE:
            return result
        return unscored(result, "not scored: scoring was cancelled" if state == CANCELLED else "not scored yet")
