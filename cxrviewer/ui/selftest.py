"""``cxrviewer --self-test --out DIR``: prove that this installation (from source or frozen) really works.

It opens the bundled demo studies (JPEG and DICOM) in the real main window, lets the model score them and
compute Grad-CAM on the worker thread, renders the window offscreen, checks every step's result, and
writes ``self-test.json`` and ``screenshot.png`` (plus ``export.png``, a PNG export as a user would make
one, and ``settings/``, the settings this run used) into DIR. The exit status is 0 only if every step passed.

Also checked: that the app never loaded torch or the training libraries, every DICOM decoder on small fixtures
(resources/selftest), the Qt platform plugins, that every model bundle loads and agrees with the window's
scores, that nothing touched the network (audit hook + /proc, see cxrviewer.guards), and that no file
appeared or changed in the application folder or the working directory.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cxrviewer.guards import FileSnapshot, NetworkGuard, open_inet_sockets, use_private_caches

from .selftest_window import SCREENSHOT_FILE, StepFailed, WindowSteps, require

REPORT_FILE = "self-test.json"
LOSSY_TOLERANCE = 16

# (fixture, decoding plugin, reference fixture, max abs difference)
DICOM_DECODER_CHECKS = [
    ("MR_small_jpeg_ls_lossless.dcm", "pylibjpeg", "MR_small.dcm", 0),
    ("MR_small_jp2klossless.dcm", "pylibjpeg", "MR_small.dcm", 0),
    ("MR_small_jp2klossless.dcm", "pillow", "MR_small.dcm", 0),
    ("MR_small_RLE.dcm", "pydicom", "MR_small.dcm", 0),
    ("SC_rgb_jpeg_gdcm.dcm", "pylibjpeg", "SC_rgb_rle.dcm", 0),
    ("SC_rgb_jpeg_dcmtk.dcm", "pillow", "SC_rgb_rle.dcm", LOSSY_TOLERANCE),
    ("SC_rgb_jpeg_dcmtk.dcm", "pylibjpeg", "SC_rgb_rle.dcm", LOSSY_TOLERANCE),
]
# The app runs on ONNX Runtime: none of these may be imported by it (they belong to the trainer). tqdm is not
# listed: pydicom imports it when present (pydicom.data.download) and works without it.
TRAINING_ONLY_MODULES = frozenset(
    {"torch", "torchvision", "pytorch_grad_cam", "cv2", "scipy", "sklearn", "matplotlib", "onnx"}
)
NATIVE_PLATFORM_PLUGIN = {"linux": ["libqxcb", "libqwayland"], "win32": ["qwindows"], "darwin": ["libqcocoa"]}


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def app_root() -> Path:
    """The folder holding resources/: the unpacked bundle (frozen) or the source checkout."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))


