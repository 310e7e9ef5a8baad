"""The Qt-free scoring queue: tickets, model switch, cancel and resume, one progress count, what is exported.

The runner below records the requests the queue hands out and answers them with real assessments of real
films (``assess_file`` on the bundled model), in an order the test chooses.
"""

from pathlib import Path

import pytest

from cxrviewer.core.batch import assess_file
from cxrviewer.core.scoring_queue import CANCELLED, DONE, QUEUED, ScoreRequest, ScoringQueue, unscored
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import Verdict

from .conftest import NATIVE_DIR

FILMS = sorted((NATIVE_DIR / "NORMAL").glob("*.jpeg"))[:3] + sorted((NATIVE_DIR / "PNEUMONIA").glob("*.jpeg"))[:2]


class Recorder:
    def __init__(self):
        self.requests: list[ScoreRequest] = []

    def __call__(self, request: ScoreRequest) -> None:
        self.requests.append(request)


@pytest.fixture
def queue_and_requests():
    recorder = Recorder()
    return ScoringQueue(recorder), recorder.requests


def rows(paths):
    return list(enumerate(paths))


def test_each_answer_counts_once_and_progress_is_one_count(queue_and_requests):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS))
    assert len(requests) == len(FILMS) and queue.is_busy()
    assert queue.progress().text() == f"0/{len(FILMS)} scored · {len(FILMS)} to go"
    for i, request in enumerate(requests):
        assert queue.accept(request.ticket, request.row_id)
        assert not queue.accept(request.ticket, request.row_id)  # a second answer is not counted
        progress = queue.progress()
        assert (progress.done, progress.total) == (i + 1, len(FILMS))
        assert progress.text().startswith(f"{i + 1}/{len(FILMS)} scored")
    assert not queue.is_busy() and all(queue.state(r) == DONE for r, _ in rows(FILMS))
    queue.enqueue([(99, FILMS[0])])  # a new run counts from zero
    assert (queue.progress().done, queue.progress().total) == (0, 1)


def test_model_switch_voids_every_old_answer(queue_and_requests, viewer_predictor):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS))
    old = list(requests)
    assert queue.accept(old[0].ticket, old[0].row_id)
    new = queue.restart()
    assert {r.row_id for r in new} == set(range(len(FILMS)))  # every row again, the scored one too
    assert all(r.cancelled for r in old) and not any(r.cancelled for r in new)
    for request in old[1:]:  # the old model's answers arrive late
        assert not queue.accept(request.ticket, request.row_id)
    result = assess_file(new[0].path, viewer_predictor)
    assert queue.accept(new[0].ticket, new[0].row_id) and result.scored


def test_model_switch_then_cancel_exports_no_score_of_either_model(queue_and_requests, viewer_predictor):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS[:2]))
    first = {r.row_id: assess_file(r.path, viewer_predictor) for r in requests}
    for r in list(requests):
        queue.accept(r.ticket, r.row_id)
    queue.restart()
    assert sorted(queue.cancel()) == [0, 1]
    for row_id, result in first.items():
        exported = queue.exported(row_id, result)
        assert exported.probability is None and exported.model == "" and exported.label == ""
        assert exported.verdict is Verdict.WITHHELD and "cancelled" in exported.reason
        assert exported.path == result.path and exported.patient_name == result.patient_name


def test_cancel_then_resume_scores_the_cancelled_rows_only(queue_and_requests):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS))
    first = list(requests)
    queue.accept(first[0].ticket, 0)
    cancelled = queue.cancel()
    assert sorted(cancelled) == list(range(1, len(FILMS)))
    assert not queue.is_busy() and not queue.progress().running
    assert queue.progress().cancelled == len(FILMS) - 1 and "cancelled" in queue.progress().text()
    # the worker skips the cancelled requests and says so: they stay cancelled
    for request in first[1:]:
        assert request.cancelled
        assert not queue.dropped(request.ticket, request.row_id)
    resumed = queue.resume()
    assert sorted(r.row_id for r in resumed) == cancelled
    assert queue.state(0) == DONE and all(queue.state(r) == QUEUED for r in cancelled)
    for request in resumed:
        assert queue.accept(request.ticket, request.row_id)
    assert queue.progress().cancelled == 0 and all(queue.state(r) == DONE for r, _ in rows(FILMS))


def test_requeue_supersedes_the_waiting_request(queue_and_requests):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS[:2]))
    again = queue.requeue(1, FILMS[1], interactive=True)
    assert again.interactive and queue.progress().total == 2
    assert requests[1].cancelled and not again.cancelled  # the worker skips the old one: scored once
    assert not requests[0].cancelled
    assert not queue.accept(requests[1].ticket, 1) and queue.accept(again.ticket, 1)


def test_a_skipped_request_of_the_latest_ticket_leaves_the_row_cancelled(queue_and_requests):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS[:2]))
    assert queue.dropped(requests[0].ticket, 0)
    assert queue.state(0) == CANCELLED and queue.progress().total == 1


def test_forgotten_rows_are_ignored(queue_and_requests):
    queue, requests = queue_and_requests
    queue.enqueue(rows(FILMS[:2]))
    queue.forget([0])
    assert requests[0].cancelled and not requests[1].cancelled  # a removed row is not scored
    assert not queue.accept(requests[0].ticket, 0) and queue.progress().total == 1


def test_unscored_keeps_the_study_and_drops_the_score():
    scored = StudyResult(path=Path("x.dcm"), patient_name="A^B", probability=0.9, threshold=0.5, model="m")
    blank = unscored(scored, "not scored yet")
    assert scored.verdict is Verdict.POSITIVE
    assert blank.verdict is Verdict.WITHHELD and blank.reason == "not scored yet" and blank.patient_name == "A^B"
