"""What background work does to the UI thread: the longest gap of a 5 ms heartbeat in the main thread while other
threads decode or score, in this process (the numbers behind the design notes of core/decode_pool.py and the
ONNX Runtime session options).

    .venv/bin/python benchmarks/ui_contention.py

Cases: a JPEG 2000 frame decoded by pydicom's plugin and by Pillow (both hold the GIL for the whole frame);
one or two decode threads beside a scoring thread; the scoring thread's ONNX Runtime sessions with and without
intra-op spinning. Run it on a quiet machine: other processes' load adds to every gap.
"""

from __future__ import annotations

import io
import os
import sys
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


def main() -> int:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
