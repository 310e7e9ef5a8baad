"""Decoding for the batch mode: compressed DICOM files in spawned processes, every other file in the thread.

DICOM decoders (JPEG 2000 in Pillow and in pydicom's plugins) hold the GIL for a whole frame: a thread beside
the decode of one of the 1,760-1,955 px JPEG 2000 films of ../shared/data/dicom waits almost as long as the
decode itself, while a JPEG's decoder lets go of it (``python benchmarks/triage.py``: its GIL table). While
such a film decodes, the other decode thread and the model's thread cannot run Python, so on 2 cores one of
them idles. In a process the decode holds only that process's GIL. Uncompressed DICOMs decode in a few
milliseconds, less than sending their pixels back would cost, and JPEG baseline ones let go of the GIL, so
they stay in the thread; the transfer syntax is read from the file meta's bytes (a file routed wrongly is only
slower, never decoded differently).

The processes are spawned (never forked: the caller runs ONNX Runtime threads) at the first such file and
then kept for the life of the program, as the model is: starting one costs about half a second. Where
processes cannot start (a sandbox, a frozen build without ``freeze_support``), files decode in the thread.
"""

from __future__ import annotations

import atexit
import re
import threading
from concurrent.futures import BrokenExecutor, Executor
from pathlib import Path

from .decode_pool import decode
from .sniff import DICOM, read_head, sniff_bytes
from .study import Study

# Compressed transfer syntaxes in the file meta: the JPEG family (lossless, JPEG-LS, JPEG 2000, HTJ2K) and RLE.
_COMPRESSED_SYNTAX = re.compile(rb"1\.2\.840\.10008\.1\.2\.(4\.\d+|5)(?![\d.])")
# JPEG baseline / extended: Pillow decodes them in a few ms, letting go of the GIL (benchmarks/triage.py: GIL table)
GIL_FREE_SYNTAXES = frozenset({b"4.50", b"4.51"})

_pools: dict[int, Executor | None] = {}  # processes -> the shared pool (None: processes cannot run here)
_pools_lock = threading.Lock()


def decode_for_batch(path: Path, min_side: int | None, processes: int) -> tuple[Study | None, str]:
    """(study, "") or (None, a one-line reason), like :func:`cxrviewer.core.decode_pool.decode`. Never raises.

    ``processes``: how many decode processes compressed DICOM files share (0: decode every file here). A study
    decoded in a process comes without ``raw`` (scoring needs only the display pixels: half the bytes to send).
    """
    if processes > 0 and compressed_dicom(path):
        pool = _shared_pool(processes)
        if pool is not None:
            try:
                return pool.submit(decode_display_pixels, path, min_side).result()
            except BrokenExecutor:  # as in the viewer's decode pool: this and later files decode in threads
                with _pools_lock:
                    _pools[processes] = None
            except Exception:  # noqa: BLE001 - e.g. a study that cannot be sent back: decode this one here
                pass
    return decode(path, min_side)


def compressed_dicom(path: Path) -> bool:
    """A Part 10 DICOM file whose file meta names a compressed transfer syntax whose decoder holds the GIL
    (raw datasets are uncompressed)."""
    head = read_head(path)
    found = _COMPRESSED_SYNTAX.search(head) if sniff_bytes(head) == DICOM else None
    return found is not None and found.group(1) not in GIL_FREE_SYNTAXES


def decode_display_pixels(path: Path, min_side: int | None) -> tuple[Study | None, str]:
    """What a decode process runs: :func:`decode`, without the study's ``raw`` values."""
    study, error = decode(path, min_side)
    if study is not None:
        study.raw = None
    return study, error


def _shared_pool(processes: int) -> Executor | None:
    with _pools_lock:
        if processes not in _pools:
            try:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                context = multiprocessing.get_context("spawn")
                _pools[processes] = ProcessPoolExecutor(processes, mp_context=context)
            except Exception:  # noqa: BLE001 - no processes here: decode in the threads
                _pools[processes] = None
        return _pools[processes]


def close_pools() -> None:
    """Stop the decode processes (at exit): an executor left to the interpreter's teardown is collected
    after the modules it needs, and prints an "Exception ignored" traceback."""
    with _pools_lock:
        pools = [p for p in _pools.values() if p is not None]
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(close_pools)
