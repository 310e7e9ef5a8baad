"""The packaged app: build dist/cxrviewer with PyInstaller and run the frozen ``--self-test`` (slow).

Run by ``make package-test``, never by ``make test``. Set CXR_PACKAGE_PREBUILT=1 to test an existing
dist/cxrviewer without rebuilding it. The frozen app runs with a bare environment (no venv, no PYTHONPATH),
a fresh HOME and TMPDIR, and on Linux inside a new network namespace (``unshare -rn``: no interface but a
downed loopback) when the machine allows one. Build time, size and the size breakdown go to
test-artifacts/package/ (git-ignored) for docs/packaging.md.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow

DIST = REPO / "dist" / "cxrviewer"
EXE = DIST / ("cxrviewer.exe" if sys.platform == "win32" else "cxrviewer")
ARTIFACTS = REPO / "test-artifacts" / "package"


def _no_network_prefix() -> list[str]:
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return []
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return ["unshare", "-rn"] if probe.returncode == 0 else []


@pytest.fixture(scope="module")
def built_app() -> dict:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    info = {"prebuilt": bool(os.environ.get("CXR_PACKAGE_PREBUILT"))}
    if not (info["prebuilt"] and EXE.exists()):
        pytest.importorskip("PyInstaller", reason="pip install -e '.[package]' (make package does)")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "PyInstaller", "cxrviewer.spec", "--noconfirm", "--clean",
                               "--log-level", "WARN"], cwd=REPO, capture_output=True, text=True, timeout=3 * 3600)
        info["build_seconds"] = round(time.monotonic() - t0, 1)
        (ARTIFACTS / "build.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    assert EXE.is_file(), f"{EXE} was not built"
    sys.path.insert(0, str(REPO / "tools"))
    try:
        from package_report import breakdown, markdown
    finally:
        sys.path.pop(0)
    report = breakdown(DIST)
    info.update(total_bytes=report["total_bytes"], files=report["files"])
    (ARTIFACTS / "size.json").write_text(json.dumps(dict(report, **info), indent=2), encoding="utf-8")
    (ARTIFACTS / "size.md").write_text(markdown(report) + "\n", encoding="utf-8")
    return info


def test_bundle_has_what_the_app_needs(built_app):
    internal = DIST / "_internal"
    assert (internal / "resources" / "models").is_dir() and any((internal / "resources" / "models").glob("*/model.json"))
    assert any((internal / "resources" / "demo").glob("*.dcm"))
    assert any((internal / "torchvision").glob("_C*")), "torchvision's compiled operators are missing"
    plugins = internal / "PySide6" / "Qt" / "plugins" / "platforms"
    names = {p.name.split(".")[0] for p in plugins.iterdir()}
    assert "libqoffscreen" in names or "qoffscreen" in names
    if sys.platform.startswith("linux"):
        assert "libqxcb" in names and "libqvnc" not in names
        assert (DIST / "cxrviewer.desktop").is_file() and (DIST / "cxrviewer.png").is_file()
    assert any((internal / "onnxruntime").rglob("*onnxruntime*.so*")) or any((internal / "onnxruntime").rglob("*.pyd"))
    for absent in ("triton", "pytest", "trainer"):
        assert not (internal / absent).exists(), f"{absent} should not be bundled"
    assert not list(internal.rglob("libQt6Quick*")) and not list(internal.rglob("libQt6WebEngine*"))


def test_frozen_self_test_passes_offline_and_writes_nowhere_else(built_app, tmp_path):
    home, tmp, cwd, out = (tmp_path / n for n in ("home", "tmp", "cwd", "report"))
    for d in (home, tmp, cwd):
        d.mkdir()
    env = {"HOME": str(home), "TMPDIR": str(tmp), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    if sys.platform == "win32":
        env = dict(os.environ, USERPROFILE=str(home), TEMP=str(tmp), TMP=str(tmp))
    prefix = _no_network_prefix()
    t0 = time.monotonic()
    proc = subprocess.run(prefix + [str(EXE), "--self-test", "--out", str(out)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    seconds = round(time.monotonic() - t0, 1)
    (ARTIFACTS / "self-test.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert (out / "self-test.json").is_file(), (proc.stdout + proc.stderr)[-5000:]
    report = json.loads((out / "self-test.json").read_text())
    shutil.copy2(out / "self-test.json", ARTIFACTS / "self-test.json")
    if (out / "screenshot.png").is_file():
        shutil.copy2(out / "screenshot.png", ARTIFACTS / "screenshot.png")
    summary = dict(built_app, self_test_seconds=seconds, network_namespace=bool(prefix), ok=report["ok"])
    (ARTIFACTS / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    assert proc.returncode == 0 and report["ok"], (report["failed"], proc.stdout[-4000:], proc.stderr[-4000:])
    assert report["frozen"] is True
    steps = {s["name"]: s for s in report["steps"]}
    assert steps["torchvision compiled operators"]["ok"] and steps["DICOM decoders"]["ok"]
    leftovers = sorted(str(p.relative_to(tmp_path)) for d in (home, tmp, cwd) for p in d.rglob("*"))
    assert leftovers == [], f"the frozen app wrote outside --out: {leftovers}"
