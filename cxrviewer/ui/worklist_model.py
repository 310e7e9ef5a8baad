"""The worklist's rows: one row per study (patient > study > its images), from core/study_index.py.

A PNG or JPEG is a study of its own. A DICOM study with a frontal film and laterals (PA + lateral) is one row
with one verdict: the frontal image is the one scored, laterals are listed (and get a thumbnail) but not
scored; a further frontal film of the study (a repeat) is a row of its own (:func:`study_rows`). Each
row also carries read / unread, its folder, and "file missing" once its file is gone (never a stale score).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from cxrviewer.core.anonymise import HIDDEN, display_name, patient_label, study_date_label
from cxrviewer.core.scoring_queue import unscored
from cxrviewer.core.sniff import is_dicomdir, looks_like_study
from cxrviewer.core.study_index import StudyGroup, StudyIndex
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS

COLUMNS = ("", "File", "Folder", "Patient", "Date", "Images", "Probability", "AI verdict", "Status")
COL_READ, COL_FILE, COL_FOLDER, COL_PATIENT, COL_DATE, COL_IMAGES, COL_PROBABILITY, COL_VERDICT, COL_STATUS = range(9)
_ROOT = QModelIndex()  # the invalid index Qt passes for a flat table; shared, never modified
QUEUED, DONE, CANCELLED = "queued", "done", "cancelled"
MISSING = "file missing"
UNREAD_MARK = "●"


@dataclass
class ImageRef:
    """One image of a study row."""

    path: Path
    view: str = ""  # "PA", "LL", "frontal", ... ("" when the file does not say)
    projection: str = ""  # "frontal", "lateral" or ""
    scored: bool = True  # the study's verdict comes from this image

    @property
    def label(self) -> str:
        return self.view or self.path.suffix.lstrip(".").upper() or "image"


def study_rows(study: StudyGroup) -> list[tuple[Path, list[ImageRef]]]:
    """The worklist rows of one study: (the path scored, the row's images).

    A study's verdict comes from its frontal film; its laterals are listed with it (thumbnailed, not scored):
    PA + lateral is one row. Each further frontal (or view unknown) image of the study, e.g. a repeat
    exposure or a damaged copy, is a film to score of its own: a row of its own. A study of laterals only is
    one row scored from its first image (the input checks then withhold it, saying why)."""
    instances = study.instances
    films = [i for i in instances if i.projection != "lateral"] or instances[:1]
    laterals = [i for i in instances if i not in films]
    rows = []
    for k, film in enumerate(films):
        images = [ImageRef(film.path, film.view, film.projection, True)]
        if k == 0:
            images += [ImageRef(i.path, i.view, i.projection, False) for i in laterals]
        rows.append((film.path, images))
    return rows


def split_skipped(index: StudyIndex) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files that look like images but whose header could not be read: rows that scoring reports as
    unreadable, with the loader's reason), (the rest: not images, a DICOMDIR, files it lists that are gone,
    copies of an image listed once)."""
    rows, rest = [], []
    for path, why in index.skipped:
        if path.is_file() and not is_dicomdir(path) and looks_like_study(path):
            rows.append(path)
        else:
            rest.append((path, why))
    for instance in index.instances:  # copies of an image already listed (same SOP Instance UID): shown once
        for dup in instance.duplicates:
            rest.append((dup, f"{dup.name}: the same image as {instance.path.name}, shown once"))
    return rows, rest


def index_rows(index: StudyIndex) -> list[tuple[Path, list[ImageRef], StudyResult]]:
    """The worklist rows of the index (see :func:`study_rows`): (path scored, images, the row's first result)."""
    rows = []
    for patient in index:
        for study in patient.studies:
            for path, images in study_rows(study):
                result = StudyResult(
                    path=path,
                    patient_name=patient.patient_name,
                    patient_id=patient.patient_id,
                    study_date=study.study_date,
                    study_instance_uid=study.study_instance_uid,
                )
                rows.append((path, images, result))
    unreadable, _ = split_skipped(index)
    rows += [(p, [ImageRef(p)], StudyResult(path=p)) for p in unreadable]
    return rows


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
        self._next_id = 0
        self.anonymise = False
        self.new_results = 0  # results since the rows were last sorted (the Re-sort button shows it)

    # -- content ---------------------------------------------------------------------------------
    def add(self, path: Path, result: StudyResult | None = None, state: str = QUEUED) -> int:
        path = Path(path)
        return self.add_many([(path, [ImageRef(path)])], result=result, state=state)[0]

    def add_many(
        self, studies: list[tuple[Path, list[ImageRef]]], result: StudyResult | None = None, state: str = QUEUED
    ) -> list[int]:
        """Rows for (scored path, images) pairs, appended at the end of the table at once."""
        if not studies:
            return []
        first = len(self._display)
        self.beginInsertRows(QModelIndex(), first, first + len(studies) - 1)
        ids = []
        for path, images in studies:
            entry = Entry(self._next_id, result or StudyResult(path=path), state, images)
            position = len(self.entries)
            self._index[entry.row_id] = position
            self._shown[entry.row_id] = len(self._display)
            self._display.append(position)
            self.entries.append(entry)
            for image in images or [ImageRef(path)]:
                self._by_path.setdefault(image.path, entry.row_id)
            ids.append(entry.row_id)
            self._next_id += 1
        self.endInsertRows()
        return ids

    def entry(self, row_id: int) -> Entry | None:
        position = self._index.get(row_id)
        return self.entries[position] if position is not None else None

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
                return "The verdict comes from the frontal image; laterals are shown, not scored."
            if col in (COL_PROBABILITY, COL_VERDICT, COL_STATUS):
                return self._status(e, position)
        if role == Qt.ItemDataRole.FontRole and not e.read:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if e.state != DONE or e.missing:
                return QColor(150, 150, 150)
            if col in (COL_PROBABILITY, COL_VERDICT, COL_STATUS):
                return QColor(VERDICT_COLOURS[e.result.verdict])
        if role == Qt.ItemDataRole.TextAlignmentRole and col == COL_PROBABILITY:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
