"""The worklist's rows: one row per study (patient > study > its images), from core/study_index.py.

Which images make a row and which one is scored is ui/worklist_rows.py (PA + lateral one row, scored from
the frontal). Rows arriving later for a study already listed (files opened one by one) join it by the same
rule (:meth:`WorklistModel.add_rows`). Each row also carries read / unread, its folder, and "file missing"
once its file is gone (never a stale score).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from cxrviewer.core.anonymise import HIDDEN, display_name, patient_label, study_date_label
from cxrviewer.core.scoring_queue import unscored
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS

from .worklist_rows import JOIN, RETARGET, ImageRef, Row, index_rows, join_plan, split_skipped, study_key, study_rows

__all__ = ["ImageRef", "index_rows", "split_skipped", "study_rows"]
COLUMNS = ("", "File", "Folder", "Patient", "Date", "Images", "Probability", "AI verdict", "Status")
COL_READ, COL_FILE, COL_FOLDER, COL_PATIENT, COL_DATE, COL_IMAGES, COL_PROBABILITY, COL_VERDICT, COL_STATUS = range(9)
_ROOT = QModelIndex()  # the invalid index Qt passes for a flat table; shared, never modified
QUEUED, DONE, CANCELLED = "queued", "done", "cancelled"
MISSING = "file missing"
UNREAD_MARK = "●"
GREY = QColor(150, 150, 150)


@dataclass
class RowsAdded:
    """What :meth:`WorklistModel.add_rows` did: rows to score (new, and already listed: scored again if
    cancelled), rows whose scored image changed (to score anew), images that joined a row (to thumbnail)."""

    new: list[int] = field(default_factory=list)
    listed: list[int] = field(default_factory=list)
    retargeted: list[int] = field(default_factory=list)
    joined: list[Path] = field(default_factory=list)


@dataclass
class Entry:
    row_id: int
    result: StudyResult
    state: str = QUEUED
    images: list[ImageRef] = field(default_factory=list)
    read: bool = False
    missing: bool = False

    @property
    def status_text(self) -> str:
        if self.missing:
            return MISSING
        if self.state == QUEUED:
            return "queued"
        if self.state == CANCELLED:
            return "cancelled"
        return self.result.status

    @property
    def paths(self) -> list[Path]:
        return [i.path for i in self.images] or [self.result.path]

    @property
    def images_text(self) -> str:
        if len(self.images) <= 1:
            return self.images[0].label if self.images else ""
        names = " + ".join(i.label for i in self.images)
        unscored = sum(not i.scored for i in self.images)
        return f"{names} ({unscored} not scored)" if unscored else names


class WorklistModel(QAbstractTableModel):
    """``entries`` keep the order studies were opened ("study N"); the table shows them in ``_display`` order,
    which changes only when :meth:`sort` is asked (a header click, Re-sort), never when a result arrives.
    No proxy model: a proxy re-sorts and re-maps on every insert, which cost a 3,000-study folder seconds."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[Entry] = []
        self._index: dict[int, int] = {}  # row id -> position in entries
        self._display: list[int] = []  # table row -> position in entries
        self._shown: dict[int, int] = {}  # row id -> table row
        self._by_path: dict[Path, int] = {}  # any image path -> row id
        self._pending: dict[int, Entry] = {}  # rows of the batch add_rows is grouping, not inserted yet
        self._next_id = 0
        self.anonymise = False
        self.new_results = 0  # results since the rows were last sorted (the Re-sort button shows it)
        self._by_study: dict[tuple[str, str], int] = {}  # (patient, Study Instance UID) -> the study's first row
        self._bold = QFont()  # the unread rows' font, made once (the table asks for it for every cell painted)
        self._bold.setBold(True)

    # -- content ---------------------------------------------------------------------------------
    def add(self, path: Path, result: StudyResult | None = None, state: str = QUEUED) -> int:
        path = Path(path)
        return self.add_many([(path, [ImageRef(path)])], result=result, state=state)[0]

    def add_many(
        self, studies: list[tuple[Path, list[ImageRef]]], result: StudyResult | None = None, state: str = QUEUED
    ) -> list[int]:
        """Rows for (scored path, images) pairs, appended at the end of the table at once (not grouped with
        the studies listed: :meth:`add_rows` does that)."""
        entries = []
        for path, images in studies:
            entry = Entry(self._next_id, result or StudyResult(path=path), state, images)
            self._next_id += 1
            self._index_entry(entry, None)
            entries.append(entry)
        self._insert(entries)
        return [e.row_id for e in entries]

    def add_rows(self, rows: list[Row]) -> RowsAdded:
        """Rows from the study index (ui/worklist_rows.py), grouped with the studies already listed the way a
        folder groups them: a lateral of a listed study joins its row, not scored; a frontal of a study listed
        from its laterals only becomes the row's scored image; a further frontal is a row of its own. A path
        already listed finds its row again (nothing added)."""
        added = RowsAdded()
        pending: list[Entry] = []
        for path, images, result in rows:
            listed = self.find_path(path)
            if listed is not None:
                added.listed.append(listed.row_id)
                self._join(listed, [i for i in images if i.path not in self._by_path], added)
                continue
            key = study_key(result)
            first_row = self._by_study.get(key) if key is not None else None
            study = self.entry(first_row) if first_row is not None else None
            action, joining = join_plan(study.images, images) if study is not None else ("", [])
            if study is not None and action == JOIN:
                self._join(study, joining, added)
                continue
            if study is not None and action == RETARGET:
                self._retarget(study, images[0], result, added)
                self._join(study, joining, added)
                continue
            if study is not None:  # a further frontal: a row of its own; its laterals join the study's row
                self._join(study, joining, added)
                images = images[:1]
            entry = Entry(self._next_id, result, QUEUED, images)
            self._next_id += 1
            self._index_entry(entry, key)
            pending.append(entry)
        self._insert(pending)
        added.new = [e.row_id for e in pending]
        return added

    def _index_entry(self, entry: Entry, key: tuple[str, str] | None) -> None:
        """Make ``entry`` findable by its paths and its study before it is inserted (a later row of the same
        batch may join it)."""
        for image in entry.images or [ImageRef(entry.result.path)]:
            self._by_path.setdefault(image.path, entry.row_id)
        self._index[entry.row_id] = -1  # not inserted yet: entry() finds it through _pending
        self._pending[entry.row_id] = entry
        if key is not None:
            self._by_study.setdefault(key, entry.row_id)

    def _insert(self, entries: list[Entry]) -> None:
        if not entries:
            return
        first = len(self._display)
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        for entry in entries:
            position = len(self.entries)
            self._index[entry.row_id] = position
            self._shown[entry.row_id] = len(self._display)
            self._display.append(position)
            self.entries.append(entry)
            self._pending.pop(entry.row_id, None)
        self.endInsertRows()

    def _join(self, entry: Entry, images: list[ImageRef], added: RowsAdded) -> None:
        """``images`` listed with ``entry``'s study, not scored."""
        images = [i for i in images if i.path not in self._by_path]
        if not images:
            return
        entry.images = [*entry.images, *(replace(i, scored=False) for i in images)]
        for image in images:
            self._by_path[image.path] = entry.row_id
        added.joined += [i.path for i in images]
        self.changed(entry.row_id)

    def _retarget(self, entry: Entry, frontal: ImageRef, result: StudyResult, added: RowsAdded) -> None:
        """The study's verdict now comes from ``frontal``: the images listed so far stay, not scored."""
        entry.images = [replace(frontal, scored=True), *(replace(i, scored=False) for i in entry.images)]
        entry.result, entry.state, entry.missing = result, QUEUED, False
        self._by_path[frontal.path] = entry.row_id
        if entry.row_id not in self._pending:
            added.retargeted.append(entry.row_id)
        self.changed(entry.row_id)

    def entry(self, row_id: int) -> Entry | None:
        position = self._index.get(row_id)
        if position is None:
            return None
        return self.entries[position] if position >= 0 else self._pending.get(row_id)

    def entry_at_row(self, row: int) -> Entry | None:
        """The entry on table row ``row``."""
        return self.entries[self._display[row]] if 0 <= row < len(self._display) else None

    def find_path(self, path: Path) -> Entry | None:
        """The row showing ``path`` (its scored image or any other image of its study)."""
        row_id = self._by_path.get(path if isinstance(path, Path) else Path(path))
        return self.entry(row_id) if row_id is not None else None

    def row_of(self, row_id: int) -> int | None:
        """The table row showing ``row_id``."""
        return self._shown.get(row_id)

    def visible_row_ids(self) -> list[int]:
        return [self.entries[p].row_id for p in self._display]

    def update(self, row_id: int, result: StudyResult | None = None, state: str | None = None) -> None:
        entry = self.entry(row_id)
        if entry is None:
            return
        if result is not None and not entry.missing:  # a deleted file keeps "file missing"
            entry.result = result
            self.new_results += state == DONE
        if state is not None:
            entry.state = state
        self.changed(row_id)

    def changed(self, row_id: int) -> None:
        row = self._shown.get(row_id)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    # -- order ------------------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the table by ``column`` (stable: ties keep their order); the selection follows its rows."""
        if not 0 <= column < len(COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        moved = [(self._display[i.row()] if 0 <= i.row() < len(self._display) else None, i.column()) for i in before]
        reverse = order == Qt.SortOrder.DescendingOrder
        self._display.sort(key=lambda p: self._sort_key(self.entries[p], column, p), reverse=reverse)
        self._shown = {self.entries[p].row_id: row for row, p in enumerate(self._display)}
        rows = {p: row for row, p in enumerate(self._display)}
        after = [self.index(rows[p], c) if p is not None else QModelIndex() for p, c in moved]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()
        self.new_results = 0

    def _sort_key(self, e: Entry, col: int, position: int):
        if col in (COL_PROBABILITY, COL_VERDICT):  # calls by probability, then withheld, then unreadable
            if e.state != DONE or e.missing:
                return -10.0
            rank = e.result.verdict.sort_rank
            return -float(rank) if rank else float(e.result.probability or 0.0)
        if col == COL_READ:
            return int(e.read)
        return str(self._display_text(e, col, position) or "").lower()

    def set_read(self, row_id: int, read: bool = True) -> None:
        entry = self.entry(row_id)
        if entry is not None and entry.read != read:
            entry.read = read
            self.changed(row_id)

    def mark_missing(self) -> list[int]:
        """Rows whose scored file is gone: shown and exported as "file missing", never with their old score."""
        gone = []
        for entry in self.entries:
            if not entry.missing and not Path(entry.result.path).exists():
                entry.missing = True
                entry.result = replace(
                    unscored(entry.result, ""), warnings=[], error=f"{MISSING} (deleted or moved)", unreadable=True
                )
                gone.append(entry.row_id)
                self.changed(entry.row_id)
        return gone

    def set_anonymise(self, on: bool) -> None:
        self.anonymise = on
        if self._display:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._display) - 1, len(COLUMNS) - 1))

    def clear(self) -> None:
        self.beginResetModel()
        self.entries.clear()
        self._index.clear()
        self._display.clear()
        self._shown.clear()
        self._by_path.clear()
        self._by_study.clear()
        self._pending.clear()
        self.new_results = 0
        self.endResetModel()

    def results(self) -> list[StudyResult]:
        return [e.result for e in self.entries]

    # -- Qt model --------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self._display)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole and section == 0:
            return "● unread"
        return None

    def _display_text(self, e: Entry, col: int, position: int):
        r = e.result
        meta = {"patient_name": r.patient_name, "patient_id": r.patient_id, "study_date": r.study_date}
        scored = e.state == DONE and not e.missing
        if col == COL_READ:
            return "" if e.read else UNREAD_MARK
        if col == COL_FILE:
            return display_name(r.path, self.anonymise, position)
        if col == COL_FOLDER:
            return HIDDEN if self.anonymise else Path(r.path).parent.name
        if col == COL_PATIENT:
            return patient_label(meta, self.anonymise)
        if col == COL_DATE:
            return study_date_label(meta, self.anonymise)
        if col == COL_IMAGES:
            return e.images_text
        if col == COL_PROBABILITY:
            if r.probability is None or not scored:
                return ""
            return f"{r.probability:.2f}" if r.verdict.scored else "—"  # withheld: no score on the list
        if col == COL_VERDICT:
            return r.verdict.short if scored else ""
        return self._status(e, position)

    def _status(self, e: Entry, position: int) -> str:
        """The status text; anonymised, a file name in its reason reads "study N", as in the File column."""
        text, name = e.status_text, Path(e.result.path).name
        return text.replace(name, display_name(e.result.path, True, position)) if self.anonymise and name else text

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        position = self._display[index.row()]
        e = self.entries[position]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display_text(e, col, position)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == COL_FILE and not self.anonymise:
                return "\n".join(str(p) for p in e.paths)
            if col == COL_IMAGES and len(e.images) > 1:
                return "The verdict comes from the frontal image; laterals are shown, not scored (click one to see it)."
            if col in (COL_PROBABILITY, COL_VERDICT, COL_STATUS):
                return self._status(e, position)
        if role == Qt.ItemDataRole.FontRole and not e.read:
            return self._bold
        if role == Qt.ItemDataRole.ForegroundRole:
            if e.state != DONE or e.missing:
                return GREY
            if col in (COL_PROBABILITY, COL_VERDICT, COL_STATUS):
                return QColor(VERDICT_COLOURS[e.result.verdict])
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_PROBABILITY:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
