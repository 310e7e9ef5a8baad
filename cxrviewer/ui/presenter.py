"""What the window says about the study on screen: overlay banner and alert, AI panel, title, and the names.

Names: a study is "study N" when anonymising, N being its place in the order opened, the same number on
screen, in the title, in PNG and in CSV exports; file and folder names are replaced in every message.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from cxrviewer.core.anonymise import HIDDEN, display_name
from cxrviewer.core.scoring_queue import CANCELLED, DONE, unscored
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS
from cxrviewer.core.verdict import Verdict

from .ai_panel import MUTED
from .worklist_rows import LATERAL_NOTE

if TYPE_CHECKING:
    from .main_window import MainWindow


class StudyPresenter:
    def __init__(self, window: MainWindow):
        self.w = window

    # -- names ------------------------------------------------------------------------------------
    def study_index(self, row_id: int | None) -> int | None:
        """The row's place in the order studies were opened ("study N" shows index + 1)."""
        return next((i for i, e in enumerate(self.w.worklist.model.entries) if e.row_id == row_id), None)

    def shown_name(self, row_id: int | None) -> str:
        """The row's file name, or "study N" when anonymising."""
        entry = self.w.worklist.model.entry(row_id) if row_id is not None else None
        return display_name(entry.result.path, self.w.anonymise, self.study_index(row_id)) if entry else ""

    def shown_image_name(self) -> str:
        """The name of the image on screen: the row's (a lateral of the study: its own file name, or
        "study N (lateral)" when anonymising)."""
        name = self.shown_name(self.w.session.row_id)
        if not self.lateral_on_screen():
            return name
        assert self.w.session.study is not None  # lateral_on_screen() says so
        return f"{name} (lateral)" if self.w.anonymise else Path(self.w.session.study.path).name

    def hide_names(self, text: str, path: Path | None) -> str:
        """``text`` with ``path`` (and its file or folder name) replaced when anonymising."""
        if not self.w.anonymise or path is None or not path.name:
            return text
        entry = self.w.worklist.model.find_path(path)
        shown = self.shown_name(entry.row_id) if entry is not None else HIDDEN
        for image in dict.fromkeys([path, *(entry.paths if entry is not None else [])]):  # and the study's other images
            text = text.replace(str(image), shown).replace(image.name, shown) if image.name else text
        return text

    # -- the image on screen ----------------------------------------------------------------------
    def lateral_on_screen(self) -> bool:
        """An image of the row's study other than the one its verdict comes from (a lateral) is on screen."""
        session = self.w.session
        entry = self.w.worklist.model.entry(session.row_id) if session.row_id is not None else None
        return entry is not None and session.study is not None and Path(session.study.path) != Path(entry.result.path)

    def result_on_screen(self) -> StudyResult | None:
        """The AI result of the image on screen: the row's once scored; for a lateral of the study, a result
        that says "not scored" (no verdict, no heat map: the study's verdict stays the frontal's)."""
        session = self.w.session
        entry = self.w.worklist.model.entry(session.row_id) if session.row_id is not None else None
        if entry is None:
            return None
        if self.lateral_on_screen():
            assert session.study is not None  # lateral_on_screen() says so
            return replace(unscored(entry.result, LATERAL_NOTE), path=Path(session.study.path), view="lateral")
        return entry.result if entry.state == DONE else None

    # -- what is drawn ----------------------------------------------------------------------------
    def overlay(self) -> None:
        w, session = self.w, self.w.session
        if session.study is None:
            w.view.set_overlay([], [])
            return
        banner = session.banner(w.anonymise, self.shown_image_name())
        info = session.info_lines(w.view.scale_factor())
        result, alert, colour = w.current_result(), "", ""
        if self.lateral_on_screen():
            alert, colour = LATERAL_NOTE[0].upper() + LATERAL_NOTE[1:], MUTED
            if w.panel.gradcam.isChecked():  # said after the Grad-CAM layer's own "withheld" (overlay comes last)
                w.panel.gradcam_status.setText("No heat map: a lateral is not scored.")
        elif result is not None:
            verdict = result.verdict
            alert, colour = "AI: " + verdict.wording, VERDICT_COLOURS[verdict]
            if verdict in (Verdict.WITHHELD, Verdict.UNREADABLE):
                alert = "⚠ " + alert + (f": {result.warnings[0]}" if result.warnings else f": {result.reason}")
                if len(result.warnings) > 1:
                    alert += f"  (+{len(result.warnings) - 1} more)"
                alert = self.hide_names(alert, result.path)
        elif w.models.state == "loading":
            alert = "AI: loading model…"
        w.view.set_overlay(banner, info, alert, colour)

    def panel(self) -> None:
        w = self.w
        row = w.session.row_id
        entry = w.worklist.model.entry(row) if row is not None else None
        if entry is None:
            w.panel.show_result(None)
        elif w.session.study is None and w.session.study_error:
            w.panel.show_result(StudyResult(path=entry.result.path, error=w.study_error, unreadable=True))
        elif self.lateral_on_screen():
            w.panel.show_pending("Lateral: not scored")  # why, on the image: its verdict is the frontal's
        elif w.models.state == "loading":
            w.panel.show_pending("Loading model…")
        elif entry.state == DONE:
            w.panel.show_result(entry.result)
        elif entry.state == CANCELLED:
            w.panel.show_pending("Scoring cancelled (AI ▸ Resume Scoring, Shift+Esc)")
        else:
            w.panel.show_pending("Scoring…")

    def title(self) -> None:
        w = self.w
        name = self.shown_name(w.session.row_id)  # an unreadable file's row too: the title says which
        w.setWindowTitle(f"cxrviewer — {name}" if name else "cxrviewer")
        w.worklist.set_shown_image(  # and the worklist frames the image on screen among its study's
            Path(w.session.study.path) if w.session.study is not None else None
        )
