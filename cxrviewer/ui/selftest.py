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
import math
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

REPORT_FILE = "self-test.json"
SCREENSHOT_FILE = "screenshot.png"
EXPORT_FILE = "export.png"
MODEL_TIMEOUT_S = 300.0
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


class StepFailed(Exception):
    """A check inside a step did not hold."""


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def app_root() -> Path:
    """The folder holding resources/: the unpacked bundle (frozen) or the source checkout."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))


def require(condition, message: str) -> None:
    if not condition:
        raise StepFailed(message)


class SelfTest:
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

    def step_window(self) -> None:
        if not self.can_run("main window and model", ("resources",)):
            return
        with self.step("main window and model") as d:
            from PySide6.QtCore import QSettings
            from PySide6.QtWidgets import QApplication

            from .main_window import MainWindow
            from .theme import apply_dark_theme

            self.app = QApplication.instance() or QApplication([sys.argv[0], "-platform", "offscreen"])
            self.app.setOrganizationName("cxrviewer")
            self.app.setApplicationName("cxrviewer")
            apply_dark_theme(self.app)
            d["qt_platform"] = self.app.platformName()
            self.settings_dir = self.out / "settings"
            settings = QSettings(str(self.settings_dir / "cxrviewer.ini"), QSettings.Format.IniFormat)
            w = self.window = MainWindow(models_dir=str(self.models_dir), model=self.model_arg, settings=settings)
            w.resize(1400, 900)
            w.show()
            w.start([self.demo[0].parent])
            finished = self.wait_until(lambda: w.model_state != "loading", MODEL_TIMEOUT_S)
            d["model_state"], d["model"] = w.model_state, w.model_name
            predictor = w.service.predictor
            if predictor is not None:
                d["backend"], d["backend_note"] = predictor.backend, predictor.backend_note
            require(finished, f"the model did not load within {MODEL_TIMEOUT_S:.0f} s")
            extra = [e for e in w.errors if e not in w.panel.model_status.text()]
            require(
                w.model_state == "ready",
                "no model could be loaded: " + "; ".join([w.panel.model_status.text()] + extra),
            )

    def step_scoring(self) -> None:
        if not self.can_run("scoring on the worker thread", ("main window and model",)):
            return
        with self.step("scoring on the worker thread") as d:
            from .worklist import DONE

            w = self.window
            require(
                self.wait_until(lambda: not w.is_busy(), MODEL_TIMEOUT_S),
                f"scoring did not finish within {MODEL_TIMEOUT_S:.0f} s",
            )
            class_names = w.model_card.class_names
            rows = {}
            for e in w.worklist.model.entries:
                r = e.result
                rows[e.result.path.name] = {
                    "state": e.state,
                    "probability": r.probability,
                    "label": r.label,
                    "verdict": r.verdict.value,
                    "reason": r.reason,
                    "threshold": r.threshold,
                    "warnings": r.warnings,
                    "error": r.error,
                }
            d["studies"] = rows
            threads = w.service.worker_threads
            d["worker_threads"] = len(threads["score"])
            require(sorted(rows) == [p.name for p in self.demo], f"worklist holds {sorted(rows)}")
            for name, r in rows.items():
                require(r["state"] == DONE and not r["error"], f"{name}: {r['error'] or r['state']}")
                p = r["probability"]
                require(p is not None and math.isfinite(p) and 0.0 <= p <= 1.0, f"{name}: probability {p}")
                allowed = (*class_names, "") if r["verdict"] not in ("positive", "negative") else class_names
                require(r["label"] in allowed, f"{name}: label {r['label']!r} for verdict {r['verdict']}")
            require(threads["score"], "scoring never ran")
            require(self.main_thread not in threads["score"], "a study was scored on the UI thread")

    def step_gradcam(self) -> None:
        if not self.can_run("Grad-CAM on the worker thread", ("scoring on the worker thread",)):
            return
        with self.step("Grad-CAM on the worker thread") as d:
            import numpy as np

            from cxrviewer.core.verdict import Verdict

            w = self.window
            w.set_heat_on_negative(True)  # every scored demo film gets its map (negatives hide it by default)
            maps = {}
            for path in self.demo:
                entry = w.worklist.model.find_path(path)
                w.show_row(entry.row_id)
                w.set_gradcam_visible(True)
                result = w.current_result()
                if result is not None and result.verdict in (Verdict.WITHHELD, Verdict.UNREADABLE):
                    # no heat map may be drawn on a study whose score is withheld
                    self.settle(50)
                    require(
                        w.current_heat() is None and not w.view.heat_visible(),
                        f"{path.name}: a heat map is drawn although the score is withheld",
                    )
                    maps[path.name] = {"withheld": result.reason}
                    continue
                done = self.wait_until(
                    lambda: w.current_heat() is not None or "failed" in w.panel.gradcam_status.text(),
                    MODEL_TIMEOUT_S,
                )
                require(done, f"{path.name}: Grad-CAM did not finish within {MODEL_TIMEOUT_S:.0f} s")
                heat = w.current_heat()
                require(heat is not None, f"{path.name}: {w.panel.gradcam_status.text()}")
                require(
                    heat.shape == w.study.pixels.shape,
                    f"{path.name}: heat map {heat.shape} vs study {w.study.pixels.shape}",
                )
                require(
                    np.all(np.isfinite(heat)) and heat.min() >= 0.0 and heat.max() <= 1.0,
                    f"{path.name}: heat map values outside [0, 1]",
                )
                self.settle(50)
                require(w.view.heat_visible(), f"{path.name}: the Grad-CAM layer is not shown")
                maps[path.name] = {
                    "shape": list(heat.shape),
                    "mean": round(float(heat.mean()), 4),
                    "max": round(float(heat.max()), 4),
                }
            require(any("shape" in m for m in maps.values()), "no demo study got a heat map")
            d["maps"] = maps
            threads = w.service.worker_threads["gradcam"]
            require(threads, "Grad-CAM never ran")
            require(self.main_thread not in threads, "Grad-CAM ran on the UI thread")

    def step_render(self) -> None:
        if not self.can_run("render offscreen", ("main window and model",)):
            return
        with self.step("render offscreen") as d:
            import numpy as np
            from PIL import Image

            w = self.window
            dicom = next((p for p in self.demo if p.suffix.lower() == ".dcm"), self.demo[0])
            w.show_row(w.worklist.model.find_path(dicom).row_id)
            self.settle(300)
            shot = self.out / SCREENSHOT_FILE
            require(w.grab().save(str(shot), "PNG"), f"could not save {shot}")
            with Image.open(shot) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
            d["screenshot"] = {
                "file": shot.name,
                "size": [rgb.shape[1], rgb.shape[0]],
                "std": round(float(rgb.std()), 2),
            }
            require(rgb.shape[0] >= 400 and rgb.shape[1] >= 600, f"screenshot is only {rgb.shape[1]}x{rgb.shape[0]}")
            require(rgb.std() > 10, "the screenshot is (nearly) blank")
            view = w.view.grab()
            vimg = view.toImage()
            d["view_size"] = [vimg.width(), vimg.height()]
            require(w.view.has_image(), "the image view shows no image")
            exported = w.export_png(self.out / EXPORT_FILE)
            with Image.open(exported) as im:
                d["export"] = {"file": exported.name, "size": list(im.size)}
                require(min(im.size) >= 200, f"export is only {im.size}")

    def step_consistency(self) -> None:
        if not self.can_run("every bundle loads and agrees with the window", ("scoring on the worker thread",)):
            return
        with self.step("every bundle loads and agrees with the window") as d:
            from cxrviewer.core.bundle import load_bundle
            from cxrviewer.core.catalog import bundle_names
            from cxrviewer.core.predictor import Predictor
            from cxrviewer.core.study import load_study

            w = self.window
            studies = {p.name: load_study(p) for p in self.demo}
            shown = {e.result.path.name: e.result.probability for e in w.worklist.model.entries}
            out = {}
            backends = {}
            for name in bundle_names(self.models_dir):
                bundle = load_bundle(self.models_dir / name)
                predictor = Predictor(bundle)
                backends[name] = {
                    "backend": predictor.backend,
                    "note": predictor.backend_note,
                    "export_verification": bundle.card.onnx.verification.get("max_logit_difference_batch_n"),
                }
                probs = {k: predictor.predict(s).probability for k, s in studies.items()}
                out[name] = {k: round(v, 5) for k, v in probs.items()}
                for k, v in probs.items():
                    require(math.isfinite(v) and 0.0 <= v <= 1.0, f"{name} on {k}: probability {v}")
                if predictor.name == w.model_name:
                    for k, v in probs.items():
                        require(abs(v - shown[k]) < 1e-4, f"{name} on {k}: window shows {shown[k]}, core gives {v}")
            d["probabilities"], d["backends"] = out, backends

    def step_close(self) -> None:
        if not self.can_run("close", ("main window and model",)):
            return
        with self.step("close") as d:
            w = self.window
            w.close()
            self.settle(50)
            d["visible_after_close"] = w.isVisible()
            require(not w.isVisible(), "the window did not close")

    def step_settings(self) -> None:
        if not self.can_run("settings stay in their folder", ("close",)):
            return
        with self.step("settings stay in their folder") as d:
            files = sorted(str(p.relative_to(self.out)) for p in self.settings_dir.rglob("*") if p.is_file())
            d["files"] = files
            require(files, f"no settings were written to {self.settings_dir}")

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
