"""The worklist in the main window: a PA + lateral study is one row with one verdict, a DICOMDIR opens through
it (Open Folder and drag & drop), the top of the list is shown after a folder opens, next unread, N walks the
order shown while results arrive, a deleted file reads "file missing", Close Worklist."""

import gc
import os
import time
from pathlib import Path

from PIL import Image
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from cxrviewer.ui import worklist_actions
from cxrviewer.ui.worklist import DONE, MISSING

from ..conftest import KERMANY, NATIVE_DIR
from .conftest import wait_idle
from .test_worklist import film

MODEL_WAIT = 120_000


def wait_rows(qtbot, w, n):
    qtbot.waitUntil(lambda: len(w.worklist.model.entries) == n and not w.decoding.is_busy(), timeout=MODEL_WAIT)


def test_pa_and_lateral_study_is_one_row_with_one_verdict(make_window, qtbot, tmp_path):
    study = generate_uid()
    lateral = film(tmp_path / "cd" / "IM-0001", "P1", study, "LL", 2)
    frontal = film(tmp_path / "cd" / "IM-0002", "P1", study, "PA", 1)
    w = make_window()
    w.open_paths([tmp_path / "cd"])
    wait_rows(qtbot, w, 1)
    wait_idle(qtbot, w)
    (entry,) = w.worklist.model.entries
    assert entry.state == DONE and entry.result.path == frontal  # the verdict is the frontal image's
    assert [(i.path, i.scored) for i in entry.images] == [(frontal, True), (lateral, False)]
    assert entry.result.verdict is not None and entry.result.probability is not None
    assert w.study is not None and w.study.path == frontal  # the top of the list is shown
    qtbot.waitUntil(lambda: w.worklist.thumbnails.get(lateral) is not None, timeout=30000)  # shown, not scored


def _dicomdir_media(tmp_path) -> Path:
    src = tmp_path / "src"
    study = generate_uid()
    fs = FileSet()
    for name, patient, uid, view, n in (("a", "P1", study, "PA", 1), ("b", "P1", study, "LL", 2)):
        fs.add(film(src / name, patient, uid, view, n))
    fs.add(film(src / "c", "P2", generate_uid(), "AP", 1))
    root = tmp_path / "USB"
    fs.write(root)
    (root / "README.TXT").write_text("export notes")  # not listed in the DICOMDIR: not opened
    return root


