"""Opening files and folders: worklist rows, the folder's skipped-files note, File ▸ Open Recent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMenu

from cxrviewer.core.anonymise import HIDDEN
from cxrviewer.core.batch import scan_folder

if TYPE_CHECKING:
    from .main_window import MainWindow

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.dcm *.dicom);;All files (*)"


class Opener:
    def __init__(self, window: MainWindow):
        self.w = window
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
        """Open files and folders: each image becomes a worklist row scored in the background; the first
        one opened (for a folder: the one on top of the list) is shown."""
        w, first = self.w, None
        for path in map(Path, paths):
            if path.is_dir():
                row = self.open_folder(path)
            elif path.exists():
                row = self.add_rows([path])[0]
                w.settings.last_folder = str(path.parent)
                w.settings.add_recent(str(path))
            else:
                w.report(f"{w.hide_names(str(path), path)}: no such file or folder")
                row = None
            first = first if first is not None else row
        self.rebuild_recent()
        if first is not None:
            w.show_row(first)

    def open_folder(self, folder: Path) -> int | None:
        """Rows for the folder's images; returns the one on top of the list (the first one to read)."""
        w = self.w
        scan = scan_folder(folder)
        w.settings.last_folder = str(folder)
        w.settings.add_recent(str(folder))
        self.skipped = list(scan.skipped)
        self.show_skipped()
        rows = set(self.add_rows(scan.candidates))
        shown = w.hide_names(str(folder), folder)
        if not scan.candidates:
            w.report(f"{shown}: no PNG, JPEG or DICOM files found")
        w.statusBar().showMessage(f"{len(scan.candidates)} image file(s) found in {shown}", 5000)
        return next((r for r in w.worklist.visible_row_ids() if r in rows), None)

    def add_rows(self, paths: list[Path]) -> list[int]:
        """A row per path (existing rows reused; cancelled ones are scored again)."""
        model = self.w.worklist.model
        rows = []
        for path in paths:
            existing = model.find_path(path)
            rows.append(existing.row_id if existing is not None else model.add(path))
        self.w.scoring.add(list(zip(rows, paths)))
        return rows

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
