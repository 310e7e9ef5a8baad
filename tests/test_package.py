"""The packaged app: build dist/cxrviewer with PyInstaller and run the frozen ``--self-test`` (slow).

Run by ``make package-test``, never by ``make test``. The build runs with the packaging venv's Python
(``CXR_PACKAGE_PYTHON``, default build/package-venv/bin/python, made by ``make package``: only the app's
requirements and PyInstaller), never with the test venv, which holds torch. Set CXR_PACKAGE_PREBUILT=1 to test
an existing dist/cxrviewer without rebuilding it. The frozen app runs with a bare environment (no venv, no
PYTHONPATH), a fresh HOME and TMPDIR, and on Linux inside a new network namespace (``unshare -rn``: no
interface but a downed loopback) when the machine allows one. Build time, size and the size breakdown go to
test-artifacts/package/ (git-ignored) for docs/packaging.md.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow

DIST = REPO / "dist" / "cxrviewer"
INTERNAL = DIST / "_internal"
EXE = DIST / ("cxrviewer.exe" if sys.platform == "win32" else "cxrviewer")
ARTIFACTS = REPO / "test-artifacts" / "package"
PACKAGE_PYTHON = Path(os.environ.get("CXR_PACKAGE_PYTHON") or REPO / "build" / "package-venv" / "bin" / "python")
MAX_MIB = 400
IS_LINUX = sys.platform.startswith("linux")

# Python packages of the trainer / GPU stack: none may be in the packaging venv or in the build.
TRAINING_PACKAGES = (
    "torch",
    "torchvision",
    "torchaudio",
    "functorch",
    "pytorch_grad_cam",
    "cv2",
    "scipy",
    "sklearn",
    "matplotlib",
    "onnx",
    "onnxscript",
    "triton",
    "nvidia",
    "trainer",
)
TRAINING_LIBS = re.compile(
    r"^(lib)?(torch|c10|cudart|cudnn|cublas|cufft|curand|cusolver|cusparse|nccl|nvrtc"
    r"|nvJitLink|nvshmem|opencv_)",
    re.IGNORECASE,
)
# System libraries a desktop provides; the build must not carry the build machine's copies. Wheels may carry
# their own, renamed by auditwheel with a hash (pillow.libs/libxcb-9065bb12.so.1.1.0): those are allowed.
HOST_LIBS = re.compile(
    r"^lib(glib|gobject|gio|gmodule|gthread|cairo|pango|harfbuzz|fontconfig|freetype|png16|X11"
    r"|X[a-z]+|xcb|xkbcommon|wayland|dbus|E?GL|GLX|GLdispatch|drm|gst|gtk|gdk|atk|pcre|systemd"
    r"|stdc\+\+|gcc_s|selinux|mount|blkid|krb5|gssapi|gcrypt|zstd|brotli|bsd)[-_.a-z0-9]*\.so"
)
AUDITWHEEL_NAME = re.compile(r"-[0-9a-f]{8}\.so")
# The only libraries the spec takes from outside site-packages / Python's stdlib folder (cxrviewer.spec).
PYTHON_LINKS = re.compile(
    r"^lib(python3[.\d]*|z|bz2|lzma|ffi|expat|sqlite3|ssl|crypto|mpdec|uuid|readline|ncursesw"
    r"|tinfo|gdbm\w*|nsl|tirpc|crypt)\.so"
)


def _no_network_prefix() -> list[str]:
    if not IS_LINUX or not shutil.which("unshare"):
        return []
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return ["unshare", "-rn"] if probe.returncode == 0 else []


def _files(root: Path):
    """Every regular file under root (symbolic links, which PyInstaller makes for libraries, are skipped)."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


