"""Worklist ▸ entries of the action table: next unread, mark unread, next image of the study, re-sort, close."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .actions import ActionSpec

if TYPE_CHECKING:
    from .main_window import MainWindow


def action_specs(w: MainWindow) -> list[ActionSpec]:
    return [
        ActionSpec("worklist.next_unread", "Worklist", "Next &Unread", lambda: next_unread(w), ("U",), group="read"),
        ActionSpec(
            "worklist.mark_unread",
            "Worklist",
            "&Mark as Unread",
            lambda: mark_unread(w),
            ("Shift+U",),
            help="Mark the study on screen as unread",
            group="read",
        ),
        ActionSpec(
            "worklist.next_image",
            "Worklist",
            "Next &Image of Study",
            lambda: next_image(w),
            ("L",),
            help="Show the study's next image (a lateral: shown, not scored; the verdict stays the frontal's)",
            group="read",
        ),
        ActionSpec(
            "worklist.resort",
            "Worklist",
            "&Re-sort",
            w.worklist.resort,
            ("S",),
            help="Order the worklist again (new results do not move rows while you read)",
            group="order",
        ),
        ActionSpec(
            "worklist.close",
            "Worklist",
            "&Close Worklist",
            lambda: close_worklist(w),
            ("Ctrl+Shift+W",),
            help="Close every study of the worklist",
            group="close",
        ),
    ]


def next_unread(w: MainWindow) -> int | None:
    """Show the next unread study after the one on screen, in the order shown; None when all are read."""
    row = w.worklist.next_unread_row_id(w.current_row)
    if row is None:
        w.statusBar().showMessage("Every study of the worklist has been read", 4000)
        return None
    w.show_row(row)
    return row


def next_image(w: MainWindow) -> Path | None:
    """The next image of the study on screen (after the last, its first again); None when it has only one."""
    entry = w.worklist.model.entry(w.current_row) if w.current_row is not None else None
    if entry is None or len(entry.images) < 2:
        w.statusBar().showMessage("This study has one image", 3000)
        return None
    paths = entry.paths
    here = Path(w.study.path) if w.study is not None else Path(entry.result.path)
    following = paths[(paths.index(here) + 1) % len(paths)] if here in paths else paths[0]
    w.opener.show_image(entry.row_id, following)
    return following


def mark_unread(w: MainWindow) -> None:
    if w.current_row is not None:
        w.worklist.model.set_read(w.current_row, False)


def close_worklist(w: MainWindow) -> int:
    """Every row closed: its scoring forgotten, the screen emptied. Returns how many rows were closed."""
    ids = [e.row_id for e in w.worklist.model.entries]
    w.scoring.cancel()
    w.scoring.forget(ids)
    w.worklist.clear()
    w.opener.skipped = []
    w.opener.show_skipped()
    w.session.close()
    w.view.set_image(None)
    w.view.placeholder = ""
    w.refresh_study_layers()
    w.statusBar().showMessage(f"Worklist closed ({len(ids)} studies)", 4000)
    return len(ids)