def test_dicomdir_opens_through_it_from_open_folder_and_drop(make_window, qtbot, tmp_path):
    root = _dicomdir_media(tmp_path)
    w = make_window()
    w.open_paths([root])  # what File > Open Folder calls with the chosen folder
    wait_rows(qtbot, w, 2)
    patients = sorted(e.result.patient_id for e in w.worklist.model.entries)
    assert patients == ["P1", "P2"]
    assert sorted(len(e.images) for e in w.worklist.model.entries) == [1, 2]
    assert "DICOMDIR" in w.statusBar().currentMessage() or w.worklist.model.entries

    w2 = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(root / "DICOMDIR"))])  # the DICOMDIR file itself dropped
    event = QDropEvent(
        QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    w2.dropEvent(event)
    wait_rows(qtbot, w2, 2)
    assert sorted(len(e.images) for e in w2.worklist.model.entries) == [1, 2]


def test_next_unread_stable_order_missing_file_and_close(make_window, qtbot, tmp_path):
    folder = tmp_path / "films"
    folder.mkdir()
    sources = (
        sorted((KERMANY / "train" / "PNEUMONIA").glob("*.jpeg"))[:4]
        + sorted((KERMANY / "train" / "NORMAL").glob("*.jpeg"))[:4]
    )
    for i, src in enumerate(sources):
        Image.open(src).save(folder / f"{i}-{src.name}")
    w = make_window()
    w.open_paths([folder])
    wait_rows(qtbot, w, 8)
    top = w.worklist.top_row_id()
    qtbot.waitUntil(lambda: w.current_row == top, timeout=30000)  # the top of the list is on screen
    order = w.worklist.visible_row_ids()
    seen = [w.current_row]
    for _ in range(3):  # N walks the order as shown, while results keep arriving
        w.step_study(1)
        qtbot.waitUntil(lambda: w.study is not None and w.current_row != seen[-1], timeout=30000)
        seen.append(w.current_row)
    assert seen == order[:4]
    wait_idle(qtbot, w)
    assert w.worklist.visible_row_ids() == order  # results did not move any row
    assert worklist_actions.next_unread(w) == order[4]
    qtbot.waitUntil(lambda: w.current_row == order[4], timeout=30000)
    w.worklist.resort()
    ranked = [w.worklist.model.entry(r).result.probability or 0 for r in w.worklist.visible_row_ids()]
    assert ranked == sorted(ranked, reverse=True)

    victim = w.worklist.model.entry(order[6])
    os.remove(victim.result.path)
    w.worklist.model.mark_missing()
    assert victim.status_text == MISSING
    out = tmp_path / "out.csv"
    w.export_csv(out)
    row = next(r for r in out.read_text().splitlines() if victim.result.path.name in r)
    assert ",negative," not in row and ",positive," not in row  # not exported as a scored study

    assert worklist_actions.close_worklist(w) == 8
    assert w.worklist.model.rowCount() == 0 and w.study is None and not w.is_busy()
    w.open_paths([folder])
    wait_rows(qtbot, w, 7)  # reopened: the files there now, and nothing left over


def _heartbeat(qtbot, action, done, settle_ms=300):
    """Longest gap (s) between 10 ms timer ticks while ``action()`` runs and until ``done()``."""
    from PySide6.QtCore import QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.wait(50)
    action()
    qtbot.waitUntil(done, timeout=MODEL_WAIT)
    qtbot.wait(settle_ms)
    timer.stop()
    return max(b - a for a, b in zip(ticks, ticks[1:]))


FREEZE_S = 0.9  # below the old freezes (1.06 s and 1.2 s), above a loaded runner's gaps


def test_ui_thread_never_blocks_opening_3000_files_or_a_2k_jpeg2000_film(make_window, qtbot, tmp_path):
    from ..conftest import DICOM_DIR

    folder = tmp_path / "archive"
    folder.mkdir()
    films = sorted((NATIVE_DIR.parent / "native1024").glob("*/*.jpeg"))
    for i in range(3000):
        os.symlink(films[i % len(films)], folder / f"{i:04d}.jpeg")
    w = make_window()
    # This process also holds pytest, torch (the trainer's tests) and earlier tests' objects, which the app
    # never has: a full garbage collection walks them all, holding the GIL, on whichever thread triggers it
    # (benchmarks/ui_contention.py --only window: 32 ms; with --preimport torch pytest: 86 ms). They are frozen
    # (left out of collections) while measuring, so the gaps are the viewer's own.
    gc.collect()
    gc.freeze()
    try:
        # The same heartbeat with nothing to do: on a shared machine the scheduler alone delays ticks, and that
        # delay is not the viewer's (quiet machine: about 15 ms). The viewer's own stalls must stay under 100 ms.
        idle = _heartbeat(qtbot, lambda: None, lambda: True, settle_ms=2000)
        opening = _heartbeat(
            qtbot,
            lambda: w.open_paths([folder]),
            lambda: len(w.worklist.model.entries) == 3000 and not w.decoding.is_busy() and w.study is not None,
        )
        worklist_actions.close_worklist(w)
        film_path = DICOM_DIR / "RG1_J2KI.dcm"  # 1955 x 1841 JPEG 2000: about 0.5-1 s to decode here
        showing = _heartbeat(
            qtbot, lambda: w.open_paths([film_path]), lambda: w.study is not None and w.study.path == film_path
        )
    finally:
        gc.unfreeze()  # collectable again once the test is over
    load = os.getloadavg()[0]
    report = (
        f"idle {idle * 1000:.0f} ms, 3,000 files {opening * 1000:.0f} ms, 2k JPEG 2000 {showing * 1000:.0f} ms "
        f"(load average {load:.1f} on {os.cpu_count()} cores)"
    )
    print("longest UI-thread gaps:", report)
    # This asserts the behaviour: the window never freezes as it used to (1.06 s showing this film, 1.2 s
    # opening 3,120 files). The 100 ms goal is a speed, measured on a quiet machine (the printed gaps, and
    # benchmarks/ui_contention.py), not asserted here: on a shared 2-core runner the scheduler's delays for
    # other processes come on top of every gap (560 ms measured at load average 6.5).
    assert opening < FREEZE_S, report
    assert showing < FREEZE_S, report


def test_n_held_down_shows_the_last_study_asked_for(make_window, qtbot, tmp_path):
    folder = tmp_path / "films"
    folder.mkdir()
    for i, src in enumerate(sorted((NATIVE_DIR / "PNEUMONIA").glob("*.jpeg"))[:8]):
        os.symlink(src, folder / f"{i}-{src.name}")
    w = make_window()
    w.open_paths([folder])
    wait_rows(qtbot, w, 8)
    order = w.worklist.visible_row_ids()
    qtbot.waitUntil(lambda: w.current_row == order[0], timeout=30000)
    for _ in range(5):  # N pressed faster than the films decode: each step from the one being opened
        w.step_study(1)
    qtbot.waitUntil(lambda: not w.decoding.is_busy(), timeout=30000)
    assert (
        w.current_row == order[5]
        and w.study is not None
        and w.study.path == w.worklist.model.entry(order[5]).result.path
    )
