"""The Grad-CAM layer's rules: when a map is asked for, when one may be drawn, what the panel says about it.

Display policy (issue 14): no map on a withheld or unreadable study, ever; none on a negative verdict unless
"show heat map on negative studies" is on. Maps are cached per (study, model) in the viewer session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject

from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import Verdict
from cxrviewer.core.viewer_session import HeatKey, ViewerSession

from .ai_panel import AIPanel
from .image_view import ImageView
from .workers import ModelService


class GradcamController(QObject):
    def __init__(
        self,
        session: ViewerSession,
        service: ModelService,
        view: ImageView,
        panel: AIPanel,
        model_state: Callable[[], tuple[str, str]],  # (state, model name): "loading" / "ready" / "none"
        current_result: Callable[[], StudyResult | None],
        parent: QObject,
    ):
        super().__init__(parent)
        self.session, self.service, self.view, self.panel = session, service, view, panel
        self._model_state, self._current_result = model_state, current_result
        self.show_on_negative = False
        service.signals.gradcam_ready.connect(self._on_ready)
        service.signals.gradcam_failed.connect(self._on_failed)

    @property
    def wanted(self) -> bool:
        return self.panel.gradcam.isChecked()

    def withheld_reason(self) -> str:
        """Why no map may be drawn for the study on screen ("" when it may)."""
        result = self._current_result()
        if result is None:
            return ""
        if result.verdict in (Verdict.WITHHELD, Verdict.UNREADABLE):
            return "No heat map: the score is withheld for this study."
        if result.verdict is Verdict.NEGATIVE and not self.show_on_negative:
            return "No heat map on a negative study (AI ▸ Heat Map on Negative Studies shows it)."
        return ""

    def current_heat(self) -> np.ndarray | None:
        """The map for the study on screen; None when there is none or the policy keeps it off the film."""
        state, model = self._model_state()
        if state != "ready" or self.withheld_reason():
            return None
        return self.session.current_heat(model)

    def request(self) -> None:
        """Ask for the map of the study on screen if the layer is on (and say why not, when not)."""
        if self.session.study is None or not self.wanted:
            return
        state, model = self._model_state()
        if state == "none":  # said first: without a model every study's score is "withheld" too
            self.view.clear_heat()
            self.panel.gradcam_status.setText("Grad-CAM needs a model; none is loaded.")
            return
        withheld = self.withheld_reason()
        if withheld:
            self.view.clear_heat()
            self.panel.gradcam_status.setText(withheld)
            return
        if state != "ready":
            self.panel.gradcam_status.setText("Grad-CAM will be computed once the model has loaded.")
            return
        key = self.session.heat_key(model)
        assert key is not None  # a study and a model
        if self.session.heat.get(key) is not None:
            self.panel.gradcam_status.setText(self._empty_note(self.session.heat.get(key)))
            self.refresh()
            return
        if self.session.heat.should_request(key):
            self.service.gradcam(self.session.study)
        self.panel.gradcam_status.setText("Computing Grad-CAM…")

    def refresh(self) -> None:
        """Draw (or take off) the map of the study on screen, oriented like the image."""
        heat = self.current_heat()
        if heat is None:
            self.view.clear_heat()
            if self.wanted and self.withheld_reason():
                self.panel.gradcam_status.setText(self.withheld_reason())
            return
        _state, model = self._model_state()
        oriented = self.session.oriented_heat(model)
        assert oriented is not None  # current_heat() is not None
        self.view.set_heat_map(oriented)  # the view draws it as a wash or as contour lines
        self.view.set_heat_visible(self.wanted)

    def set_visible(self, on: bool) -> None:
        if on:
            self.request()
        self.view.set_heat_visible(on)
        if not on:
            self.panel.gradcam_status.setText("")

    @staticmethod
    def _empty_note(heat: np.ndarray | None) -> str:
        if heat is not None and not np.any(heat > 0):
            return "Grad-CAM is empty for this study: no region raised the pneumonia score."
        return ""

    def _on_ready(self, path: str, model: str, heat: np.ndarray) -> None:
        self.session.heat.store(HeatKey(path, model), heat)
        study = self.session.study
        if study is not None and str(study.path) == path and model == self._model_state()[1]:
            self.panel.gradcam_status.setText(self._empty_note(heat))
            self.refresh()

    def _on_failed(self, path: str, message: str) -> None:
        self.session.heat.failed(path)
        if self.session.study is not None and str(self.session.study.path) == path:
            self.panel.gradcam_status.setText(message)
