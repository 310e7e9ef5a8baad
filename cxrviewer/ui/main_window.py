"""The main window: wiring between the viewer session, the scoring queue, the action table and the widgets.

State and rules live elsewhere: what is on screen in ``core.viewer_session`` (Qt-free); the staleness
protocol in ``core.scoring_queue`` (driven by ``ui.scoring``); the model in use in ``ui.model_control``;
Grad-CAM policy in ``ui.gradcam``; window/level, orientation and screen in ``ui.display_controls``; text
and names in ``ui.presenter``; opening in ``ui.opening``; menus and keys in the action table
(``ui.actions``, entries in ``ui.main_actions``); exports in ``ui.exports``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QMessageBox, QScrollArea

from cxrviewer.core.batch import StudyResult
from cxrviewer.core.bundle import default_models_dir, read_card
from cxrviewer.core.errors import BundleError
from cxrviewer.core.viewer_session import ViewerSession

from . import decoding, main_actions, reading_room_actions, site_calibration_actions
from .actions import ActionTable
from .ai_panel import AIPanel
from .dialogs import ModelCardDialog, ShortcutsDialog, show_message
from .display_controls import DisplayControls
from .exports import Exports
from .gradcam import GradcamController
from .image_view import ImageView
from .model_control import ModelControl
from .opening import Opener
from .presenter import StudyPresenter
from .scoring import ScoringController
from .settings import AppSettings
from .tag_browser import TagBrowser
from .theme import apply_dark_theme
from .workers import ModelService
from .worklist import WorklistWidget


class MainWindow(QMainWindow):
    reading_room: reading_room_actions.ReadingRoomTools  # set by reading_room_actions.action_specs

    def __init__(
        self, models_dir: str | Path | None = None, model: str | None = None, settings: QSettings | None = None
    ):
        super().__init__()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_dark_theme(app)
        self.models_dir = Path(models_dir) if models_dir else default_models_dir()
        self.requested_model = model
        self.settings = AppSettings(settings)
        self.setWindowTitle("cxrviewer")
        self.setAcceptDrops(True)
        self.anonymise = self.settings.anonymise
        self.errors: list[str] = []
        self.tag_browser: TagBrowser | None = None
        self._message_box: QMessageBox | None = None
        self._dialogs: list = []
        self._selecting = False

        self.session = ViewerSession()
        self.service = ModelService(self)
        self.view = ImageView()
        self.setCentralWidget(self.view)
        self.panel = AIPanel()
        self.worklist = WorklistWidget()
        scroll = QScrollArea()  # gives the word-wrapped labels their height (docks do not)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.panel)
        scroll.setMinimumWidth(self.panel.minimumWidth() + 12)
        self.docks = [
            self._dock(scroll, "AI", Qt.DockWidgetArea.RightDockWidgetArea),
            self._dock(self.worklist, "Worklist", Qt.DockWidgetArea.BottomDockWidgetArea),
        ]
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)
        self.presenter = StudyPresenter(self)
        self.scoring = ScoringController(self.service, self.worklist, self.status_label, self.session.studies.get, self)
        self.models = ModelControl(self)
        self.gradcam = GradcamController(
            self.session, self.service, self.view, self.panel, self.models.status, self.current_result, self
        )
        self.display = DisplayControls(self)
        self.exports = Exports(self)
        self.opener = Opener(self)

        self.action_table = ActionTable(self)
        self.action_table.add(main_actions.action_specs(self))
        self.action_table.add(site_calibration_actions.action_specs(self))
        self.action_table.add(reading_room_actions.action_specs(self))  # Tools menu, contours (docs/reading_room.md)
        self.decoding = decoding.install(self)  # + Worklist menu; contribute menus likewise (see ui/actions.py)
        self.action_table.add(main_actions.help_specs(self))
        self.recent_menu = self.opener.recent_menu = self.action_table.submenus["file.recent"]
        self.anonymise_action = self.action_table.action("file.anonymise")
        self.gradcam_action = self.action_table.action("ai.gradcam")
        self._connect()
        self._restore_settings()

    def _dock(self, widget, title, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        self.scoring.row_finished.connect(self._on_row_finished)
        self.scoring.cancelled.connect(
            lambda n: self.statusBar().showMessage(f"Scoring cancelled ({n} studies not scored)", 5000)
        )
        self.panel.model_chosen.connect(self.choose_model)
        self.panel.gradcam_toggled.connect(self.set_gradcam_visible)
        self.panel.opacity_changed.connect(self._on_opacity)
        self.worklist.study_selected.connect(lambda row: None if self._selecting else self.show_row(row))
        self.worklist.cancel_requested.connect(self.scoring.request_cancel)
        self.worklist.export_requested.connect(self.exports.ask_csv)
        self.view.zoom_changed.connect(lambda _z: self.refresh_overlay())

    def _restore_settings(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*(self.settings.window_size or (1400, 900)))
        if self.settings.dock_state is not None:
            self.restoreState(self.settings.dock_state)
        self.panel.opacity.setValue(self.settings.opacity)
        self.view.set_heat_opacity(self.settings.opacity / 100.0)
        self.gradcam.show_on_negative = self.settings.heat_on_negative
        self.action_table.set_checked("ai.heat_on_negative", self.gradcam.show_on_negative)
        self.set_anonymise(self.anonymise)

    # == public API (the self-test, the tests and the action table use these) ======================
    def start(self, paths: list[Path] | None = None) -> None:
        """Call after show(): queues the model load in the background, then opens ``paths``."""
        self.models.start(self.requested_model)
        if paths:
            self.open_paths(paths)

    @property
    def model_state(self) -> str:
        return self.models.state

    @property
    def model_name(self) -> str:
        return self.models.name

    @property
    def model_card(self):
        return self.models.card

    def choose_model(self, name: str) -> None:
        self.models.choose(name)

    def reload_model(self) -> None:
        self.models.reload()

    def open_paths(self, paths: list[Path]) -> None:
        self.opener.open_paths(paths)

    @property
    def skipped(self) -> list[tuple[Path, str]]:
        return self.opener.skipped

    def resume_scoring(self) -> None:
        n = self.scoring.resume()
        self.statusBar().showMessage(f"Scoring resumed ({n} studies)" if n else "Nothing to resume", 5000)
        self.refresh_panel()

    def is_busy(self) -> bool:
        return self.scoring.is_busy() or self.decoding.is_busy()

    @property
    def study(self):
        return self.session.study

    @property
    def study_error(self) -> str:
        """Why the study on screen cannot be shown (file names hidden when anonymising)."""
        entry = self.worklist.model.entry(self.current_row) if self.current_row is not None else None
        return self.presenter.hide_names(self.session.study_error, entry.result.path if entry else None)

    @property
    def current_row(self) -> int | None:
        return self.session.row_id

    @property
    def window_level(self) -> tuple[float, float] | None:
        return self.session.window_level

    @property
    def orientation(self):
        return self.session.orientation

    def hide_names(self, text: str, path: Path | None) -> str:
        return self.presenter.hide_names(text, path)

    # == the study on screen ======================================================================
    def show_row(self, row: int, image: Path | None = None) -> None:  # image: another of the row's (a lateral)
        entry = self.worklist.model.entry(row)
        if entry is None or self.decoding.defer_show(row, image):  # decoded off the UI thread, then shown
            return
        path = image or entry.result.path
        self.session.open(row, path)
        self.action_table.set_checked("view.invert", False)
        self._selecting = True
        self.worklist.select_row_id(row)
        self._selecting = False
        if self.session.study is None:
            self.view.set_image(None)
            self.view.placeholder = f"Cannot show this file:\n{self.study_error}"
            self.statusBar().showMessage(self.study_error, 8000)
        else:
            self.view.placeholder = ""
            self.display.redraw(refit=True)
            self.scoring.score_now(row, entry.result.path)  # cancelled: scored again; waiting: scored first
        self.refresh_study_layers()
        if self.tag_browser is not None and self.tag_browser.isVisible():
            self.tag_browser.show_study(path, self.anonymise)

    def current_result(self) -> StudyResult | None:  # a lateral on screen: "not scored", not the study's verdict
        return self.presenter.result_on_screen()

    def current_heat(self):
        """The heat map drawn for the study on screen (None: none yet, or the display policy withholds it)."""
        return self.gradcam.current_heat()

    def step_study(self, step: int) -> None:
        if order := self.worklist.visible_row_ids():
            here = self.current_row if self.decoding.wanted_row is None else self.decoding.wanted_row  # N held down
            i = order.index(here) if here in order else -1
            self.show_row(order[max(0, min(len(order) - 1, i + step))])

    def _on_row_finished(self, row: int) -> None:
        if row == self.current_row:
            self.refresh_study_layers()  # a withheld verdict takes a map already drawn off the film

    def refresh_study_layers(self) -> None:
        """Panel, heat layer, overlay and title after the study, its result or the model changed."""
        self.presenter.panel()
        self.gradcam.refresh()
        self.gradcam.request()
        self.reading_room.sync_heat_meaning()
        self.presenter.overlay()
        self.presenter.title()

    def refresh_overlay(self) -> None:
        self.presenter.overlay()

    def refresh_panel(self) -> None:
        self.presenter.panel()

    # == Grad-CAM =================================================================================
    def set_gradcam_visible(self, on: bool) -> None:
        self.action_table.set_checked("ai.gradcam", on)
        if self.panel.gradcam.isChecked() != on:
            self.panel.gradcam.setChecked(on)  # comes back here through the panel's signal
            return
        self.gradcam.set_visible(on)
        self.refresh_overlay()

    def set_heat_on_negative(self, on: bool) -> None:
        self.gradcam.show_on_negative = self.settings.heat_on_negative = bool(on)
        self.action_table.set_checked("ai.heat_on_negative", on)
        self.refresh_study_layers()

    def _on_opacity(self, opacity: float) -> None:
        self.view.set_heat_opacity(opacity)
        self.settings.opacity = int(round(opacity * 100))

    def nudge_opacity(self, step: int) -> None:
        self.panel.opacity.setValue(max(0, min(100, self.panel.opacity.value() + step)))

    # == anonymise, exports, dialogs ==============================================================
    def set_anonymise(self, on: bool) -> None:
        self.anonymise = self.settings.anonymise = bool(on)
        self.action_table.set_checked("file.anonymise", self.anonymise)
        self.worklist.model.set_anonymise(self.anonymise)
        self.opener.show_skipped()
        self.opener.rebuild_recent()
        self.refresh_study_layers()
        if self.session.study is None and self.session.study_error:
            self.view.placeholder = f"Cannot show this file:\n{self.study_error}"
        if self.tag_browser is not None and self.tag_browser.isVisible():
            self.tag_browser.show_study(self.session.study.path if self.session.study else None, self.anonymise)

    def export_png(self, path: str | Path) -> Path:
        return self.exports.png(path)

    def export_csv(self, path: str | Path) -> Path:
        return self.exports.csv(path)

    def show_tags(self) -> None:
        if self.tag_browser is None:
            self.tag_browser = TagBrowser(self)
        self.tag_browser.show_study(self.session.study.path if self.session.study else None, self.anonymise)
        self.tag_browser.show()
        self.tag_browser.raise_()

    def show_model_card(self) -> ModelCardDialog:
        card, name = self.model_card, self.panel.model_box.currentData()
        if card is None and name:
            try:
                card = read_card(self.models_dir / name)
            except BundleError:
                card = None
        return self._keep(ModelCardDialog(card, self))

    def show_shortcuts(self) -> ShortcutsDialog:
        return self._keep(ShortcutsDialog(self.action_table.shortcut_help(main_actions.MOUSE_HELP), self))

    def _keep(self, dialog):
        self._dialogs = [d for d in self._dialogs if d.isVisible()] + [dialog]
        dialog.show()
        return dialog

    def report(self, message: str) -> None:
        """A problem with one file or action: logged, shown without blocking, and the app goes on."""
        self.errors.append(message)
        self.statusBar().showMessage(message, 8000)
        if self.isVisible():
            if self._message_box is not None:
                self._message_box.close()
            self._message_box = show_message(self, "cxrviewer", message)

    # == drag and drop, close =====================================================================
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    def closeEvent(self, event) -> None:  # noqa: N802
        if self.display.panels_hidden():
            self.display.set_panels_hidden(False)  # the saved layout is the one with panels
        self.settings.dock_state = self.saveState()
        self.settings.geometry = self.saveGeometry()
        self.settings.window_size = (self.width(), self.height())
        self.settings.opacity = self.panel.opacity.value()
        self.settings.sync()
        self.service.shutdown()
        super().closeEvent(event)
