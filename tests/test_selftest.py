"""`cxrviewer --self-test` from source: passes on this checkout, and fails when the model cannot run, when
something opens a socket, or when a file is written outside --out. Each run is a child process with a fresh
HOME and TMPDIR, so the test also proves that the run leaves nothing behind there."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cxrviewer.guards import FileSnapshot

from .conftest import MODELS_DIR, REPO

# Injects the three faults the self-test must catch, then runs it like `python -m cxrviewer`.
FAULTY_DRIVER = r"""
import socket, sys
from pathlib import Path
from cxrviewer.ui import selftest

original = selftest.SelfTest.step_qt_plugins

def with_faults(self):
    original(self)
    try:
        socket.create_connection(("192.0.2.1", 9), timeout=0.2)  # TEST-NET-1: never routable
    except OSError:
        pass
    Path("stray.txt").write_text("written outside --out")

selftest.SelfTest.step_qt_plugins = with_faults
from cxrviewer.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


# Runs the self-test with every training-only library made unimportable: the app must not need them.
BLOCKED_IMPORTS_DRIVER = r"""
import sys
from cxrviewer.ui.selftest import TRAINING_ONLY_MODULES

class BlockTrainingLibraries:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in TRAINING_ONLY_MODULES:
            raise ImportError(f"{name} is blocked: the app must run without it")
        return None

sys.meta_path.insert(0, BlockTrainingLibraries())
from cxrviewer.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _env(tmp_path: Path) -> dict:
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path / "home"),
        TMPDIR=str(tmp_path / "tmp"),
        XDG_CONFIG_HOME=str(tmp_path / "home" / ".config"),
        XDG_CACHE_HOME=str(tmp_path / "home" / ".cache"),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )
    for var in ("TORCHINDUCTOR_CACHE_DIR", "MPLCONFIGDIR"):
        env.pop(var, None)
    for sub in ("home", "tmp", "cwd"):
        (tmp_path / sub).mkdir()
    return env


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for sub in ("home", "tmp", "cwd") for p in (tmp_path / sub).rglob("*"))


def test_self_test_from_source_passes_and_leaves_nothing_behind(tmp_path):
    env, out = _env(tmp_path), tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORTS_DRIVER, "--self-test", "--out", str(out)],
        cwd=tmp_path / "cwd",
        env=dict(env, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "self-test.json").read_text())
    assert report["ok"] and not report["failed"] and report["frozen"] is False
    names = {s["name"] for s in report["steps"]}
    assert {
        "DICOM decoders",
        "scoring on the worker thread",
        "Grad-CAM on the worker thread",
        "render offscreen",
        "no network",
        "no stray files",
        "no torch or training libraries loaded",
    } <= names
    steps = {s["name"]: s for s in report["steps"]}
    studies = steps["scoring on the worker thread"]["detail"]["studies"]
    assert any(name.endswith(".dcm") for name in studies) and len(studies) == 3
    assert report["network_attempts"] == []
    assert (out / "screenshot.png").stat().st_size > 10_000 and (out / "export.png").is_file()
    assert (out / "settings" / "cxrviewer.ini").is_file()
    leftovers = _leftovers(tmp_path)
    assert leftovers == [], f"the self-test wrote outside --out: {leftovers}"


def test_self_test_fails_on_a_broken_model_a_socket_and_a_stray_file(tmp_path):
    env, out = _env(tmp_path), tmp_path / "report"
    broken = tmp_path / "models"
    bundle = sorted(p for p in MODELS_DIR.iterdir() if (p / "model.json").is_file())[0]
    shutil.copytree(bundle, broken / bundle.name)
    weights = broken / bundle.name / "model.onnx"
    weights.write_bytes(weights.read_bytes()[:-64] + bytes(64))  # sha256 no longer matches the card
    proc = subprocess.run(
        [sys.executable, "-c", FAULTY_DRIVER, "--self-test", "--out", str(out), "--models-dir", str(broken)],
        cwd=tmp_path / "cwd",
        env=dict(env, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "self-test.json").read_text())
    assert not report["ok"]
    assert {"main window and model", "no network", "no stray files"} <= set(report["failed"])
    assert any(a["event"].startswith("socket.") for a in report["network_attempts"])
    steps = {s["name"]: s for s in report["steps"]}
    assert "stray.txt" in json.dumps(steps["no stray files"]["detail"]["changes"])
    assert "sha256" in steps["main window and model"]["error"] or "weights" in steps["main window and model"]["error"]


def test_self_test_misuse_exits_2(tmp_path):
    from cxrviewer.__main__ import main

    assert main(["--self-test", "--batch", str(tmp_path)]) == 2
    assert main(["--out", str(tmp_path)]) == 2


def test_file_snapshot_sees_created_modified_and_deleted_files(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "b").write_text("1")
    (tmp_path / "skip").mkdir()
    snap = FileSnapshot([tmp_path], ignore=[tmp_path / "skip"])
    (tmp_path / "a").write_text("22")
    (tmp_path / "b").unlink()
    (tmp_path / "c").write_text("new")
    (tmp_path / "skip" / "ignored").write_text("x")
    assert snap.changes() == {
        "created": [str(tmp_path / "c")],
        "modified": [str(tmp_path / "a")],
        "deleted": [str(tmp_path / "b")],
    }
