"""Unreadable files and folders get a per-file reason (not 'corrupt', not silently dropped).

Root reads any file whatever its mode bits (capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so
under root (as in CI) the check runs in a child process that removes those two capabilities from its
bounding set before exec: the child stays uid 0 (so it can still run the interpreter under /root) but the
kernel now enforces mode bits on it as on any user, and a mode-000 file owned by root is unreadable.
Only if the drop itself is refused (no CAP_SETPCAP, e.g. a restricted container) is the test skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ..conftest import REPO
from .corpus import NATIVE_JPEG, UNCOMPRESSED

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
PR_CAPBSET_DROP = 24

SCRIPT = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from pathlib import Path
from cxrviewer.core import StudyError, load_study
from cxrviewer.core.batch import read_batch_csv, run_batch
root, out = Path(sys.argv[1]), Path(sys.argv[2])
report = {"load": {}}
for name in ("locked.jpeg", "locked.dcm", "ok.dcm"):
    try:
        load_study(root / name)
        report["load"][name] = "ok"
    except StudyError as exc:
        report["load"][name] = str(exc)
run_batch(root, out, predictor=None)
report["rows"] = {str(Path(r["path"]).relative_to(root)): r["reason"] for r in read_batch_csv(out)}
print(json.dumps(report))
"""


def _make_folder() -> Path:
    root = Path(tempfile.mkdtemp(prefix="cxr-perm-"))
    os.chmod(root, 0o755)
    shutil.copy(NATIVE_JPEG, root / "locked.jpeg")
    shutil.copy(UNCOMPRESSED, root / "locked.dcm")
    shutil.copy(UNCOMPRESSED, root / "ok.dcm")
    (root / "closed").mkdir()
    shutil.copy(UNCOMPRESSED, root / "closed" / "hidden.dcm")
    for p in (root / "locked.jpeg", root / "locked.dcm"):
        os.chmod(p, 0o000)
    os.chmod(root / "ok.dcm", 0o644)
    os.chmod(root / "closed", 0o000)
    return root


def _run(root: Path, out: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HOME=str(root), PYTHONDONTWRITEBYTECODE="1")
    drop = None
    if os.geteuid() == 0:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)

        def drop():  # runs in the child only: the test process keeps its capabilities
            for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
                if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    raise PermissionError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")

    try:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(root), str(out)],
            cwd=REPO,
            env=env,
            preexec_fn=drop,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (PermissionError, subprocess.SubprocessError) as exc:
        pytest.skip(f"root cannot shed CAP_DAC_OVERRIDE here ({exc}), so mode bits cannot be enforced")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_unreadable_files_and_folders_get_a_reason():
    root = _make_folder()
    out_dir = Path(tempfile.mkdtemp(prefix="cxr-perm-out-"))
    os.chmod(out_dir, 0o777)
    try:
        report = _run(root, out_dir / "out.csv")
    finally:
        os.chmod(root / "closed", 0o755)
        for p in root.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(out_dir, ignore_errors=True)
    load, rows = report["load"], report["rows"]
    assert load["ok.dcm"] == "ok"
    for name in ("locked.jpeg", "locked.dcm"):
        assert "cannot be read" in load[name] and "permission denied" in load[name].lower(), load[name]
        assert "cannot be read" in rows[name], rows[name]
    assert rows["ok.dcm"].endswith("no model available")  # (after any input-check reason: an adult film)
    assert rows["closed"].startswith("skipped: folder cannot be read"), rows