class SelfTest(WindowSteps):
    def __init__(
        self, out: Path, models_dir: str | None = None, model: str | None = None, guard: NetworkGuard | None = None
    ):
        self.out = out
        self.models_dir_arg = models_dir
        self.model_arg = model
        self.guard = guard
        self.steps: list[dict] = []
        self.started = time.time()
        self.main_thread = threading.get_ident()
        self.window: Any = None  # MainWindow once "main window and model" ran; later steps check it ran
        self.app: Any = None
        self.failed_hard = False

    # -- reporting -------------------------------------------------------------------------------
    @contextmanager
    def step(self, name: str):
        record = {"name": name, "ok": False, "seconds": 0.0, "detail": {}}
        self.steps.append(record)
        t0 = time.perf_counter()
        try:
            yield record["detail"]
            record["ok"] = True
        except StepFailed as exc:
            record["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a report line, never a crash
            record["error"] = f"{type(exc).__name__}: {exc}"
            record["traceback"] = traceback.format_exc()[-4000:]
        record["seconds"] = round(time.perf_counter() - t0, 3)
        self._print(record)

    def can_run(self, name: str, needs: tuple[str, ...]) -> bool:
        """False (and a failed 'not run' step) when a step this one depends on did not pass."""
        missing = [n for n in needs if not self.passed(n)]
        if missing:
            record = {
                "name": name,
                "ok": False,
                "seconds": 0.0,
                "detail": {},
                "error": f"not run: needs {', '.join(missing)}",
            }
            self.steps.append(record)
            self._print(record)
        return not missing

    def passed(self, name: str) -> bool:
        return any(s["name"] == name and s["ok"] for s in self.steps)

    @staticmethod
    def _print(record: dict) -> None:
        status = "PASS" if record["ok"] else "FAIL"
        extra = "" if record["ok"] else f": {record.get('error', '')}"
        print(f"[self-test] {status} {record['name']} ({record['seconds']:.1f} s){extra}", flush=True)

    # -- Qt helpers ------------------------------------------------------------------------------
    def wait_until(self, predicate, timeout_s: float) -> bool:
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                return False
            loop = QEventLoop()
            QTimer.singleShot(20, loop.quit)
            loop.exec()
        return True

    def settle(self, ms: int = 150) -> None:
        end = time.monotonic() + ms / 1000
        self.wait_until(lambda: time.monotonic() > end, ms / 1000 + 1)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> int:
        try:
            return self._run()
        except BaseException as exc:  # noqa: BLE001 - a crash still writes the report and fails
            self.steps.append(
                {
                    "name": "self-test crashed",
                    "ok": False,
                    "seconds": 0.0,
                    "detail": {},
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc()[-4000:],
                }
            )
            self._print(self.steps[-1])
            return self.finish()

    def _run(self) -> int:
        root = app_root()
        self.out.mkdir(parents=True, exist_ok=True)
        if is_frozen():  # the whole app folder (macOS: the .app's Contents, which holds Frameworks too)
            exe_dir = Path(sys.executable).resolve().parent
            app_dirs = [exe_dir.parent if exe_dir.name == "MacOS" else exe_dir]
            if not root.resolve().is_relative_to(app_dirs[0]):
                app_dirs.append(root)
        else:
            app_dirs = [root / "resources", root / "cxrviewer"]
        # From source, Python may refresh cxrviewer's own __pycache__: not the app's doing, so skipped.
        snapshot = FileSnapshot(app_dirs, ignore=[self.out], skip_names={"__pycache__"})
        cwd_snapshot = FileSnapshot([Path.cwd()], ignore=[self.out], recursive=False)

        self.step_environment(root)
        self.step_resources(root)
        self.step_dicom_decoders(root)
        self.step_qt_plugins()
        self.step_window()
        self.step_scoring()
        self.step_gradcam()
        self.step_render()
        self.step_consistency()
        self.step_close()
        self.step_settings()
        self.step_network()
        self.step_no_training_libraries()
        with self.step("no stray files") as d:
            app_changes, cwd_changes = snapshot.changes(), cwd_snapshot.changes()
            d["watched"] = [str(p) for p in snapshot.roots] + [f"{Path.cwd()} (top level)"]
            d["files_watched"] = len(snapshot.files) + len(cwd_snapshot.files)
            bad = {k: sorted(set(app_changes[k]) | set(cwd_changes[k])) for k in app_changes}
            bad = {k: v for k, v in bad.items() if v}
            d["changes"] = {k: v[:20] for k, v in bad.items()}
            require(not bad, f"files changed outside {self.out}: {json.dumps(d['changes'])[:600]}")
        return self.finish()

    def finish(self) -> int:
        ok = bool(self.steps) and all(s["ok"] for s in self.steps)
        report = {
            "ok": ok,
            "frozen": is_frozen(),
            "executable": sys.executable,
            "app_root": str(app_root()),
            "out": str(self.out),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
            "duration_s": round(time.time() - self.started, 2),
            "passed": sum(s["ok"] for s in self.steps),
            "failed": [s["name"] for s in self.steps if not s["ok"]],
            "steps": self.steps,
            "network_attempts": self.guard.attempts if self.guard else None,
            "processes_started": self.guard.processes if self.guard else None,
            "screenshot": SCREENSHOT_FILE if (self.out / SCREENSHOT_FILE).exists() else None,
        }
        (self.out / REPORT_FILE).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        verdict = "PASSED" if ok else f"FAILED ({', '.join(report['failed'])})"
        print(
            f"[self-test] {verdict}: {report['passed']}/{len(self.steps)} steps in {report['duration_s']} s; "
            f"report {self.out / REPORT_FILE}",
            flush=True,
        )
        return 0 if ok else 1

    # -- steps -----------------------------------------------------------------------------------
    def step_environment(self, root: Path) -> None:
        with self.step("environment") as d:
            import numpy
            import onnxruntime
            import pydicom
            import PySide6

            d.update(
                frozen=is_frozen(),
                executable=sys.executable,
                app_root=str(root),
                python=platform.python_version(),
                platform=platform.platform(),
                pyside6=PySide6.__version__,
                pydicom=pydicom.__version__,
                numpy=numpy.__version__,
                onnxruntime=onnxruntime.__version__,
                onnxruntime_providers=onnxruntime.get_available_providers(),
                ort_disable_telemetry=os.environ.get("ORT_DISABLE_TELEMETRY"),
            )

    def step_resources(self, root: Path) -> None:
        with self.step("resources") as d:
            from cxrviewer.core.bundle import default_models_dir
            from cxrviewer.core.catalog import bundle_names
            from cxrviewer.core.input_checks import gate_problem, load_reference
            from cxrviewer.core.input_gate import default_gate_path

            from .app import DEMO_DIR, ICON

            self.models_dir = Path(self.models_dir_arg) if self.models_dir_arg else default_models_dir()
            names = bundle_names(self.models_dir)
            d["models_dir"], d["bundles"] = str(self.models_dir), names
            require(names, f"no model bundle in {self.models_dir}")
            self.demo = sorted(p for p in DEMO_DIR.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png", ".dcm"))
            d["demo"] = [p.name for p in self.demo]
            require(any(p.suffix.lower() == ".dcm" for p in self.demo), f"no DICOM demo study in {DEMO_DIR}")
            require(any(p.suffix.lower() != ".dcm" for p in self.demo), f"no JPEG/PNG demo study in {DEMO_DIR}")
            d["input_gate"] = str(default_gate_path())
            require(load_reference() is not None, f"the input gate is not usable: {gate_problem()}")
            d["icon"] = str(ICON)
            require(ICON.is_file(), f"the application icon {ICON} is missing")

    def step_dicom_decoders(self, root: Path) -> None:
        with self.step("DICOM decoders") as d:
            import numpy as np
            from pydicom.pixels import pixel_array

            from cxrviewer.core.study import load_study

            folder = root / "resources" / "selftest"
            results = []
            for name, plugin, ref_name, tol in DICOM_DECODER_CHECKS:
                ref = pixel_array(folder / ref_name).astype(np.int64)
                try:
                    arr = pixel_array(folder / name, decoding_plugin=plugin).astype(np.int64)
                    diff = int(np.abs(arr - ref).max()) if arr.shape == ref.shape else None
                    ok = diff is not None and diff <= tol
                    results.append({"file": name, "plugin": plugin, "ok": ok, "max_diff": diff})
                except Exception as exc:  # noqa: BLE001
                    results.append(
                        {"file": name, "plugin": plugin, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
                    )
            d["checks"] = results
            study = load_study(folder / "MR_small_jpeg_ls_lossless.dcm")  # the app's own path, JPEG-LS
            d["load_study_jpeg_ls"] = list(study.pixels.shape)
            bad = [
                f"{r['file']} via {r['plugin']}: {r.get('error') or 'pixels differ'}" for r in results if not r["ok"]
            ]
            require(not bad, "; ".join(bad))

    def step_qt_plugins(self) -> None:
        with self.step("Qt platform plugins") as d:
            from PySide6.QtCore import QLibraryInfo, QPluginLoader

            folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
            present = sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []
            d["folder"], d["present"] = str(folder), present
            require(
                any(n.startswith(("libqoffscreen", "qoffscreen")) for n in present),
                f"the offscreen platform plugin is missing from {folder}",
            )
            key = "linux" if sys.platform.startswith("linux") else sys.platform
            native = [p for p in present if any(p.startswith(s) for s in NATIVE_PLATFORM_PLUGIN.get(key, []))]
            require(
                native or key not in NATIVE_PLATFORM_PLUGIN,
                f"no native platform plugin ({'/'.join(NATIVE_PLATFORM_PLUGIN.get(key, []))}) in {folder}",
            )
            loads = {}
            for name in native:
                loader = QPluginLoader(str(folder / name))
                loads[name] = "ok" if loader.load() else loader.errorString()
            d["native_plugins_load"] = loads
            # Loading can fail for lack of a system library (e.g. libxcb-cursor0 on a server): a warning,
            # reported here, not a failure, because the display libraries belong to the target desktop.
            if native and not any(v == "ok" for v in loads.values()):
                d["warning"] = "no native platform plugin loads on this machine (missing system libraries?)"

    def step_network(self) -> None:
        with self.step("no network") as d:
            d["guard"] = "python audit hook" if self.guard else "none"
            attempts = self.guard.attempts if self.guard else []
            d["attempts"] = attempts[:20]
            sockets = open_inet_sockets()
            d["open_inet_sockets"] = sockets
            require(self.guard is not None and self.guard.armed, "the network guard was not installed")
            require(not attempts, f"{len(attempts)} network attempt(s): {attempts[:3]}")
            require(not sockets, f"IP sockets open: {sockets}")

    def step_no_training_libraries(self) -> None:
        with self.step("no torch or training libraries loaded") as d:
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in TRAINING_ONLY_MODULES)
            d["checked"] = sorted(TRAINING_ONLY_MODULES)
            d["loaded"] = loaded[:20]
            require(not loaded, f"the app imported {', '.join(sorted({m.split('.')[0] for m in loaded}))}")


def run_self_test(
    out: str | None, models_dir: str | None = None, model: str | None = None, guard: NetworkGuard | None = None
) -> int:
    """Run every check; returns the process exit status (0 only if all passed)."""
    out_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="cxrviewer-self-test-"))
    out_dir = out_dir.resolve()
    print(f"[self-test] cxrviewer self-test, report in {out_dir}", flush=True)
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    use_private_caches()  # normally done by cxrviewer.__main__ already; a no-op then
    return SelfTest(out_dir, models_dir=models_dir, model=model, guard=guard).run()
