"""Folder triage: mixed good/bad files, sorting by probability, responsiveness with 200 studies, Cancel."""

import hashlib
import os
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from cxrviewer.core.batch import read_batch_csv
from cxrviewer.core.scoring_queue import LARGE_QUEUE
from cxrviewer.core.verdict import Verdict

from ..conftest import KERMANY
from .conftest import wait_idle


def test_mixed_folder_scores_valid_and_lists_bad_files(make_window, qtbot, tmp_path, mixed_folder):
    root = mixed_folder
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}

    w = make_window()
    w.open_paths([root])
    wait_idle(qtbot, w)
    results = {e.result.path.name: e.result for e in w.worklist.model.entries}
    for good in ("a.jpeg", "b.jpeg", "chest_no_extension"):
        assert results[good].scored and not results[good].error, good
    for bad, reason in (("empty.dcm", "empty"), ("truncated.dcm", ""), ("fake.jpeg", "")):
        assert not results[bad].scored and results[bad].error, bad
        assert reason in results[bad].error
        assert results[bad].verdict is Verdict.UNREADABLE and results[bad].status.startswith("Unreadable")
    assert [p.name for p, _ in w.skipped] == ["notes.txt"]
    assert "notes.txt" in w.worklist.summary.text()
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before} == before  # nothing modified

    # most suspicious first, once the reader re-sorts (results arriving do not move the rows)
    w.worklist.sort_by_probability()
    order = [w.worklist.model.entry(r).result for r in w.worklist.visible_row_ids()]
    ranks = [r.verdict.sort_rank for r in order]  # calls, then withheld, then unreadable
    called = [r.probability for r in order if r.verdict.sort_rank == 0]
    assert ranks == sorted(ranks) and called == sorted(called, reverse=True) and order[0].scored
    # selecting a row shows that study
    target = order[1]
    w.worklist.select_row_id(w.worklist.model.find_path(target.path).row_id)
    qtbot.waitUntil(lambda: w.study is not None and w.study.path == target.path)  # decoded off the UI thread

    out = tmp_path / "worklist.csv"
    w.export_csv(out)
    rows = read_batch_csv(out)
    assert [r["path"] for r in rows] == [str(r.path) for r in order]
    # the GUI's export and --batch share one schema and give the same verdicts
    from cxrviewer.__main__ import main

    batch_out = tmp_path / "batch.csv"
    assert (
        main(
            [
                "--batch",
                str(mixed_folder),
                "--csv",
                str(batch_out),
                "--models-dir",
                str(w.models_dir),
                "--model",
                w.model_name,
            ]
        )
        == 0
    )
    batch = {r["path"]: r for r in read_batch_csv(batch_out)}
    assert list(rows[0]) == list(next(iter(batch.values())))
    for r in rows:
        assert r["verdict"] == batch[r["path"]]["verdict"] and r["label"] == batch[r["path"]]["label"], r["path"]
        assert r["verdict"] in ("positive", "negative", "indeterminate", "withheld", "unreadable")


def test_ui_stays_responsive_while_200_studies_are_scored_and_cancel_stops(make_window, qtbot, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    sources = (
        sorted((KERMANY / "train" / "PNEUMONIA").glob("*.jpeg"))[:100]
        + sorted((KERMANY / "train" / "NORMAL").glob("*.jpeg"))[:100]
    )
    for i, src in enumerate(sources):
        os.symlink(src, folder / f"{i:03d}-{src.name}")
    w = make_window()

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    w.open_paths([folder])  # scanned off the UI thread: the rows come a moment later
    qtbot.waitUntil(lambda: len(w.worklist.model.entries) == 200, timeout=30000)
    qtbot.waitUntil(lambda: sum(e.state == "done" for e in w.worklist.model.entries) >= 5, timeout=60000)
    start = time.monotonic()
    qtbot.wait(1200)
    timer.stop()
    window = [t for t in ticks if t >= start]
    gaps = [b - a for a, b in zip(window, window[1:])]
    assert len(window) >= 15, f"event loop ran only {len(window)} timer ticks in 1.2 s"
    assert max(gaps) < 0.5, f"UI blocked for {max(gaps):.2f} s"
    assert w.worklist.progress.isVisible() and w.worklist.cancel.isVisible()

    if w.is_busy():
        w.worklist.cancel.click()
        pending = len(w.scoring.queue.pending_rows())
        if pending > LARGE_QUEUE:  # a large queue asks first; No keeps scoring
            question = w.scoring.cancel_question
            assert question is not None and question.isVisible() and str(pending) in question.text()
            question.button(QMessageBox.StandardButton.No).click()
            assert w.is_busy()
            w.worklist.cancel.click()
            w.scoring.cancel_question.button(QMessageBox.StandardButton.Yes).click()
        assert not w.is_busy() and not w.worklist.cancel.isVisible()
        w.service.wait(60000)
        qtbot.wait(100)
        states = [e.state for e in w.worklist.model.entries]
        done = states.count("done")
        assert states.count("cancelled") > 0 and done + states.count("cancelled") == 200
        qtbot.wait(300)
        assert [e.state for e in w.worklist.model.entries].count("done") == done  # nothing more was scored
