"""Comparison: a second viewport beside the main one, showing another study of the same patient (a prior).

The prior has its own Qt-free :class:`~cxrviewer.core.viewer_session.ViewerSession` (window, invert,
orientation, right-drag rule), so it behaves like the main view. Linked, zoom and pan follow the main view
as fractions of each film (the two films differ in size), and the window follows as fractions of each
film's value range (plain films carry no common units); unlinked, each viewport is on its own.

API for the main window: ``ComparisonPane(window, view, session)`` then ``open(path, banner_lines)``, ``close()``,
``set_linked(on)``, ``follow_main()`` after the main view's window changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QWidget

from cxrviewer.core.display_tags import read_display_tags
from cxrviewer.core.orientation_markers import orientation_markers
from cxrviewer.core.pixel_spacing import calibration, for_decoded_grid, pixel_value
from cxrviewer.core.viewer_session import ViewerSession
from cxrviewer.core.window_presets import window_from_fractions, window_to_fractions

from .image_view import ImageView

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow

PRIOR_ROW = -1  # the prior is no worklist row


class PriorViewport(ImageView):
    """An image view that shows one study through its own session."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session = ViewerSession()
        self.caption: list[str] = []  # the banner: "PRIOR" and the study's lines
        self.placeholder = "No prior study"
        self.window_drag.connect(self._drag)
        self.zoom_changed.connect(lambda _z: self.refresh_overlay())

    def show_study(self, path: Path, caption: list[str]) -> str:
        """Show ``path``; returns the error in words ("" when shown)."""
        self.caption = caption
        if not self.session.open(PRIOR_ROW, Path(path)):
            self.set_image(None)
            self.placeholder = f"Cannot show the prior:\n{self.session.study_error}"
            return self.session.study_error
        study = self.session.study
        assert study is not None  # open() said so
        tags = read_display_tags(study)
        self.set_calibration(for_decoded_grid(calibration(tags), study.file_shape, study.shape))
        self.value_probe = lambda r, c: (lambda v: v.text() if v else "")(pixel_value(study, tags, r, c))
        self.redraw(refit=True)
        return ""

    def redraw(self, refit: bool = False) -> None:
        study = self.session.study
        self.set_image(self.session.display_gray(), refit=refit)
        if study is not None:
            self.set_geometry(study.shape, self.session.orientation)
            self.set_markers(orientation_markers(study.metadata, self.session.orientation))
        self.refresh_overlay()

    def refresh_overlay(self) -> None:
        if self.session.study is None:
            self.set_overlay([], [])
            return
        self.set_overlay(self.caption, self.session.info_lines(self.scale_factor()))

    def _drag(self, dx: float, dy: float) -> None:
        self.session.drag_window(dx, dy)
        self.redraw()


class ComparisonPane:
    """Puts a :class:`PriorViewport` beside the main window's view (in a splitter) and links the two."""

    def __init__(self, window: QMainWindow, main_view: ImageView, main_session: ViewerSession):
        self.window, self.main, self.main_session = window, main_view, main_session
        self.prior = PriorViewport()
        self.splitter: QSplitter | None = None
        self.linked = False
        self._following = False
        main_view.view_changed.connect(self._main_moved)
        self.prior.view_changed.connect(self._prior_moved)

    def is_open(self) -> bool:
        return self.splitter is not None and not self.prior.isHidden()  # isVisible() lags until shown

    def open(self, path: Path, caption: list[str]) -> str:
        """Show ``path`` beside the main view; returns the error in words ("" when shown)."""
        if self.splitter is None:
            central: QWidget | None = self.window.takeCentralWidget()
            self.splitter = QSplitter(Qt.Orientation.Horizontal)
            self.splitter.setObjectName("comparison")
            self.splitter.setHandleWidth(4)
            self.splitter.addWidget(central if central is not None else self.main)
            self.splitter.addWidget(self.prior)
            self.window.setCentralWidget(self.splitter)
            self.splitter.show()
        self.prior.show()
        half = max(self.splitter.width() // 2, 1)
        self.splitter.setSizes([half, half])
        error = self.prior.show_study(path, caption)
        if not error:
            self.follow_main()
        return error

    def close(self) -> None:
        self.prior.hide()
        self.prior.session.close()
        self.prior.set_image(None)
        self.main.fit_to_window()

    def set_linked(self, on: bool) -> None:
        self.linked = bool(on)
        self.follow_main()

    def follow_main(self) -> None:
        """Linked: the prior takes the main view's zoom, pan, window (as fractions) and invert."""
        if not self.linked or not self.is_open() or self.prior.session.study is None:
            return
        main_study, prior = self.main_session.study, self.prior.session
        if main_study is None or prior.study is None:
            return
        if self.main_session.window_level is None:
            prior.reset_window()
        else:
            fractions = window_to_fractions(main_study, self.main_session.window_level)
            prior.set_window(*window_from_fractions(prior.study, *fractions))
        if prior.inverted != self.main_session.inverted:
            prior.toggle_invert()
        self.prior.redraw()
        self._main_moved()

    def _main_moved(self) -> None:
        if self.linked and self.is_open() and not self._following:
            self._following = True
            try:
                self.prior.set_view_state(self.main.view_state())
            finally:
                self._following = False

    def _prior_moved(self) -> None:
        if self.linked and self.is_open() and not self._following:
            self._following = True
            try:
                self.main.set_view_state(self.prior.view_state())
            finally:
                self._following = False
