"""The worklist: one row per study (patient, study, its images as thumbnails), progress bar, Cancel, Re-sort.

The order is stable while scoring: a new result never moves a row (so N / PgDn walk the list as it is seen);
Re-sort (or a click on a column header) orders it again, most suspicious first by default. Rows are read
once shown; "next unread" finds the next one in the order shown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .thumbnails import ROW_HEIGHT, ImagesDelegate, ThumbnailStore
from .worklist_model import (
    CANCELLED,
    COL_IMAGES,
    COL_PROBABILITY,
    COL_VERDICT,
    COLUMNS,
    DONE,
    MISSING,
    QUEUED,
    Entry,
    ImageRef,
    WorklistModel,
    study_rows,
)

__all__ = [
    "CANCELLED",
    "COL_PROBABILITY",
    "COL_VERDICT",
    "COLUMNS",
    "DONE",
    "MISSING",
    "QUEUED",
    "Entry",
    "ImageRef",
    "WorklistModel",
    "WorklistWidget",
    "study_rows",
]
COLUMN_WIDTHS = (22, 200, 110, 150, 85, 130, 80, 100)
PROGRESS_REDRAW_MS = 100  # the bar and the status line redrawn at most this often while scoring runs


class WorklistWidget(QWidget):
    study_selected = Signal(int)  # row id
    image_chosen = Signal(int, object)  # row id, the path of one of its images (a thumbnail clicked)
    cancel_requested = Signal()
    export_requested = Signal()
    clear_requested = Signal()
    progress_shown = Signal()  # the bar was just redrawn: the status line follows it (one count for both)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = WorklistModel(self)
        self.thumbnails = ThumbnailStore()
        self.table = QTableView()
        self.table.setModel(self.model)  # its order changes only on request (WorklistModel.sort)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.images = ImagesDelegate(
            self.thumbnails, self.entry_at, lambda e, i: self.image_chosen.emit(e.row_id, i.path), self.table
        )
        self.table.setItemDelegateForColumn(COL_IMAGES, self.images)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicatorShown(True)
        header.sectionClicked.connect(self._header_clicked)
        for col, width in enumerate(COLUMN_WIDTHS):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self._sort = (COL_PROBABILITY, Qt.SortOrder.DescendingOrder)
        self.model.dataChanged.connect(self._note_result)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        # a percentage: QProgressBar repaints at once whenever its text changes, so a count would repaint (and
        # hold the UI thread) on every result of a 3,000-study folder; the status line carries the count
        self.progress.setFormat("%p %")
        self._progress = (0, 0, False)  # (done, total, running) last asked for
        self._progress_running = False  # as last drawn
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_REDRAW_MS)
        self._progress_timer.timeout.connect(self._draw_progress)
        self.cancel = QPushButton("Cancel")
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(self.cancel_requested)
        self.resort_button = QPushButton("Re-sort")
        self.resort_button.setToolTip("Order the list again (new results do not move rows while you read)")
        self.resort_button.clicked.connect(self.resort)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Close every study of the worklist")
        self.clear_button.clicked.connect(self.clear_requested)
        self.export = QPushButton("Export CSV…")
        self.export.clicked.connect(self.export_requested)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel)
        bar.addStretch(0)
        for button in (self.resort_button, self.clear_button, self.export):
            bar.addWidget(button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.table, 1)
        lay.addLayout(bar)
        self.sort_by_probability()

    # -- order ------------------------------------------------------------------------------------
    def _header_clicked(self, column: int) -> None:
        order = self.table.horizontalHeader().sortIndicatorOrder()
        self._sort = (column, order)
        self.resort()

    def sort_by_probability(self) -> None:
        """Most suspicious first (calls by probability, then withheld, then unreadable), now."""
        self._sort = (COL_PROBABILITY, Qt.SortOrder.DescendingOrder)
        self.resort()

    def resort(self) -> None:
        """Order the rows again by the chosen column; the row selected stays selected."""
        column, order = self._sort
        self.model.sort(column, order)
        self.table.horizontalHeader().setSortIndicator(column, order)
        self.model.new_results = 0
        self.resort_button.setText("Re-sort")
        current = self.current_row_id()
        if current is not None:
            self.table.scrollTo(self._table_index(current))

    def _note_result(self, *_args) -> None:
        if self.model.new_results:
            self.resort_button.setText(f"Re-sort ({self.model.new_results} new)")

    def visible_row_ids(self) -> list[int]:
        """Row ids in the order the table shows them."""
        return self.model.visible_row_ids()

    def top_row_id(self) -> int | None:
        """The row on top of the list as shown (what to show first after a folder opens)."""
        entry = self.model.entry_at_row(0)
        return entry.row_id if entry is not None else None

    def next_unread_row_id(self, after: int | None) -> int | None:
        """The next unread row after ``after`` in the order shown (wrapping round); None when all are read."""
        order = self.visible_row_ids()
        start = order.index(after) + 1 if after in order else 0
        for row_id in order[start:] + order[:start]:
            entry = self.model.entry(row_id)
            if entry is not None and not entry.read and row_id != after:
                return row_id
        return None

    # -- selection --------------------------------------------------------------------------------
    def entry_at(self, index) -> Entry | None:
        return self.model.entry_at_row(index.row()) if index.isValid() else None

    def _table_index(self, row_id: int):
        row = self.model.row_of(row_id)
        return self.model.index(row, 0) if row is not None else self.model.index(-1, -1)

    def current_row_id(self) -> int | None:
        entry = self.entry_at(self.table.currentIndex())
        return entry.row_id if entry is not None else None

    def _row_changed(self, current, _previous) -> None:
        entry = self.entry_at(current) if current.isValid() else None
        if entry is not None:
            self.study_selected.emit(entry.row_id)

    def select_row_id(self, row_id: int) -> None:
        idx = self._table_index(row_id)
        if idx.isValid():
            self.table.selectRow(idx.row())
            self.table.scrollTo(idx)

    def set_shown_image(self, path: Path | None) -> None:
        """Frame the image on the main view among its row's thumbnails."""
        if path != self.images.shown:
            self.images.shown = path
            self.table.viewport().update()

    # -- content ----------------------------------------------------------------------------------
    def set_thumbnail(self, path: Path, pixels: np.ndarray) -> None:
        if self.thumbnails.put(path, pixels):
            entry = self.model.find_path(path)
            if entry is not None:
                row = self.model.row_of(entry.row_id)
                if row is not None:
                    index = self.model.index(row, COL_IMAGES)
                    self.model.dataChanged.emit(index, index)

    def clear(self) -> None:
        """Close every row (the caller forgets their scoring first)."""
        self.model.clear()
        self.thumbnails.clear()
        self.summary.setText("")
        self.summary.setToolTip("")
        self.resort_button.setText("Re-sort")
        self.set_progress(0, 0, False)

    def set_progress(self, done: int, total: int, running: bool) -> None:
        """Drawn now when scoring starts or stops, else at most every PROGRESS_REDRAW_MS with the latest count:
        opening a 3,000-study folder asks for it per row queued and per result, and each redraw of the bar,
        the Cancel button and the status line is a repaint of the UI thread."""
        self._progress = (done, total, running)
        if running != self._progress_running or not running:
            self._progress_timer.stop()
            self._draw_progress()
        elif not self._progress_timer.isActive():
            self._draw_progress()
            self._progress_timer.start()  # what is asked for meanwhile is drawn when it fires

    def _draw_progress(self) -> None:
        done, total, running = self._progress
        self._progress_running = running
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setVisible(total > 0 and running)
        self.cancel.setVisible(running)
        self.progress_shown.emit()