@pytest.fixture(scope="module")
def built_app() -> dict:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    info = {"prebuilt": bool(os.environ.get("CXR_PACKAGE_PREBUILT"))}
    if not (info["prebuilt"] and EXE.exists()):
        if not PACKAGE_PYTHON.exists():
            pytest.skip(f"{PACKAGE_PYTHON} missing: `make package-test` (or `make package`) creates the packaging venv")
        probe = subprocess.run(
            [
                str(PACKAGE_PYTHON),
                "-c",
                "import importlib.util as u, sys; print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))",
                *TRAINING_PACKAGES[:-1],
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert not probe.stdout.strip(), f"the packaging venv {PACKAGE_PYTHON} holds {probe.stdout.strip()}"
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                str(PACKAGE_PYTHON),
                "-m",
                "PyInstaller",
                "cxrviewer.spec",
                "--noconfirm",
                "--clean",
                "--log-level",
                "WARN",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1800,
        )
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
    info.update(
        total_bytes=report["total_bytes"], total_mib=round(report["total_bytes"] / 2**20, 1), files=report["files"]
    )
    (ARTIFACTS / "size.json").write_text(json.dumps(dict(report, **info), indent=2), encoding="utf-8")
    (ARTIFACTS / "size.md").write_text(markdown(report) + "\n", encoding="utf-8")
    return info


def test_size_is_within_budget(built_app):
    assert built_app["total_bytes"] <= MAX_MIB * 2**20, f"{built_app['total_mib']} MiB > {MAX_MIB} MiB"


def test_bundle_has_what_the_app_needs(built_app):
    shipped = sorted(p.parent.name for p in (REPO / "resources" / "models").glob("*/model.json"))
    models = INTERNAL / "resources" / "models"
    assert shipped and sorted(p.name for p in models.iterdir()) == shipped
    for name in shipped:
        assert sorted(p.name for p in (models / name).iterdir()) == ["model.json", "model.onnx"], name
    assert not list(DIST.rglob("*.pt")), "weights.pt (the trainer's PyTorch weights) must not be bundled"
    assert any((INTERNAL / "resources" / "demo").glob("*.dcm"))
    plugins = INTERNAL / "PySide6" / "Qt" / "plugins" / "platforms"
    names = {p.name.split(".")[0] for p in plugins.iterdir()}
    assert "libqoffscreen" in names or "qoffscreen" in names
    if IS_LINUX:
        assert "libqxcb" in names and "libqwayland" in names and "libqvnc" not in names
        assert (DIST / "cxrviewer.desktop").is_file() and (DIST / "cxrviewer.png").is_file()
    assert any((INTERNAL / "onnxruntime").rglob("*onnxruntime*.so*")) or any((INTERNAL / "onnxruntime").rglob("*.pyd"))
    assert not list(INTERNAL.rglob("libQt6Quick*")) and not list(INTERNAL.rglob("libQt6WebEngine*"))


def test_no_training_or_gpu_code(built_app):
    for name in (
        *TRAINING_PACKAGES,
        "pytest",
        "tests",
        "torch.libs",
        "torchvision.libs",
        "scipy.libs",
        "opencv_python_headless.libs",
        "opencv_python.libs",
        "scikit_learn.libs",
    ):
        assert not (INTERNAL / name).exists(), f"{name} is bundled"
    dist_infos = [p.name for p in INTERNAL.glob("*.dist-info")]
    training = re.compile(r"(torch|grad_cam|opencv|scipy|scikit_learn|matplotlib|onnx-|nvidia)", re.IGNORECASE)
    assert not [d for d in dist_infos if training.match(d)], dist_infos
    libs = sorted(p.name for p in INTERNAL.rglob("*") if TRAINING_LIBS.match(p.name))
    assert not libs, f"training / CUDA libraries bundled: {libs[:10]}"


def test_no_network_capable_qt_parts(built_app):
    assert not list(INTERNAL.rglob("*Qt6Network*")), "libQt6Network is bundled"
    assert not list(INTERNAL.rglob("*qtuiotouchplugin*")), "the TUIO touch plugin (UDP listener) is bundled"
    qt_plugins = INTERNAL / "PySide6" / "Qt" / "plugins"
    for folder in ("tls", "networkinformation", "sqldrivers", "qmltooling"):
        assert not (qt_plugins / folder).exists(), f"Qt plugins/{folder} is bundled"


@pytest.mark.skipif(not IS_LINUX, reason="the host-library rule is Linux-only (cxrviewer.spec)")
def test_no_host_system_libraries(built_app):
    # (Qt's plugins, e.g. wayland-graphics-integration-client/libdrm-egl-server.so, are Qt's own files.)
    qt_plugins = INTERNAL / "PySide6" / "Qt" / "plugins"
    host = sorted(
        str(p.relative_to(INTERNAL))
        for p in _files(INTERNAL)
        if HOST_LIBS.match(p.name)
        and not p.is_relative_to(qt_plugins)
        and not (p.parent.name.endswith(".libs") and AUDITWHEEL_NAME.search(p.name))
    )
    assert not host, f"build-host system libraries bundled: {host}"
    # Libraries from outside the wheels land loose at the top of _internal: only libpython and what Python's
    # own extension modules link may be there.
    loose = sorted(
        p.name
        for p in INTERNAL.iterdir()
        if p.is_file() and not p.is_symlink() and ".so" in p.name and ".cpython-" not in p.name
    )
    assert loose and all(PYTHON_LINKS.match(n) for n in loose), loose


def test_frozen_self_test_passes_offline_and_writes_nowhere_else(built_app, tmp_path):
    home, tmp, cwd, out = (tmp_path / n for n in ("home", "tmp", "cwd", "report"))
    for d in (home, tmp, cwd):
        d.mkdir()
    env = {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    if sys.platform == "win32":
        env = dict(os.environ, USERPROFILE=str(home), TEMP=str(tmp), TMP=str(tmp))
    prefix = _no_network_prefix()
    t0 = time.monotonic()
    proc = subprocess.run(
        prefix + [str(EXE), "--self-test", "--out", str(out)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = round(time.monotonic() - t0, 1)
    (ARTIFACTS / "self-test.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert (out / "self-test.json").is_file(), (proc.stdout + proc.stderr)[-5000:]
    report = json.loads((out / "self-test.json").read_text())
    shutil.copy2(out / "self-test.json", ARTIFACTS / "self-test.json")
    if (out / "screenshot.png").is_file():
        shutil.copy2(out / "screenshot.png", ARTIFACTS / "screenshot.png")
    summary = dict(
        built_app,
        self_test_seconds=seconds,
        network_namespace=bool(prefix),
        ok=report["ok"],
        steps_passed=report["passed"],
        steps=len(report["steps"]),
    )
    (ARTIFACTS / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    assert proc.returncode == 0 and report["ok"], (report["failed"], proc.stdout[-4000:], proc.stderr[-4000:])
    assert report["frozen"] is True
    steps = {s["name"]: s for s in report["steps"]}
    assert report["passed"] == len(report["steps"]) and all(s["ok"] for s in report["steps"])
    for name in (
        "DICOM decoders",
        "main window and model",
        "every bundle loads and agrees with the window",
        "no network",
        "no torch or training libraries loaded",
        "no stray files",
    ):
        assert steps[name]["ok"], name
    assert steps["main window and model"]["detail"]["backend"] == "onnxruntime"
    leftovers = sorted(str(p.relative_to(tmp_path)) for d in (home, tmp, cwd) for p in d.rglob("*"))
    assert leftovers == [], f"the frozen app wrote outside --out: {leftovers}"
