"""What the window says about the study on screen: overlay banner and alert, AI panel, title, and the names.

Names: a study is "study N" when anonymising, N being its place in the order opened, the same number on
screen, in the title, in PNG and in CSV exports; file and folder names are replaced in every message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cxrviewer.core.anonymise import HIDDEN, display_name
from cxrviewer.core.scoring_queue import CANCELLED, DONE
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS
from cxrviewer.core.verdict import Verdict

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

    def hide_names(self, text: str, path: Path | None) -> str:
        """``text`` with ``path`` (and its file or folder name) replaced when anonymising."""
        if not self.w.anonymise or path is None or not path.name:
            return text
        entry = self.w.worklist.model.find_path(path)
        shown = self.shown_name(entry.row_id) if entry is not None else HIDDEN
        return text.replace(str(path), shown).replace(path.name, shown)

    # -- what is drawn ----------------------------------------------------------------------------
    def overlay(self) -> None:
        w, session = self.w, self.w.session
        if session.study is None:
            w.view.set_overlay([], [])
            return
        banner = session.banner(w.anonymise, self.shown_name(session.row_id))
        info = session.info_lines(w.view.scale_factor())
        result, alert, colour = w.current_result(), "", ""
        if result is not None:
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
