"""What background work does to the UI thread: the longest gap of a heartbeat in the main thread while other
threads decode or score, in this process (the numbers behind the design notes of core/decode_pool.py and the
ONNX Runtime session options), and in the real window while it opens a 3,000-file folder and shows a 2k x 2k
JPEG 2000 film (the goal: never longer than 100 ms).

    .venv/bin/python benchmarks/ui_contention.py                      # both parts
    .venv/bin/python benchmarks/ui_contention.py --only window --repeat 3

Threads: a JPEG 2000 frame decoded by pydicom's plugin and by Pillow (both hold the GIL for the whole frame);
one or two decode threads beside a scoring thread; the scoring thread's ONNX Runtime sessions with and without
intra-op spinning (5 ms heartbeat). Window: the main window on the smallest shipped bundle, a 10 ms QTimer
heartbeat, idle, then opening the folder (symbolic links to the native films) until its rows are in and the
top study is on screen, then showing RG1_J2KI.dcm (tests/ui/test_worklist_window.py asserts the same run
never freezes). Run it on a quiet machine: other processes' load adds to every gap (the load average is
printed with the numbers).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
SECONDS = 4.0


def longest_gap(workers: list[Callable[[], object]]) -> float:
    """Longest main-thread heartbeat gap (s) while each of ``workers`` runs in a loop on its own thread."""
    stop = threading.Event()

    def loop(fn):
        while not stop.is_set():
            fn()

    threads = [threading.Thread(target=loop, args=(fn,), daemon=True) for fn in workers]
    for t in threads:
        t.start()
    gaps, start = [], time.perf_counter()
    last = start
    while time.perf_counter() - start < SECONDS:
        time.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    stop.set()
    for t in threads:
        t.join()
    return max(gaps)


def scorer(spinning: bool):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # overriding the app's own setting is what is meant here: no warning
    original = ort.InferenceSession.__init__

    def init(self, model, sess_options=None, *args, **kwargs):
        if sess_options is not None:
            sess_options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        original(self, model, sess_options, *args, **kwargs)

    ort.InferenceSession.__init__ = init  # type: ignore[method-assign]  # this run's sessions only
    try:
        from cxrviewer.core import Predictor, list_bundles, load_bundle, load_study
        from cxrviewer.core.batch import assess_study
        from cxrviewer.core.input_gate import load_gate

        predictor = Predictor(load_bundle(list_bundles(REPO / "resources" / "models")[0]), site=False)
        gate = load_gate()
    finally:
        ort.InferenceSession.__init__ = original  # type: ignore[method-assign]
    study = load_study(sorted((SHARED / "data" / "native1024").glob("*/*.jpeg"))[0], min_side=512)
    return lambda: assess_study(study, predictor, gate)


def timing_application():
    """A QApplication that times each event the UI thread handles while ``recording`` (--trace): what fills
    a heartbeat gap (nested events are listed inside their parent's time)."""
    from PySide6.QtWidgets import QApplication

    class TimingApplication(QApplication):
        def __init__(self, argv):
            super().__init__(argv)
            self.events: list[tuple[float, float, str]] = []  # (start, seconds, receiver:event)
            self.recording = False

        def notify(self, receiver, event):  # noqa: N802 - Qt's name
            if not self.recording:
                return super().notify(receiver, event)
            start = time.perf_counter()
            try:
                return super().notify(receiver, event)
            finally:
                took = time.perf_counter() - start
                if took > 0.003:
                    self.events.append((start, took, f"{type(receiver).__name__}:{event.type().name}"))

    return TimingApplication([])


def window_gaps(files: int = 3000, pauses: list | None = None, trace: bool = False) -> dict[str, float]:
    """Longest gaps (s) of a 10 ms heartbeat in the real window: idle, opening ``files`` files, showing the film.
    ``pauses`` collects (seconds, generation, thread name) of each garbage collection meanwhile; ``trace``
    prints the events the UI thread handled within each case's longest gap."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from cxrviewer.core import list_bundles, read_card
    from cxrviewer.ui import worklist_actions
    from cxrviewer.ui.main_window import MainWindow

    app = QApplication.instance() or (timing_application() if trace else QApplication([]))
    trace = trace and hasattr(app, "events")
    scratch = Path(tempfile.mkdtemp(prefix="ui-contention-"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):  # the reader's own settings untouched
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(scratch / "settings"))
    folder = scratch / "archive"
    folder.mkdir()
    films = sorted((SHARED / "data" / "native1024").glob("*/*.jpeg"))
    for i in range(files):
        os.symlink(films[i % len(films)], folder / f"{i:04d}.jpeg")
    bundles = list_bundles(REPO / "resources" / "models")
    smallest = min(bundles, key=lambda b: (b / read_card(b).onnx.file).stat().st_size)
    window = MainWindow(models_dir=REPO / "resources" / "models", model=smallest.name)
    window.resize(1280, 860)
    window.show()
    window.start([])

    def wait(done, limit: float = 300.0) -> None:
        start = time.perf_counter()
        while not done() and time.perf_counter() - start < limit:
            app.processEvents()
            time.sleep(0.001)

    def heartbeat(action, done, settle: float = 0.3) -> float:
        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        wait(lambda: False, 0.05)
        if trace:
            app.events.clear()  # type: ignore[attr-defined]
            app.recording = True  # type: ignore[attr-defined]
        action()
        wait(done)
        wait(lambda: False, settle)
        timer.stop()
        app.recording = False  # type: ignore[attr-defined]
        gap, before = max((b - a, a) for a, b in zip(ticks, ticks[1:]))
        for start, took, what in app.events if trace else []:  # type: ignore[attr-defined]
            if start < before + gap and start + took > before:
                print(f"      +{(start - before) * 1000:4.0f} ms {took * 1000:5.1f} ms  {what}")
        return gap

    wait(lambda: window.model_state != "loading")
    started: dict[int, float] = {}

    def collection(phase: str, info: dict) -> None:  # a collection holds the GIL, whichever thread runs it
        if phase == "start":
            started[threading.get_ident()] = time.perf_counter()
        elif pauses is not None and threading.get_ident() in started:
            took = time.perf_counter() - started.pop(threading.get_ident())
            pauses.append((took, info["generation"], threading.current_thread().name))

    gc.callbacks.append(collection)
    j2k = SHARED / "data" / "dicom" / "RG1_J2KI.dcm"
    gaps = {"idle": heartbeat(lambda: None, lambda: True, settle=2.0)}
    if trace:
        print("    (events in the longest gap while opening the folder, then while showing the film)")
    gaps[f"opening {files:,} files"] = heartbeat(
        lambda: window.open_paths([folder]),
        lambda: (
            len(window.worklist.model.entries) == files and not window.decoding.is_busy() and window.study is not None
        ),
    )
    worklist_actions.close_worklist(window)
    gaps["showing the 2k JPEG 2000 film"] = heartbeat(
        lambda: window.open_paths([j2k]), lambda: window.study is not None and window.study.path == j2k
    )
    window.close()
    gc.callbacks.remove(collection)
    return gaps


def thread_cases() -> None:
    import pydicom
    from PIL import Image
    from pydicom.encaps import generate_frames

    from cxrviewer.core import load_study
    from cxrviewer.core.decode_pool import thumbnail

    j2k = SHARED / "data" / "dicom" / "RG1_J2KI.dcm"
    frame = next(generate_frames(pydicom.dcmread(j2k).PixelData, number_of_frames=1))
    films = sorted((SHARED / "data" / "native1024").glob("*/*.jpeg"))
    counter = iter(range(10**9))

    def decode_jpeg():
        thumbnail(load_study(films[next(counter) % len(films)], min_side=512))

    cases = [
        ("nothing", []),
        ("JPEG 2000 frame, pydicom", [lambda: pydicom.dcmread(j2k).pixel_array]),
        ("JPEG 2000 frame, Pillow", [lambda: Image.open(io.BytesIO(frame)).load()]),
        ("1 JPEG decode thread", [decode_jpeg]),
        ("scoring, ORT spinning", [scorer(True)]),
        ("scoring, no spinning", [scorer(False)]),
        ("2 decode threads + scoring, spinning", [decode_jpeg, decode_jpeg, scorer(True)]),
        ("2 decode threads + scoring, no spinning", [decode_jpeg, decode_jpeg, scorer(False)]),
        ("1 decode thread + scoring, no spinning", [decode_jpeg, scorer(False)]),
    ]
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores; longest 5 ms heartbeat gap in {SECONDS} s:")
    for name, workers in cases:
        print(f"  {name:42s} {longest_gap(workers) * 1000:6.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("threads", "window"), help="one part only")
    parser.add_argument("--repeat", type=int, default=1, help="window runs (each prints its gaps)")
    parser.add_argument("--files", type=int, default=3000, help="files in the folder the window opens")
    parser.add_argument("--trace", action="store_true", help="the UI thread's events within each longest gap")
    parser.add_argument(
        "--preimport",
        nargs="*",
        default=[],
        metavar="MODULE",
        help="modules imported first (pydicom: not imported by the first DICOM shown; torch pytest: a heap like "
        "the test suite's, which garbage collections walk)",
    )
    args = parser.parse_args()
    for name in args.preimport:
        importlib.import_module(name)
    if args.only != "window":
        thread_cases()
    if args.only != "threads":
        print(f"longest 10 ms heartbeat gap in the window (goal: under 100 ms), {args.repeat} run(s):")
        for run in range(args.repeat):
            load = os.getloadavg()[0]
            pauses: list = []
            gaps = window_gaps(args.files, pauses, args.trace)
            shown = ", ".join(f"{name} {gap * 1000:.0f} ms" for name, gap in gaps.items())
            print(f"  run {run + 1}: {shown} (load average {load:.2f} before the run)")
            took, generation, thread = max(pauses, default=(0.0, 0, ""))
            print(f"         longest garbage collection {took * 1000:.0f} ms (generation {generation}, {thread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
