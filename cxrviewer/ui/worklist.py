"""Folder triage worklist: a sortable table (most suspicious first), progress bar and Cancel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
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

from cxrviewer.core.anonymise import display_name, patient_label, study_date_label
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS

COLUMNS = ("File", "Patient", "Date", "Probability", "AI verdict", "Status")
_ROOT = QModelIndex()  # the invalid index Qt passes for a flat table; shared, never modified
COL_PROBABILITY = 3
COL_VERDICT = 4
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
QUEUED, DONE, CANCELLED = "queued", "done", "cancelled"


@dataclass
class Entry:
    row_id: int
    result: StudyResult
    state: str = QUEUED

    @property
    def status_text(self) -> str:
        if self.state == QUEUED:
            return "queued"
        if self.state == CANCELLED:
            return "cancelled"
        return self.result.status


class WorklistModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[Entry] = []
        self._index: dict[int, int] = {}
        self._next_id = 0
        self.anonymise = False

    # -- content ---------------------------------------------------------------------------------
    def add(self, path: Path, result: StudyResult | None = None, state: str = QUEUED) -> int:
        row = len(self.entries)
        self.beginInsertRows(QModelIndex(), row, row)
        entry = Entry(self._next_id, result or StudyResult(path=Path(path)), state)
        self.entries.append(entry)
        self._index[entry.row_id] = row
        self._next_id += 1
        self.endInsertRows()
        return entry.row_id

    def entry(self, row_id: int) -> Entry | None:
        row = self._index.get(row_id)
        return self.entries[row] if row is not None else None

    def find_path(self, path: Path) -> Entry | None:
        path = Path(path)
        return next((e for e in self.entries if e.result.path == path), None)

    def update(self, row_id: int, result: StudyResult | None = None, state: str | None = None) -> None:
        row = self._index.get(row_id)
        if row is None:
            return
        if result is not None:
            self.entries[row].result = result
        if state is not None:
            self.entries[row].state = state
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def set_anonymise(self, on: bool) -> None:
        self.anonymise = on
        if self.entries:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.entries) - 1, len(COLUMNS) - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self.entries.clear()
        self._index.clear()
        self.endResetModel()

    def results(self) -> list[StudyResult]:
        return [e.result for e in self.entries]

    # -- Qt model --------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        e = self.entries[index.row()]
        r, col = e.result, index.column()
        meta = {"patient_name": r.patient_name, "patient_id": r.patient_id, "study_date": r.study_date}
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return display_name(r.path, self.anonymise, index.row())
            if col == 1:
                return patient_label(meta, self.anonymise)
            if col == 2:
                return study_date_label(meta, self.anonymise)
            if col == 3:
                if r.probability is None or e.state != DONE:
                    return ""
                return f"{r.probability:.2f}" if r.verdict.scored else "—"  # withheld: no score on the list
            if col == 4:
                return r.verdict.short if e.state == DONE else ""
            return e.status_text
        if role == SORT_ROLE:
            if col in (COL_PROBABILITY, COL_VERDICT):  # calls by probability, then withheld, then unreadable
                if e.state != DONE:
                    return -10.0
                rank = r.verdict.sort_rank
                return -float(rank) if rank else float(r.probability or 0.0)
            return str(self.data(index, Qt.ItemDataRole.DisplayRole) or "").lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0 and not self.anonymise:
                return str(r.path)
            if col in (3, 4, 5):
                return e.status_text
        if role == Qt.ItemDataRole.ForegroundRole:
            if e.state != DONE:
                return QColor(150, 150, 150)
            if col in (3, 4, 5):
                return QColor(VERDICT_COLOURS[r.verdict])
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_PROBABILITY:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class WorklistWidget(QWidget):
    study_selected = Signal(int)  # row id
    cancel_requested = Signal()
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = WorklistModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setDynamicSortFilter(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate((220, 170, 90, 100, 110)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.sort_by_probability()  # most suspicious first, from the start

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFormat("%v / %m scored")
        self.cancel = QPushButton("Cancel")
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(self.cancel_requested)
        self.export = QPushButton("Export CSV…")
        self.export.clicked.connect(self.export_requested)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel)
        bar.addStretch(0)
        bar.addWidget(self.export)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.table, 1)
        lay.addLayout(bar)

    def _row_changed(self, current, _previous) -> None:
        if current.isValid():
            src = self.proxy.mapToSource(current)
            self.study_selected.emit(self.model.entries[src.row()].row_id)

    def sort_by_probability(self) -> None:
        self.table.sortByColumn(COL_PROBABILITY, Qt.SortOrder.DescendingOrder)

    def visible_row_ids(self) -> list[int]:
        """Row ids in the order the table shows them (after sorting)."""
        return [
            self.model.entries[self.proxy.mapToSource(self.proxy.index(r, 0)).row()].row_id
            for r in range(self.proxy.rowCount())
        ]

    def select_row_id(self, row_id: int) -> None:
        row = self.model._index.get(row_id)
        if row is None:
            return
        idx = self.proxy.mapFromSource(self.model.index(row, 0))
        if idx.isValid():
            self.table.selectRow(idx.row())
            self.table.scrollTo(idx)

    def set_progress(self, done: int, total: int, running: bool) -> None:
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(done)
        self.progress.setVisible(total > 0 and running)
        self.cancel.setVisible(running)
