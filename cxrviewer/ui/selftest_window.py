"""The self-test's steps that drive the real main window: model load, scoring and Grad-CAM on the worker
thread, the display policy for heat maps, offscreen rendering and PNG export, agreement with the core,
close and settings. They use the window's public methods only (see ``cxrviewer.ui.selftest``)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

SCREENSHOT_FILE = "screenshot.png"
EXPORT_FILE = "export.png"
MODEL_TIMEOUT_S = 300.0


class StepFailed(Exception):
    """A check inside a step did not hold."""


def require(condition, message: str) -> None:
    if not condition:
        raise StepFailed(message)


class WindowSteps:
    """Mixed into ``SelfTest``: ``step``, ``can_run``, ``wait_until`` and ``settle`` come from there."""

    out: Path
    models_dir: Path
    model_arg: str | None
    demo: list[Path]
    main_thread: int
    window: Any
    app: Any
    settings_dir: Path
    step: Any
    can_run: Any
    wait_until: Any
    settle: Any

    def show(self, path: Path) -> None:
        """Show a worklist row and wait until it is on screen (films are decoded off the UI thread)."""
        w = self.window
        row_id = w.worklist.model.find_path(path).row_id
        w.show_row(row_id)
        require(self.wait_until(lambda: w.current_row == row_id, MODEL_TIMEOUT_S), f"{path.name} was never shown")

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
            w.set_heat_on_negative(False)
            maps = {}
            for path in self.demo:
                self.show(path)
                w.set_gradcam_visible(True)
                result = w.current_result()
                if result is not None and result.verdict is Verdict.NEGATIVE:
                    # the display policy: no map on a negative verdict unless the reader asks for it
                    self.settle(50)
                    require(
                        w.current_heat() is None and not w.view.heat_visible(),
                        f"{path.name}: a heat map is drawn on a negative study without being asked for",
                    )
                    w.set_heat_on_negative(True)
                    d.setdefault("negative_hidden_until_asked", []).append(path.name)
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
            self.show(dicom)
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
