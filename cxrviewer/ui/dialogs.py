"""Help dialogs (About / model card, keyboard shortcuts) and non-blocking messages."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from cxrviewer.core.report import model_card_html


class ModelCardDialog(QDialog):
    def __init__(self, card, parent=None):  # ModelCard or None
        super().__init__(parent)
        self.setWindowTitle("About cxrviewer / model card")
        self.resize(720, 640)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(model_card_html(card))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser, 1)
        lay.addWidget(buttons)


class ShortcutsDialog(QDialog):
    def __init__(self, shortcuts: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts and mouse")
        self.resize(520, 560)
        table = QTableWidget(len(shortcuts), 2)
        table.setHorizontalHeaderLabels(["Key / mouse", "Action"])
        table.verticalHeader().setVisible(False)
        for row, (keys, what) in enumerate(shortcuts):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(what))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(table, 1)
        lay.addWidget(buttons)


def show_message(parent: QWidget, title: str, text: str, details: list[str] | None = None) -> QMessageBox:
    """A non-modal warning (the app goes on; tests are never blocked by it)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, html.escape(text), QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText("\n".join(details))
    box.setModal(False)
    box.show()
    return box
