"""The AI side panel: model choice, probability, label at the threshold, warnings, Grad-CAM controls."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QCheckBox, QComboBox, QFrame, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from cxrviewer.core.rendering import jet_lut
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS
from cxrviewer.core.verdict import Verdict

POSITIVE = "#ff7a6b"
NEGATIVE = "#7fd48a"
MUTED = "#9a9a9a"
WARN = "#ffc83c"
DEFAULT_OPACITY = 35  # percent: enough colour to read the map, enough film to read the anatomy


class ColourScale(QWidget):
    """Horizontal jet bar labelled low/high: the key to the Grad-CAM colours."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(16)
        self.setMaximumHeight(16)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        grad = QLinearGradient(0, 0, self.width(), 0)
        lut = jet_lut()
        for i in range(9):
            stop = i / 8
            r, g, b = lut[int(round(stop * 255))]
            grad.setColorAt(stop, QColor(int(r), int(g), int(b)))
        p.fillRect(self.rect(), grad)
        p.end()


class AIPanel(QWidget):
    model_chosen = Signal(str)  # bundle folder name
    gradcam_toggled = Signal(bool)
    opacity_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumWidth(270)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 10, 10, 10)
        lay.setSpacing(8)

        title = QLabel("<b>AI assessment</b>")
        lay.addWidget(title)
        self.model_box = QComboBox()
        self.model_box.setToolTip("Model bundles found in resources/models; switching re-scores open studies")
        self.model_box.activated.connect(lambda i: self.model_chosen.emit(self.model_box.itemData(i) or ""))
        lay.addWidget(self.model_box)
        self.model_status = QLabel("Loading model…")
        self.model_status.setWordWrap(True)
        self.model_status.setStyleSheet(f"color: {MUTED}")
        lay.addWidget(self.model_status)

        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        lay.addWidget(line)

        self.probability = QLabel("–")
        self.probability.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.probability.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.probability)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        lay.addWidget(self.label)
        self.threshold = QLabel("")
        self.threshold.setWordWrap(True)
        self.threshold.setStyleSheet(f"color: {MUTED}")
        lay.addWidget(self.threshold)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setTextFormat(Qt.TextFormat.RichText)
        self.warning.setStyleSheet(f"background: #3a2a00; color: {WARN}; padding: 6px; border-radius: 4px")
        self.warning.setVisible(False)
        lay.addWidget(self.warning)

        line2 = QFrame()
        line2.setFrameShape(QFrame.Shape.HLine)
        lay.addWidget(line2)

        self.gradcam = QCheckBox("Grad-CAM layer  (G)")
        self.gradcam.setToolTip("Where the network looked for its pneumonia score (not a lesion outline)")
        self.gradcam.toggled.connect(self.gradcam_toggled)
        lay.addWidget(self.gradcam)
        row = QHBoxLayout()
        row.addWidget(QLabel("Opacity"))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setToolTip("Opacity of the Grad-CAM layer ([ and ] keys)")
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        row.addWidget(self.opacity, 1)
        self.opacity_value = QLabel(f"{DEFAULT_OPACITY}%")
        self.opacity.valueChanged.connect(lambda v: self.opacity_value.setText(f"{v}%"))
        row.addWidget(self.opacity_value)
        lay.addLayout(row)
        scale_row = QHBoxLayout()
        scale_row.addWidget(QLabel("low"))
        scale_row.addWidget(ColourScale(), 1)
        scale_row.addWidget(QLabel("high"))
        lay.addLayout(scale_row)
        self.gradcam_status = QLabel("")
        self.gradcam_status.setWordWrap(True)
        self.gradcam_status.setStyleSheet(f"color: {MUTED}")
        lay.addWidget(self.gradcam_status)

        lay.addStretch(1)
        disclaimer = QLabel("Research software. Not a medical device; not for diagnosis.")
        disclaimer.setWordWrap(True)
        disclaimer.setStyleSheet(f"color: {MUTED}; font-size: 11px")
        lay.addWidget(disclaimer)

    # -- model list ------------------------------------------------------------------------------
    def set_models(self, names: list[str], current: str | None, labels: dict[str, str] | None = None) -> None:
        """Fill the model menu: readable labels shown, bundle names as item data and tooltips."""
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for name in names:
            self.model_box.addItem((labels or {}).get(name, name), name)
            self.model_box.setItemData(self.model_box.count() - 1, name, Qt.ItemDataRole.ToolTipRole)
        if not names:
            self.model_box.addItem("no model installed", "")
        idx = self.model_box.findData(current) if current else 0
        self.model_box.setCurrentIndex(max(idx, 0))
        self.model_box.setEnabled(bool(names))
        self.model_box.blockSignals(False)

    def set_model_status(self, text: str, error: bool = False) -> None:
        self.model_status.setText(text)
        self.model_status.setStyleSheet(f"color: {WARN if error else MUTED}")

    # -- result ----------------------------------------------------------------------------------
    def show_pending(self, text: str) -> None:
        self.probability.setText(f"<span style='font-size:15px; color:{MUTED}'>{html.escape(text)}</span>")
        self.label.setText("")
        self.threshold.setText("")
        self.warning.setVisible(False)
        self._relayout()

    def _relayout(self) -> None:
        """Re-fit the word-wrapped labels at once (not at the next layout pass) so nothing is clipped."""
        for label in (self.probability, self.label, self.threshold, self.warning):
            label.setVisible(bool(label.text()) and (label is not self.warning or self.warning.isVisibleTo(self)))
        layout = self.layout()
        if layout is not None:
            layout.activate()
        self.adjustSize()

    def show_result(self, result: StudyResult | None) -> None:
        self._show_result(result)
        self._relayout()

    def _show_result(self, result: StudyResult | None) -> None:
        if result is None:
            self.show_pending("No study")
            return
        verdict = result.verdict
        colour = VERDICT_COLOURS[verdict]
        headline = (
            f"<span style='font-size:17px; font-weight:bold; color:{colour}'>{html.escape(verdict.wording)}</span>"
        )
        self.warning.setVisible(verdict in (Verdict.WITHHELD, Verdict.UNREADABLE))
        if verdict in (Verdict.WITHHELD, Verdict.UNREADABLE):
            reasons = result.warnings or [result.reason]
            items = "".join(f"<br>• {html.escape(w)}" for w in reasons)
            title = "The score is withheld" if verdict is Verdict.WITHHELD else "The file could not be read"
            self.warning.setText(f"<b>⚠ {title}</b>{items}")
            self.probability.setText(headline)
            audit = (
                f"model output {result.probability:.2f} kept for audit only, not a finding"
                if result.probability is not None
                else ""
            )
            self.label.setText(f"<span style='color:{MUTED}'>{html.escape(audit)}</span>" if audit else "")
            self.threshold.setText(f"model {result.model}" if result.model else "")
            return
        p = result.probability
        self.probability.setText(
            f"{headline}<br><span style='font-size:13px'>P({html.escape(result.positive_class.lower())}) </span>"
            f"<span style='font-size:24px; font-weight:bold; color:{colour}'>{p:.2f}</span>"
        )
        note = result.reason if verdict is Verdict.INDETERMINATE else ""
        self.label.setText(f"<span style='color:{MUTED}'>{html.escape(note)}</span>" if note else "")
        source = "" if result.threshold_source in ("", "shipped") else f" ({result.threshold_source})"
        self.threshold.setText(f"threshold {result.threshold:.2f}{source}\nmodel {result.model}")
