"""Opening files and folders: worklist rows, the folder's skipped-files note, File ▸ Open Recent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMenu

from cxrviewer.core.anonymise import HIDDEN
from cxrviewer.core.sniff import is_dicomdir

if TYPE_CHECKING:
    from .main_window import MainWindow

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.dcm *.dicom);;All files (*)"


class Opener:
    def __init__(self, window: MainWindow):
        self.w = window
        window.worklist.image_chosen.connect(self.show_image)
        self.recent_menu = QMenu("Open &Recent", window)  # the action table's File ▸ Open Recent replaces it
        self.skipped: list[tuple[Path, str]] = []  # what the last folder opened held besides images

    def ask_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self.w, "Open studies", self.w.settings.last_folder, OPEN_FILTER)
        if paths:
            self.open_paths([Path(p) for p in paths])

    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, "Open folder", self.w.settings.last_folder)
        if folder:
            self.open_paths([Path(folder)])

    def open_paths(self, paths: list[Path]) -> None:
        """Open files and folders, each indexed off the UI thread (ui/decoding.py): every image becomes a
        worklist row scored in the background, grouped into studies whether it came in a folder or on its own
        (a second file of a study listed joins its row). Shown first: the first file chosen, or the top of a
        folder's list."""
        w, files = self.w, []
        for path in map(Path, paths):
            if path.is_dir() or is_dicomdir(path):  # a DICOMDIR dropped or chosen: its media folder
                self.open_folder(path if path.is_dir() else path.parent)
            elif path.exists():
                files.append(path)
                w.settings.last_folder = str(path.parent)
                w.settings.add_recent(str(path))
            else:
                w.report(f"{w.hide_names(str(path), path)}: no such file or folder")
        if files:
            w.decoding.open_files(files)
        self.rebuild_recent()

    def open_folder(self, folder: Path) -> None:
        """Scan and index the folder off the UI thread (through its DICOMDIR if it has one): its rows appear,
        and the one on top of the list is shown, when that is done."""
        w = self.w
        w.settings.last_folder = str(folder)
        w.settings.add_recent(str(folder))
        w.decoding.open_folder(folder)

    def show_image(self, row_id: int, path: Path) -> None:
        """One of a study row's images (a thumbnail clicked, Worklist ▸ Next Image of Study): on screen with
        its own window/level, tags and orientation; a lateral says "not scored", the row keeps its verdict."""
        session = self.w.session
        if session.row_id == row_id and session.study is not None and Path(session.study.path) == Path(path):
            return  # already on screen: a second click keeps the reader's window/level
        self.w.show_row(row_id, Path(path))

    def show_skipped(self) -> None:
        """The note of files the last folder skipped: cleared when it had none; no names when anonymised."""
        summary, n = self.w.worklist.summary, len(self.skipped)
        if not n:
            summary.setText("")
            summary.setToolTip("")
        elif self.w.anonymise:
            summary.setText(f"Skipped {n} non-image file(s)")
            summary.setToolTip("")
        else:
            names = ", ".join(p.name for p, _ in self.skipped[:5]) + (" …" if n > 5 else "")
            summary.setText(f"Skipped {n} non-image file(s): {names}")
            summary.setToolTip("\n".join(f"{p}: {why}" for p, why in self.skipped))

    def rebuild_recent(self) -> None:
        """File ▸ Open Recent; anonymised, the entries are numbered instead of named (they still open)."""
        recent = self.w.settings.recent
        self.recent_menu.clear()
        for i, item in enumerate(recent):
            act = self.recent_menu.addAction(f"recent {i + 1} {HIDDEN}" if self.w.anonymise else item)
            act.triggered.connect(lambda _=False, p=item: self.open_paths([Path(p)]))
        self.recent_menu.setEnabled(bool(recent))
