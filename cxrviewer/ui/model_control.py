"""Which model bundle is in use: start-up choice, switching, reloading, and the load's outcome.

While a newly chosen bundle loads nothing of the old model's stays on screen: the state goes to "loading",
the scoring queue re-queues every row (``ScoringController.restart``) and the window redraws its layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from cxrviewer.core.catalog import bundle_labels, bundle_names
from cxrviewer.core.model_card import ModelCard

if TYPE_CHECKING:
    from .main_window import MainWindow

LOADING, READY, NONE = "loading", "ready", "none"


class ModelControl(QObject):
    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.w = window
        self.state = LOADING
        self.name = ""  # the loaded bundle's model name ("" while loading or without a model)
        self.card: ModelCard | None = None
        window.service.signals.model_loaded.connect(self._on_loaded)
        window.service.signals.model_failed.connect(self._on_failed)

    def status(self) -> tuple[str, str]:
        return self.state, self.name

    def start(self, requested: str | None) -> None:
        """The bundle asked for (``--model``), else the last one used, else the first installed."""
        w = self.w
        names = bundle_names(w.models_dir)
        wanted = requested or w.settings.model
        name = wanted if wanted in names else (names[0] if names else None)
        if requested and requested not in names:
            w.report(f"Model {requested!r} not found in {w.models_dir}")
        w.panel.set_models(names, name, bundle_labels(w.models_dir, names))
        self._load(name)

    def _load(self, name: str | None) -> None:
        w = self.w
        self.state, self.name, self.card = (LOADING if name else NONE), "", None
        if name:
            w.panel.set_model_status(f"Loading {name}…")
            w.statusBar().showMessage(f"Loading model {name}…")
        else:
            w.panel.set_model_status(
                f"No model available (none in {w.models_dir}). Images can be viewed but are not scored.", error=True
            )
        w.service.load_model(Path(w.models_dir) / name if name else None)
        w.refresh_study_layers()

    def choose(self, name: str) -> None:
        """Switch bundles: the new one loads in the background and every open study is re-scored."""
        if not name or name == self.name and self.state == READY:
            return
        self.w.settings.model = name
        box = self.w.panel.model_box
        if box.currentData() != name and box.findData(name) >= 0:  # chosen by a call, not in the box
            box.setCurrentIndex(box.findData(name))
        self.reload(name)

    def reload(self, name: str | None = None) -> None:
        """Load a bundle (default: the one chosen, e.g. after a site calibration) and re-score every study."""
        self._load(name or self.w.panel.model_box.currentData())
        self.w.scoring.restart()
        self.w.refresh_study_layers()

    def _on_loaded(self, gen: int, name: str, card: ModelCard) -> None:
        w = self.w
        if gen != w.service.generation:
            return
        self.state, self.name, self.card = READY, name, card
        predictor = w.service.predictor
        op = predictor.operating_point if predictor is not None else None
        source = f", {op.source}" if op is not None and op.source != "shipped" else ""
        threshold = op.threshold if op is not None else card.threshold
        w.panel.set_model_status(f"Model ready: {name} (threshold {threshold:.2f}{source})")
        w.statusBar().showMessage(f"Model {name} loaded", 4000)
        w.refresh_study_layers()

    def _on_failed(self, gen: int, message: str) -> None:
        w = self.w
        if gen != w.service.generation:
            return
        self.state, self.name = NONE, ""
        if message:
            w.panel.set_model_status(f"Model could not be loaded: {message}", error=True)
            w.report(message)
        w.refresh_study_layers()
