"""Window/level, invert, orientation, full screen and hidden panels: the session changes, the view redraws."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .main_window import MainWindow


class DisplayControls:
    def __init__(self, window: MainWindow):
        self.w = window
        self.session = window.session
        window.view.window_drag.connect(self.drag_window)

    def redraw(self, refit: bool = False) -> None:
        gray = self.session.display_gray()
        if gray is not None:
            self.w.view.set_image(gray, refit=refit)
        self.w.refresh_overlay()

    # -- window / level ---------------------------------------------------------------------------
    def drag_window(self, dx: float, dy: float) -> None:
        self.session.drag_window(dx, dy)
        self.redraw()

    def set_window(self, centre: float, width: float) -> None:
        self.session.set_window(centre, width)
        self.redraw()

    def reset_window(self) -> None:
        self.session.reset_window()
        self.redraw()

    def auto_window(self) -> None:
        self.session.auto_window()
        self.redraw()

    def set_inverted(self, on: bool) -> None:
        if self.session.inverted != bool(on):
            self.session.toggle_invert()
        self.w.action_table.set_checked("view.invert", self.session.inverted)
        self.redraw()

    # -- orientation ------------------------------------------------------------------------------
    def rotate(self, degrees: int) -> None:
        self.session.rotate(degrees)
        self._reorient()

    def flip(self, horizontal: bool) -> None:
        self.session.flip(horizontal)
        self._reorient()

    def reset_orientation(self) -> None:
        self.session.reset_orientation()
        self._reorient()

    def _reorient(self) -> None:
        self.redraw(refit=True)
        self.w.gradcam.refresh()

    # -- screen -----------------------------------------------------------------------------------
    def set_full_screen(self, on: bool) -> None:
        """F11: the window fills the screen without its menu bar (the keys keep working)."""
        w = self.w
        w.menuBar().setVisible(not on)
        if on:
            w.showFullScreen()
        else:
            w.showNormal()
        w.action_table.set_checked("view.full_screen", on)

    def set_panels_hidden(self, hidden: bool) -> None:
        """Tab: the AI panel, the worklist and the status bar go, so the film takes the window."""
        w = self.w
        for dock in w.docks:
            dock.setVisible(not hidden)
        w.statusBar().setVisible(not hidden)
        w.action_table.set_checked("view.hide_panels", hidden)

    def panels_hidden(self) -> bool:
        return self.w.action_table.action("view.hide_panels").isChecked()
