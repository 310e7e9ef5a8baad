"""Archive triage: --batch survives SIGINT and crashes, --resume finishes the job, --shard I/N splits it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cxrviewer.__main__ import main
from cxrviewer.core.batch import read_batch_csv, run_batch
from cxrviewer.core.batch_resume import batch_state_path, relative_key, shard_of
from cxrviewer.core.result_csv import RESULT_COLUMNS

from .conftest import KERMANY, REPO


@pytest.fixture()
def archive(tmp_path):
    """Three dozen films in nested folders, plus a file that is not an image."""
    root = tmp_path / "archive"
    for i, src in enumerate(sorted((KERMANY / "val").rglob("*.jpeg")) + sorted(KERMANY.glob("train/*/*.jpeg"))[:20]):
        dest = root / f"day{i % 3}" / src.parent.name / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    (root / "day0" / "notes.txt").write_text("not an image\n")
    return root


def files_of(root):
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def assert_one_row_per_file(csv_path, root):
    rows = read_batch_csv(csv_path)
    assert all(tuple(r) == RESULT_COLUMNS and None not in r.values() for r in rows)
    assert sorted(r["path"] for r in rows) == files_of(root)  # every file, exactly once
    return rows


def test_sigint_leaves_a_valid_csv_and_resume_appends_the_rest(tmp_path, archive, viewer_predictor):
    out = tmp_path / "out.csv"

    def interrupt_after_five(i, n, result):
        if i == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to this process

    # Python's own Ctrl-C handler, also when this process was started with SIGINT ignored (a shell's `cmd &`)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_batch(archive, out, viewer_predictor, progress=interrupt_after_five)
    finally:
        signal.signal(signal.SIGINT, previous)
    first = read_batch_csv(out)
    assert 5 <= len(first) < len(files_of(archive))
    assert all(None not in r.values() for r in first)  # every row complete

    new = run_batch(archive, out, viewer_predictor, resume=True)
    rows = assert_one_row_per_file(out, archive)
    assert len(new) == len(rows) - len(first)
    assert rows[: len(first)] == first  # the earlier rows are kept as they were
    assert run_batch(archive, out, viewer_predictor, resume=True) == []  # nothing left to do


def test_resume_after_a_crash_mid_row_and_with_a_changed_file(tmp_path, archive):
    out = tmp_path / "out.csv"
    run_batch(archive, out)
    state = batch_state_path(out)
    full = out.read_bytes()
    out.write_bytes(full[: len(full) - 25])  # the crash cut the last row
    lines = state.read_text().splitlines(keepends=True)
    state.write_text("".join(lines[:-3]) + lines[-3][:10])  # ... and the sidecar's last lines
    changed = sorted(archive.rglob("*.jpeg"))[0]
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))  # one film re-exported since
    new = run_batch(archive, out, resume=True)
    assert_one_row_per_file(out, archive)
    assert str(changed) in {str(r.path) for r in new}
    assert len(new) == 4  # the cut row, the two rows whose sidecar lines were cut, the changed film

    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a cxrviewer batch CSV"):
        run_batch(archive, tmp_path / "other.csv", resume=True)


def test_cli_interrupted_by_sigint_then_resumed(tmp_path, archive, viewer_models_dir, viewer_bundle_name):
    for src in sorted(archive.rglob("*.jpeg")):  # enough files that the signal lands mid-run
        for k in range(4):
            shutil.copy(src, src.with_name(f"copy{k}-{src.name}"))
    out = tmp_path / "out.csv"
    cmd = ["--batch", str(archive), "--csv", str(out), "--models-dir", str(viewer_models_dir)]
    cmd += ["--model", viewer_bundle_name]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxrviewer", *cmd],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        # a child inherits an ignored SIGINT (pytest started by a shell's `cmd &`); a terminal's Ctrl-C is default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.is_file() and out.read_bytes().count(b"\n") >= 4:  # header + 3 rows
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.01)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "--resume" in err
    first = read_batch_csv(out)
    assert 3 <= len(first) < len(files_of(archive))
    assert main([*cmd, "--resume"]) == 0
    assert_one_row_per_file(out, archive)


def test_two_shards_cover_the_folder_exactly_once(tmp_path, archive):
    parts = []
    for i in range(2):
        out = tmp_path / f"shard-{i}.csv"
        assert (
            main(["--batch", str(archive), "--csv", str(out), "--shard", f"{i}/2", "--models-dir", str(tmp_path)]) == 0
        )
        parts.append([r["path"] for r in read_batch_csv(out)])
        assert all(shard_of(relative_key(Path(p), archive), 2) == i for p in parts[-1])
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == files_of(archive)
    for bad in ("2/2", "1", "a/b", "0/0"):
        assert main(["--batch", str(archive), "--csv", str(tmp_path / "x.csv"), "--shard", bad]) == 2
