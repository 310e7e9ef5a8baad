"""DICOM tag browser for the study on screen (values of patient tags hidden when anonymising)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from cxrviewer.core.dicom_tags import TagNode, read_tags
from cxrviewer.core.errors import StudyError
from cxrviewer.core.study import is_dicom_file


class TagBrowser(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("DICOM tags")
        self.resize(760, 640)
        self.note = QLabel("")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter by tag, keyword or value…")
        self.filter.textChanged.connect(self._apply_filter)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Keyword", "VR", "Value"])
        self.tree.setColumnWidth(0, 110)
        self.tree.setColumnWidth(1, 220)
        self.tree.setColumnWidth(2, 40)
        lay = QVBoxLayout(self)
        lay.addWidget(self.note)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree, 1)

    def show_study(self, path: Path | None, anonymise: bool) -> None:
        self.tree.clear()
        if path is None:
            self.note.setText("No study is open.")
            return
        name = "(hidden)" if anonymise else Path(path).name
        if not is_dicom_file(Path(path)):  # by content: a JPEG named .dcm has no tags
            self.note.setText(f"{name} is not a DICOM file: it has no tags.")
            return
        try:
            nodes = read_tags(path, anonymise)
        except StudyError as exc:
            self.note.setText(str(exc))
            return
        self.note.setText(f"{name}" + ("   — patient data hidden (anonymise is on)" if anonymise else ""))
        for node in nodes:
            self.tree.addTopLevelItem(self._item(node))
        self._apply_filter(self.filter.text())

    def _item(self, node: TagNode) -> QTreeWidgetItem:
        item = QTreeWidgetItem([node.tag, node.keyword, node.vr, node.value])
        item.setToolTip(3, node.value)
        for child in node.children:
            item.addChild(self._item(child))
        return item

    def all_values(self) -> list[str]:
        out = []

        def walk(item):
            out.append(item.text(3))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.tree.topLevelItemCount()):
            walk(self.tree.topLevelItem(i))
        return out

    def _apply_filter(self, text: str) -> None:
        text = text.lower().strip()

        def visit(item) -> bool:
            match = not text or any(text in item.text(c).lower() for c in range(4))
            child_match = False
            for i in range(item.childCount()):
                child_match |= visit(item.child(i))
            item.setHidden(not (match or child_match))
            return match or child_match

        for i in range(self.tree.topLevelItemCount()):
            visit(self.tree.topLevelItem(i))
