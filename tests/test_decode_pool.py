"""The decode pool (Qt-free): screen first, scoring decodes reduced and bounded ahead of the model, cancel,
one-line errors, thumbnails from the same decode."""

import threading
import time

from cxrviewer.core.decode_pool import THUMBNAIL_SIDE, DecodePool
from cxrviewer.core.reduced_decode import MIN_SIDE

from .conftest import DICOM_DIR, NATIVE_DIR

FILMS = sorted(NATIVE_DIR.glob("*/*.jpeg"))


def _collect(pool, paths, **kw):
    done, finished = [], threading.Event()

    def on_done(job):
        done.append(job)
        if len(done) == len(paths):
            finished.set()

    for p in paths:
        pool.submit(p, on_done, **kw)
    return done, finished


def test_scoring_decodes_wait_for_the_model_and_screen_jumps_the_queue():
    pool = DecodePool(workers=1, max_ahead=2)
    try:
        done, _ = _collect(pool, FILMS[:6], min_side=MIN_SIDE)
        deadline = time.monotonic() + 30
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert len(done) == 2  # two decoded, waiting for the model to take them
        screen, screen_done = _collect(pool, [DICOM_DIR / "RG1_J2KI.dcm"], for_screen=True)
        assert screen_done.wait(30)  # not stuck behind the scoring decodes
        assert screen[0].study is not None and screen[0].study.shape == (1955, 1841)  # the screen: full size
        for _ in range(4):
            pool.release()
        deadline = time.monotonic() + 30
        while len(done) < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(done) == 6 and pool.decoded == 7
        reduced = [j for j in done if j.study.metadata.get("decode_scale", 1) > 1]
        assert reduced, "large native films are decoded reduced for scoring"
        assert all(max(j.thumbnail.shape) == THUMBNAIL_SIDE for j in done)
    finally:
        pool.shutdown()


def test_cancelled_scoring_decodes_are_skipped_and_errors_are_one_line(tmp_path):
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI" + b"\xff" * 40)
    pool = DecodePool(workers=1, max_ahead=1)
    try:
        cancel = threading.Event()
        cancel.set()
        done, finished = _collect(pool, FILMS[:3], min_side=MIN_SIDE, cancel=cancel)
        assert finished.wait(30)
        assert all(j.cancelled and j.study is None for j in done) and pool.decoded == 0
        bad, bad_done = _collect(pool, [broken, tmp_path / "gone.jpeg"], min_side=MIN_SIDE)
        assert bad_done.wait(30)
        for job in bad:
            assert job.study is None and job.error and "\n" not in job.error
    finally:
        pool.shutdown()


def test_scoring_takes_the_screens_decode_instead_of_decoding_again():
    pool = DecodePool(workers=1, max_ahead=2)
    try:
        path = DICOM_DIR / "RG1_J2KI.dcm"
        screen, screen_done = _collect(pool, [path], for_screen=True)
        assert screen_done.wait(60)
        scoring, scoring_done = _collect(pool, [path], min_side=MIN_SIDE)
        assert scoring_done.wait(30)
        assert scoring[0].reused and scoring[0].study is screen[0].study
        assert pool.decoded == 1  # decoded once, for the screen and for scoring
    finally:
        pool.shutdown()
