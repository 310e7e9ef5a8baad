"""AI > Calibrate for this site... / Reset site calibration: the GUI side of cxrviewer.core.site_calibration.

The fit scores every film in the chosen folder, so it runs on the model worker; the profile is saved and the
model reloaded (every open study re-scored at the new operating point) back on the UI thread.

Also the worked example of contributing to the action table (see ``actions.py``): :func:`action_specs`
returns this module's entries, and the main window adds them with one line.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog

from cxrviewer.core.bundle import load_bundle
from cxrviewer.core.site_calibration import CalibrationError, calibrate, describe, reset_profile, save_profile

from .actions import ActionSpec


def action_specs(window) -> list[ActionSpec]:
    """AI ▸ Calibrate for This Site… and AI ▸ Reset Site Calibration."""
    calibration = SiteCalibrationActions(window)
    window.site_calibration = calibration  # kept alive with the window (its signals' receiver)
    return [
        ActionSpec(
            "ai.calibrate_site",
            "AI",
            "Calibrate for This &Site…",
            calibration.ask_and_calibrate,
            help="Fit the threshold on a folder of this site's labelled films",
            group="site",
        ),
        ActionSpec(
            "ai.reset_site",
            "AI",
            "&Reset Site Calibration",
            calibration.reset,
            help="Back to the shipped threshold",
            group="site",
        ),
    ]


class _Signals(QObject):
    done = Signal(object)  # SiteProfile
    failed = Signal(str)


class SiteCalibrationActions:
    def __init__(self, window):
        self.window = window
        self.signals = _Signals()
        self.signals.done.connect(self._on_done)
        self.signals.failed.connect(self._on_failed)

    def _bundle_dir(self):
        name = self.window.panel.model_box.currentData()
        return self.window.models_dir / name if name else None

    def ask_and_calibrate(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Folder with NORMAL/ and PNEUMONIA/ films of this site")
        if not folder:
            return
        target, ok = QInputDialog.getDouble(self.window, "Site calibration", "Target sensitivity", 0.97, 0.5, 0.999, 3)
        if ok:
            self.start(folder, target)

    def start(self, folder: str, target: float) -> None:
        bundle_dir = self._bundle_dir()
        if bundle_dir is None:
            self.window.report("Site calibration needs a model; none is loaded.")
            return
        self.window.statusBar().showMessage(f"Calibrating on {folder}…")

        def work():
            try:
                self.signals.done.emit(calibrate(load_bundle(bundle_dir), folder, target))
            except (CalibrationError, OSError) as exc:
                self.signals.failed.emit(f"Site calibration refused: {exc}")
            except Exception as exc:  # noqa: BLE001 - a failed fit must never take the app down
                self.signals.failed.emit(f"Site calibration failed: {type(exc).__name__}: {exc}")

        self.window.service.run_in_worker(work)

    def _on_done(self, profile) -> None:
        save_profile(profile)
        self.window.statusBar().showMessage(describe(profile), 15000)
        self.window.reload_model()

    def _on_failed(self, message: str) -> None:
        self.window.report(message)

    def reset(self) -> None:
        bundle_dir = self._bundle_dir()
        if bundle_dir is None:
            return
        if reset_profile(load_bundle(bundle_dir).card):
            self.window.statusBar().showMessage("Site calibration removed: the shipped threshold applies", 8000)
            self.window.reload_model()
        else:
            self.window.statusBar().showMessage("This model has no site calibration", 5000)
