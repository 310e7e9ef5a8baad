"""PNG export of the view and CSV export of the worklist (with their file dialogs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from cxrviewer.core.errors import StudyError
from cxrviewer.core.rendering import CONTOUR_KEY, composite, draw_heat_contours, export_image
from cxrviewer.core.report import ai_summary_lines, write_worklist_csv

from .heat_layer import CONTOURS

if TYPE_CHECKING:
    from .main_window import MainWindow


class Exports:
    def __init__(self, window: MainWindow):
        self.w = window

    def png(self, path: str | Path) -> Path:
        """Write the current view (oriented image, window, Grad-CAM layer if shown) with its banner."""
        w, session = self.w, self.w.session
        if session.study is None:
            raise StudyError("no study to export")
        heat = w.gradcam.current_heat() if w.view.heat_visible() else None
        gray = session.display_gray()
        assert gray is not None  # there is a study
        oriented = session.oriented_heat(w.model_name) if heat is not None else None
        contours = oriented is not None and w.view.heat_style() == CONTOURS  # as on screen: lines, not a wash
        if contours:
            assert oriented is not None
            rgb = draw_heat_contours(composite(gray, None, 0.0), oriented)
        else:
            rgb = composite(gray, oriented, w.panel.opacity.value() / 100.0)
        key = ""  # what the map means, in the text strip (the colour scale alone does not say)
        if oriented is not None:
            key = f"{w.view.heat_meaning}; {CONTOUR_KEY}" if contours else w.view.heat_meaning
        image = export_image(
            rgb,
            session.banner(w.anonymise, w.presenter.shown_image_name()),
            oriented is not None and not contours,
            ai_summary_lines(w.current_result()),
            heat_key=key,
        )
        path = Path(path)
        image.save(path, format="PNG")
        return path

    def csv(self, path: str | Path) -> Path:
        """The worklist in the order shown; "study N" as on screen; rows not scored carry no score."""
        w = self.w
        w.worklist.model.mark_missing()  # a file deleted since it was scored is not exported as scored
        results, numbers = [], []
        for row_id in w.worklist.visible_row_ids():
            entry = w.worklist.model.entry(row_id)
            if entry is not None:
                results.append(w.scoring.exported(row_id, entry.result))
                numbers.append(w.presenter.study_index(row_id))
        return write_worklist_csv(results, path, w.anonymise, numbers)

    def ask_png(self) -> None:
        if self.w.session.study is None:
            self.w.report("Open a study first")
            return
        self._ask("Export view as PNG", "view.png", "PNG image (*.png)", self.png)

    def ask_csv(self) -> None:
        self._ask("Export worklist as CSV", "worklist.csv", "CSV (*.csv)", self.csv)

    def _ask(self, title: str, default_name: str, pattern: str, write) -> None:
        default = str(Path(self.w.settings.last_folder or ".") / default_name)
        path, _ = QFileDialog.getSaveFileName(self.w, title, default, pattern)
        if not path:
            return
        try:
            write(path)
            self.w.statusBar().showMessage(f"Saved {Path(path).name}", 5000)
        except OSError as exc:
            self.w.report(f"Could not save {Path(path).name}: {exc.strerror or exc}")
