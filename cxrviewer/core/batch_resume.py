"""Archive triage across runs and machines: the ``--resume`` sidecar and ``--shard I/N``, for ``run_batch``."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from .result_csv import RESULT_COLUMNS

STATE_SUFFIX = ".state.jsonl"  # next to OUT.csv: path, size and mtime of the file behind each row


def batch_state_path(csv_path: str | os.PathLike) -> Path:
    """The sidecar that lets ``--resume`` tell a finished file from a changed one (the CSV has no size/mtime)."""
    return Path(os.fspath(csv_path) + STATE_SUFFIX)


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (0 <= I < N) -> (I, N); ValueError with the reason otherwise."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def relative_key(path: Path, folder: Path) -> str:
    """The file's path under the batch folder, with forward slashes: what shards and resume go by."""
    return Path(os.path.relpath(path, folder)).as_posix()


def shard_of(relative: str, count: int) -> int:
    """Stable shard of a relative path: the same on every machine, run and Python (not ``hash()``)."""
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def file_signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns) of the file now, or None when it cannot be stat'ed (then it is always redone)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def resume_rows(csv_path: Path, state_path: Path, folder: Path, current: dict[str, tuple[int, int] | None]) -> set[str]:
    """Keep the rows of an earlier run that are still valid, drop the rest; return their relative paths.

    A row is kept when it is complete (a crash can cut the last line), its file is among ``current`` (this
    run's files, after sharding) with the size and mtime the sidecar recorded, and it is the first row for
    that file. The CSV and sidecar are rewritten through temporary files and renamed into place, streaming
    (memory holds the sidecar index and the kept names, not the rows).
    """
    recorded: dict[str, tuple[str, int, int]] = {}
    if state_path.is_file():
        with open(state_path, encoding="utf-8", errors="surrogateescape") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                    recorded[entry["path"]] = (entry["rel"], int(entry["size"]), int(entry["mtime_ns"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut by a crash
    with open(csv_path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        ends_cleanly = size == 0 or (fh.seek(size - 1) >= 0 and fh.read(1) == b"\n")  # else the last row was cut
    kept: set[str] = set()
    tmp_csv, tmp_state = csv_path.with_name(csv_path.name + ".tmp"), state_path.with_name(state_path.name + ".tmp")
    with (
        open(csv_path, newline="", encoding="utf-8") as src,
        open(tmp_csv, "w", newline="", encoding="utf-8") as out,
        open(tmp_state, "w", encoding="utf-8", errors="surrogateescape") as state,
    ):
        reader, writer = csv.reader(src), csv.writer(out)
        header = next(reader, None)
        if header is not None and tuple(header) != RESULT_COLUMNS:
            raise ValueError(f"{csv_path}: not a cxrviewer batch CSV (its columns differ), not resuming into it")
        writer.writerow(RESULT_COLUMNS)
        rows = iter(reader)
        pending = None
        while True:
            try:
                row = next(rows, None)
            except csv.Error:  # a quoted field cut by a crash
                row = None
            if pending is not None and (row is not None or ends_cleanly):
                _keep_row(pending, recorded, current, kept, writer, state)
            if row is None:
                break
            pending = row
    os.replace(tmp_csv, csv_path)
    os.replace(tmp_state, state_path)
    return kept


def _keep_row(row, recorded, current, kept, writer, state) -> None:
    if len(row) != len(RESULT_COLUMNS):
        return
    entry = recorded.get(row[0])
    if entry is None:
        return
    rel, size, mtime_ns = entry
    if rel in kept or rel not in current or current[rel] != (size, mtime_ns):
        return  # a duplicate, a file not in this run (or shard), or one changed since
    kept.add(rel)
    writer.writerow(row)
    state.write(json.dumps({"path": row[0], "rel": rel, "size": size, "mtime_ns": mtime_ns}) + "\n")
