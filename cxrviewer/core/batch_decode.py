"""Decoding for the batch mode: DICOM files in spawned processes, every other file in the calling thread.

DICOM decoders (JPEG 2000 in Pillow and in pydicom's plugins) hold the GIL for a whole frame: on the 1,760-
1,955 px JPEG 2000 films of ../shared/data/dicom a thread beside the decode waited 40-54 ms at the reduced
decode and 124-137 ms at full size (a 1 ms heartbeat thread; a 2,268 px JPEG, whose decoder lets go of the
GIL, stalled it 1-2 ms). While one such film decodes, the other decode thread and the model's thread cannot
run Python, so on 2 cores one of them idles. In a process the decode holds only that process's GIL.

The processes are spawned (never forked: the caller runs ONNX Runtime threads) at the first DICOM file and
then kept for the life of the program, as the model is: starting one costs about half a second. Where
processes cannot start (a sandbox, a frozen build without ``freeze_support``), files decode in the thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import BrokenExecutor, Executor
from pathlib import Path

from .decode_pool import decode
from .sniff import DICOM_KINDS, sniff_file
from .study import Study

_pools: dict[int, Executor | None] = {}  # processes -> the shared pool (None: processes cannot run here)
_pools_lock = threading.Lock()


def decode_for_batch(path: Path, min_side: int | None, processes: int) -> tuple[Study | None, str]:
    """(study, "") or (None, a one-line reason), like :func:`cxrviewer.core.decode_pool.decode`. Never raises.

    ``processes``: how many decode processes DICOM files share (0: decode every file in this thread)."""
    if processes > 0 and sniff_file(path) in DICOM_KINDS:
        pool = _shared_pool(processes)
        if pool is not None:
            try:
                return pool.submit(decode, path, min_side).result()
            except BrokenExecutor:  # as in the viewer's decode pool: this and later files decode in threads
                with _pools_lock:
                    _pools[processes] = None
            except Exception:  # noqa: BLE001 - e.g. a study that cannot be sent back: decode this one here
                pass
    return decode(path, min_side)


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
