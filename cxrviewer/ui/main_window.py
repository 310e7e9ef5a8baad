"""The main window: wires the image view, the AI panel, the worklist and the model worker together."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QScrollArea

from cxrviewer.core.anonymise import banner_lines, display_name
from cxrviewer.core.batch import StudyResult, scan_folder
from cxrviewer.core.bundle import default_models_dir, read_card
from cxrviewer.core.catalog import bundle_labels, bundle_names
from cxrviewer.core.errors import BundleError, StudyError
from cxrviewer.core.model_card import ModelCard
from cxrviewer.core.rendering import Orientation, composite, display_pixels, export_image, heat_rgba, orient, to_uint8
from cxrviewer.core.report import ai_summary_lines, write_worklist_csv
from cxrviewer.core.study import Study, load_study
from cxrviewer.core.verdict import COLOURS as VERDICT_COLOURS
from cxrviewer.core.verdict import Verdict
from cxrviewer.core.windowing import auto_window

from .ai_panel import AIPanel
from .dialogs import ModelCardDialog, ShortcutsDialog, show_message
from .image_view import ImageView
from .settings import AppSettings
from .site_calibration_actions import SiteCalibrationActions
from .tag_browser import TagBrowser
from .theme import apply_dark_theme
from .workers import ModelService
from .worklist import CANCELLED, DONE, QUEUED, WorklistWidget

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.dcm *.dicom);;All files (*)"
STUDY_CACHE = 4
MOUSE_HELP = [
    ("Mouse wheel", "Zoom around the pointer"),
    ("Left drag", "Pan"),
    ("Right drag", "Window/level: left-right = width, up-down = level"),
    ("Drag and drop", "Open files or folders"),
]


class MainWindow(QMainWindow):
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
        self._dock(scroll, "AI", Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock(self.worklist, "Worklist", Qt.DockWidgetArea.BottomDockWidgetArea)
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)

        # state
        self.model_name = ""
        self.model_card: ModelCard | None = None
        self.model_state = "loading"
        self.current_row: int | None = None
        self.study: Study | None = None
        self.study_error = ""
        self.orientation = Orientation()
        self.window_level: tuple[float, float] | None = None
        self.inverted = False
        self.anonymise = self.settings.anonymise
        self._studies: OrderedDict[Path, Study] = OrderedDict()
        self._heat: dict[tuple[str, str], np.ndarray] = {}
        self._gradcam_pending: set[tuple[str, str]] = set()
        self.pending: set[int] = set()
        self._tickets: dict[int, int] = {}  # row id -> ticket of its latest scoring request
        self.batch_total = 0
        self.errors: list[str] = []
        self.skipped: list[tuple[Path, str]] = []
        self._message_box: QMessageBox | None = None
        self._tag_browser: TagBrowser | None = None
        self._dialogs: list = []
        self._selecting = False

        self._connect()
        self._build_actions()
        self._restore_settings()

    # == construction ==============================================================================
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
        s = self.service.signals
        s.model_loaded.connect(self._on_model_loaded)
        s.model_failed.connect(self._on_model_failed)
        s.result_ready.connect(self._on_result)
        s.cancelled.connect(self._on_cancelled)
        s.gradcam_ready.connect(self._on_gradcam)
        s.gradcam_failed.connect(self._on_gradcam_failed)
        self.panel.model_chosen.connect(self.choose_model)
        self.panel.gradcam_toggled.connect(self.set_gradcam_visible)
        self.panel.opacity_changed.connect(self._on_opacity)
        self.worklist.study_selected.connect(self._on_row_selected)
        self.worklist.cancel_requested.connect(self.cancel_batch)
        self.worklist.export_requested.connect(self._ask_export_csv)
        self.view.window_drag.connect(self._on_window_drag)
        self.view.zoom_changed.connect(lambda _z: self._refresh_overlay())

    def _action(self, menu, text, slot, keys=(), checkable=False, help_text=None) -> QAction:
        act = QAction(text, self)
        if keys:
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        if keys:
            names = ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys)
            self._shortcut_help.append((names, help_text or text.replace("&", "").replace("…", "")))
        return act

    def _build_actions(self) -> None:
        self._shortcut_help: list[tuple[str, str]] = []
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "&Open…", self._ask_open_files, [QKeySequence.StandardKey.Open], help_text="Open files")
        self._action(f, "Open &Folder…", self._ask_open_folder, ["Ctrl+Shift+O"], help_text="Open a folder (triage)")
        self.recent_menu = f.addMenu("Open &Recent")
        f.addSeparator()
        self._action(
            f,
            "Export View as &PNG…",
            self._ask_export_png,
            ["Ctrl+E"],
            help_text="Export the current view (image + Grad-CAM) to PNG",
        )
        self._action(f, "Export Worklist as &CSV…", self._ask_export_csv, ["Ctrl+Shift+E"])
        f.addSeparator()
        self.anonymise_action = self._action(
            f,
            "&Anonymise",
            self.set_anonymise,
            ["Ctrl+Shift+A"],
            checkable=True,
            help_text="Anonymise: hide patient data on screen and in exports",
        )
        f.addSeparator()
        self._action(f, "&Quit", self.close, [QKeySequence.StandardKey.Quit])

        v = mb.addMenu("&View")
        self._action(v, "Zoom &In", lambda: self.view.zoom(1.25), ["+", "="])
        self._action(v, "Zoom &Out", lambda: self.view.zoom(0.8), ["-"])
        self._action(v, "&Fit to Window", self.view.fit_to_window, ["F"])
        self._action(v, "Actual &Size (100%)", self.view.actual_size, ["1"])
        v.addSeparator()
        self._action(v, "Reset &Window (file's own)", self.reset_window, ["W"])
        self._action(v, "&Automatic Window", self.auto_window, ["A"])
        self.invert_action = self._action(v, "&Invert", self.toggle_invert, ["I"], checkable=True)
        v.addSeparator()
        self._action(v, "Rotate &Right", lambda: self.rotate(90), ["R"])
        self._action(v, "Rotate &Left", lambda: self.rotate(-90), ["Shift+R"])
        self._action(v, "Flip &Horizontal", lambda: self.flip(True), ["H"])
        self._action(v, "Flip &Vertical", lambda: self.flip(False), ["V"])
        self._action(v, "Reset &Orientation", self.reset_orientation, ["O"])
        v.addSeparator()
        self._action(v, "&Next Study", lambda: self.step_study(1), ["N", "PgDown"])
        self._action(v, "&Previous Study", lambda: self.step_study(-1), ["P", "PgUp"])
        self._action(v, "DICOM &Tags…", self.show_tags, ["Ctrl+T"])

        a = mb.addMenu("&AI")
        self.gradcam_action = self._action(a, "&Grad-CAM Layer", self._toggle_gradcam_key, ["G"], checkable=True)
        self._action(a, "More Opacity", lambda: self._nudge_opacity(10), ["]"], help_text="Grad-CAM opacity up")
        self._action(a, "Less Opacity", lambda: self._nudge_opacity(-10), ["["], help_text="Grad-CAM opacity down")
        self._action(a, "&Cancel Scoring", self.cancel_batch, ["Esc"], help_text="Cancel folder scoring")
        a.addSeparator()
        self.site_calibration = SiteCalibrationActions(self, a)

        h = mb.addMenu("&Help")
        self._action(h, "&Keyboard Shortcuts…", self.show_shortcuts, [QKeySequence.StandardKey.HelpContents])
        self._action(h, "&About / Model Card…", self.show_model_card)
        self._rebuild_recent()

    def _restore_settings(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*(self.settings.window_size or (1400, 900)))
        self.panel.opacity.setValue(self.settings.opacity)
        self.view.set_heat_opacity(self.settings.opacity / 100.0)
        self.anonymise_action.setChecked(self.anonymise)
        self.worklist.model.set_anonymise(self.anonymise)

    # == start-up and model =======================================================================
    def start(self, paths: list[Path] | None = None) -> None:
        """Call after show(): queues the model load in the background, then opens ``paths``."""
        names = bundle_names(self.models_dir)
        wanted = self.requested_model or self.settings.model
        name = wanted if wanted in names else (names[0] if names else None)
        if self.requested_model and self.requested_model not in names:
            self._report(f"Model {self.requested_model!r} not found in {self.models_dir}")
        self.panel.set_models(names, name, bundle_labels(self.models_dir, names))
        self._load_model(name)
        if paths:
            self.open_paths(paths)

    def _load_model(self, name: str | None) -> None:
        self.model_state = "loading" if name else "none"
        self.model_name = ""
        self.model_card = None
        if name:
            self.panel.set_model_status(f"Loading {name}…")
        else:
            self.panel.set_model_status(
                f"No model available (none in {self.models_dir}). Images can be viewed but are not scored.", error=True
            )
        self.service.load_model(self.models_dir / name if name else None)

    def reload_model(self) -> None:
        """Load the current bundle again (its site profile may have changed) and re-score every open study."""
        name = self.panel.model_box.currentData()
        self.service.cancel_pending()
        self._load_model(name)
        self.rescore_all()

    def choose_model(self, name: str) -> None:
        """Switch bundles: the new one loads in the background and every open study is re-scored."""
        if not name or name == self.model_name and self.model_state == "ready":
            return
        self.settings.model = name
        self.service.cancel_pending()
        self._load_model(name)
        self.rescore_all()

    def rescore_all(self) -> None:
        self.pending.clear()
        entries = list(self.worklist.model.entries)
        for e in entries:
            self.worklist.model.update(e.row_id, state=QUEUED)
        self.batch_total = 0
        self._queue([(e.row_id, e.result.path) for e in entries])

    def _on_model_loaded(self, gen: int, name: str, card: ModelCard) -> None:
        if gen != self.service.generation:
            return
        self.model_state, self.model_name, self.model_card = "ready", name, card
        predictor = self.service.predictor
        op = predictor.operating_point if predictor is not None else None
        source = f", {op.source}" if op is not None and op.source != "shipped" else ""
        threshold = op.threshold if op is not None else card.threshold
        self.panel.set_model_status(f"Model ready: {name} (threshold {threshold:.2f}{source})")
        self.statusBar().showMessage(f"Model {name} loaded", 4000)
        self._refresh_panel()
        if self.panel.gradcam.isChecked():
            self._request_heat()

    def _on_model_failed(self, gen: int, message: str) -> None:
        if gen != self.service.generation:
            return
        self.model_state, self.model_name = "none", ""
        if message:
            self.panel.set_model_status(f"Model could not be loaded: {message}", error=True)
            self._report(message)
        self._refresh_panel()

    # == opening ==================================================================================
    def _ask_open_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open studies", self.settings.last_folder, OPEN_FILTER)
        if paths:
            self.open_paths([Path(p) for p in paths])

    def _ask_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_folder)
        if folder:
            self.open_paths([Path(folder)])

    def open_paths(self, paths: list[Path]) -> None:
        """Open files and folders: each image becomes a worklist row scored in the background."""
        first: int | None = None
        for path in map(Path, paths):
            if path.is_dir():
                row = self.open_folder(path)
            elif path.exists():
                row = self._add_file(path)
                self.settings.last_folder = str(path.parent)
                self.settings.add_recent(str(path))
            else:
                self._report(f"{path}: no such file or folder")
                row = None
            first = first if first is not None else row
        self._rebuild_recent()
        if first is not None:
            self.show_row(first)

    def open_folder(self, folder: Path) -> int | None:
        scan = scan_folder(folder)
        self.settings.last_folder = str(folder)
        self.settings.add_recent(str(folder))
        self.skipped.extend(scan.skipped)
        rows = []
        for path in scan.candidates:
            existing = self.worklist.model.find_path(path)
            if existing is None:
                rows.append((self.worklist.model.add(path), path))
        self._queue(rows)
        self.worklist.sort_by_probability()
        if scan.skipped:
            names = ", ".join(p.name for p, _ in scan.skipped[:5]) + (" …" if len(scan.skipped) > 5 else "")
            self.worklist.summary.setText(f"Skipped {len(scan.skipped)} non-image file(s): {names}")
            self.worklist.summary.setToolTip("\n".join(f"{p}: {why}" for p, why in scan.skipped))
        if not scan.candidates:
            self._report(f"{folder}: no PNG, JPEG or DICOM files found")
        self.statusBar().showMessage(f"{len(scan.candidates)} image file(s) found in {folder}", 5000)
        return rows[0][0] if rows else None

    def _add_file(self, path: Path) -> int:
        existing = self.worklist.model.find_path(path)
        if existing is not None:
            if existing.state == CANCELLED:
                self.worklist.model.update(existing.row_id, state=QUEUED)
                self._queue([(existing.row_id, path)])
            return existing.row_id
        row = self.worklist.model.add(path)
        self._queue([(row, path)])
        return row

    def _queue(self, rows: list[tuple[int, Path]]) -> None:
        if not rows:
            return
        if not self.pending:
            self.batch_total = 0
        for row, path in rows:
            self.pending.add(row)
            self.batch_total += 1
            cached = self._studies.get(Path(path))
            self._tickets[row] = self.service.score(row, Path(path), study=cached, interactive=cached is not None)
        self._update_progress()

    def cancel_batch(self) -> None:
        if not self.pending:
            return
        self.service.cancel_pending()
        for row in list(self.pending):
            self.worklist.model.update(row, state=CANCELLED)
        cancelled = len(self.pending)
        self.pending.clear()
        self._update_progress()
        self.statusBar().showMessage(f"Scoring cancelled ({cancelled} studies not scored)", 5000)
        self._refresh_panel()

    def _on_result(self, ticket: int, row: int, result: StudyResult) -> None:
        if self._tickets.get(row) != ticket:
            return  # answer to a request that was superseded (model switch, re-open)
        self.worklist.model.update(row, result=result, state=DONE)
        self.pending.discard(row)
        if result.error and not result.scored and result.error != "no model available":
            self.errors.append(result.error)
        self._update_progress()
        if row == self.current_row:
            self._refresh_panel()
            self._refresh_overlay()
            self._refresh_heat()  # a withheld verdict takes a map already drawn off the film

    def _on_cancelled(self, ticket: int, row: int) -> None:
        if self._tickets.get(row) == ticket and row in self.pending:
            self.pending.discard(row)
            self.worklist.model.update(row, state=CANCELLED)
            self._update_progress()

    def _update_progress(self) -> None:
        running = bool(self.pending)
        done = self.batch_total - len(self.pending)
        self.worklist.set_progress(done, self.batch_total, running)
        n = len(self.worklist.model.entries)
        scored = sum(1 for e in self.worklist.model.entries if e.state == DONE and e.result.scored)
        self.status_label.setText(f"{scored}/{n} scored" + (f" · scoring {len(self.pending)}…" if running else ""))

    def is_busy(self) -> bool:
        return bool(self.pending)

    # == showing a study ==========================================================================
    def _on_row_selected(self, row: int) -> None:
        if not self._selecting:
            self.show_row(row)

    def show_row(self, row: int) -> None:
        entry = self.worklist.model.entry(row)
        if entry is None:
            return
        self.current_row = row
        path = entry.result.path
        self.window_level, self.inverted, self.orientation = None, False, Orientation()
        self.invert_action.setChecked(False)
        self.study, self.study_error = None, ""
        try:
            self.study = self._load(path)
        except StudyError as exc:
            self.study_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the app goes on whatever the file holds
            self.study_error = f"{path.name}: {type(exc).__name__}: {exc}"
        self._selecting = True
        self.worklist.select_row_id(row)
        self._selecting = False
        if self.study is None:
            self.view.set_image(None)
            self.view.placeholder = f"Cannot show this file:\n{self.study_error}"
            self.statusBar().showMessage(self.study_error, 8000)
        else:
            self.view.placeholder = ""
            self._render(refit=True)
            self._refresh_heat()
            if self.panel.gradcam.isChecked():
                self._request_heat()
        self._refresh_overlay()
        self._refresh_panel()
        self._update_title()
        if self._tag_browser is not None and self._tag_browser.isVisible():
            self._tag_browser.show_study(path, self.anonymise)

    def _load(self, path: Path) -> Study:
        if path in self._studies:
            self._studies.move_to_end(path)
            return self._studies[path]
        study = load_study(path)
        self._studies[path] = study
        while len(self._studies) > STUDY_CACHE:
            self._studies.popitem(last=False)
        return study

    def current_result(self) -> StudyResult | None:
        entry = self.worklist.model.entry(self.current_row) if self.current_row is not None else None
        return entry.result if entry is not None and entry.state == DONE else None

    def step_study(self, step: int) -> None:
        order = self.worklist.visible_row_ids()
        if not order:
            return
        i = order.index(self.current_row) if self.current_row in order else -1
        self.show_row(order[max(0, min(len(order) - 1, i + step))])

    # == rendering ================================================================================
    def display_gray(self) -> np.ndarray | None:
        """The current study's display pixels (uint8, oriented) exactly as on screen."""
        if self.study is None:
            return None
        return to_uint8(orient(display_pixels(self.study, self.window_level, self.inverted), self.orientation))

    def _render(self, refit: bool = False) -> None:
        gray = self.display_gray()
        if gray is not None:
            self.view.set_image(gray, refit=refit)

    def current_heat(self) -> np.ndarray | None:
        """The map for the study on screen; None when there is none or the study's score is withheld."""
        if self.study is None or not self.model_name or self._heat_withheld():
            return None
        return self._heat.get((str(self.study.path), self.model_name))

    def _refresh_heat(self) -> None:
        heat = self.current_heat()
        if heat is None:
            self.view.clear_heat()
            return
        self.view.set_heat(heat_rgba(orient(heat, self.orientation)))
        self.view.set_heat_visible(self.panel.gradcam.isChecked())

    def _refresh_overlay(self) -> None:
        if self.study is None:
            self.view.set_overlay([], [])
            return
        name = display_name(self.study.path, self.anonymise, self._row_position())
        banner = banner_lines(self.study.metadata, self.anonymise, name)
        if self.window_level is None:
            wl = "window: " + ("file" if self.study.metadata.get("window_source", "file") == "file" else "automatic")
        else:
            wl = f"W {self.window_level[1]:.0f}  L {self.window_level[0]:.0f}"
        info = [wl, f"zoom {self.view.scale_factor() * 100:.0f}%"]
        o = self.orientation
        if o.rotation or o.flip_h or o.flip_v:
            info.append(
                f"rotated {o.rotation}°" + (" · flipped H" if o.flip_h else "") + (" · flipped V" if o.flip_v else "")
            )
        if self.inverted:
            info.append("inverted")
        result = self.current_result()
        alert, colour = "", ""
        entry = self.worklist.model.entry(self.current_row) if self.current_row is not None else None
        if result is not None and entry is not None and entry.state == DONE:
            verdict = result.verdict
            alert, colour = "AI: " + verdict.wording, VERDICT_COLOURS[verdict]
            if verdict in (Verdict.WITHHELD, Verdict.UNREADABLE):
                alert = "⚠ " + alert + (f": {result.warnings[0]}" if result.warnings else f": {result.reason}")
                if len(result.warnings) > 1:
                    alert += f"  (+{len(result.warnings) - 1} more)"
        self.view.set_overlay(banner, info, alert, colour)

    def _row_position(self) -> int | None:
        for i, e in enumerate(self.worklist.model.entries):
            if e.row_id == self.current_row:
                return i
        return None

    def _refresh_panel(self) -> None:
        if self.current_row is None:
            self.panel.show_result(None)
            return
        entry = self.worklist.model.entry(self.current_row)
        if entry is None:
            self.panel.show_result(None)
            return
        if self.study is None and self.study_error:
            self.panel.show_result(StudyResult(path=entry.result.path, error=self.study_error, unreadable=True))
        elif entry.state == DONE:
            self.panel.show_result(entry.result)
        elif entry.state == CANCELLED:
            self.panel.show_pending("Scoring cancelled")
        elif self.model_state == "loading":
            self.panel.show_pending("Waiting for the model…")
        else:
            self.panel.show_pending("Scoring…")

    def _update_title(self) -> None:
        if self.study is None:
            self.setWindowTitle("cxrviewer")
        else:
            self.setWindowTitle(f"cxrviewer — {display_name(self.study.path, self.anonymise, self._row_position())}")

    # == display controls =========================================================================
    def _window_base(self) -> tuple[float, float]:
        if self.window_level is not None or self.study is None:
            return self.window_level or (0.5, 1.0)
        return self.study.default_window

    def _on_window_drag(self, dx: float, dy: float) -> None:
        if self.study is None:
            return
        centre, width = self._window_base()
        span = max(self.study.default_window[1], auto_window(self._raw())[1], 1e-3)
        step = span / 400.0
        self.set_window(centre + dy * step, max(width + dx * step, span / 1000.0))

    def _raw(self) -> np.ndarray:
        assert self.study is not None  # callers return early without a study
        return self.study.raw if self.study.raw is not None else self.study.pixels

    def set_window(self, centre: float, width: float) -> None:
        self.window_level = (float(centre), float(width))
        self._render()
        self._refresh_overlay()

    def reset_window(self) -> None:
        self.window_level = None
        self._render()
        self._refresh_overlay()

    def auto_window(self) -> None:
        if self.study is not None:
            self.set_window(*auto_window(self._raw()))

    def toggle_invert(self) -> None:
        self.inverted = not self.inverted
        self.invert_action.setChecked(self.inverted)
        self._render()
        self._refresh_overlay()

    def rotate(self, degrees: int) -> None:
        self._set_orientation(self.orientation.rotated(degrees))

    def flip(self, horizontal: bool) -> None:
        self._set_orientation(self.orientation.flipped(horizontal))

    def reset_orientation(self) -> None:
        self._set_orientation(Orientation())

    def _set_orientation(self, orientation: Orientation) -> None:
        self.orientation = orientation
        self._render(refit=True)
        self._refresh_heat()
        self._refresh_overlay()

    # == Grad-CAM =================================================================================
    def _toggle_gradcam_key(self) -> None:
        self.panel.gradcam.setChecked(not self.panel.gradcam.isChecked())

    def set_gradcam_visible(self, on: bool) -> None:
        self.gradcam_action.setChecked(on)
        if self.panel.gradcam.isChecked() != on:
            self.panel.gradcam.setChecked(on)
            return
        if on:
            self._request_heat()
        self.view.set_heat_visible(on)
        if not on:
            self.panel.gradcam_status.setText("")
        self._refresh_overlay()

    def _heat_withheld(self) -> str:
        """Why no heat map may be drawn for the study on screen ("" when it may): none on a withheld score."""
        result = self.current_result()
        if result is not None and result.verdict in (Verdict.WITHHELD, Verdict.UNREADABLE):
            return "No heat map: the score is withheld for this study."
        return ""

    def _request_heat(self) -> None:
        if self.study is None:
            return
        withheld = self._heat_withheld()
        if withheld:
            self.view.clear_heat()
            self.panel.gradcam_status.setText(withheld)
            return
        if self.model_state == "none":
            self.panel.gradcam_status.setText("Grad-CAM needs a model; none is loaded.")
            return
        if self.model_state != "ready":
            self.panel.gradcam_status.setText("Grad-CAM will be computed once the model has loaded.")
            return
        key = (str(self.study.path), self.model_name)
        if key in self._heat:
            self._refresh_heat()
            self.panel.gradcam_status.setText("")
            return
        if key not in self._gradcam_pending:
            self._gradcam_pending.add(key)
            self.service.gradcam(self.study)
        self.panel.gradcam_status.setText("Computing Grad-CAM…")

    def _on_gradcam(self, path: str, model: str, heat: np.ndarray) -> None:
        self._gradcam_pending.discard((path, model))
        self._heat[(path, model)] = heat
        if len(self._heat) > 16:
            self._heat.pop(next(iter(self._heat)))
        if self.study is not None and str(self.study.path) == path and model == self.model_name:
            empty = not np.any(heat > 0)
            self.panel.gradcam_status.setText(
                "Grad-CAM is empty for this study: no region raised the pneumonia score." if empty else ""
            )
            self._refresh_heat()

    def _on_gradcam_failed(self, path: str, message: str) -> None:
        self._gradcam_pending = {k for k in self._gradcam_pending if k[0] != path}
        if self.study is not None and str(self.study.path) == path:
            self.panel.gradcam_status.setText(message)

    def _on_opacity(self, opacity: float) -> None:
        self.view.set_heat_opacity(opacity)
        self.settings.opacity = int(round(opacity * 100))

    def _nudge_opacity(self, step: int) -> None:
        self.panel.opacity.setValue(max(0, min(100, self.panel.opacity.value() + step)))

    # == anonymise, exports, dialogs ==============================================================
    def set_anonymise(self, on: bool) -> None:
        self.anonymise = bool(on)
        self.anonymise_action.setChecked(self.anonymise)
        self.settings.anonymise = self.anonymise
        self.worklist.model.set_anonymise(self.anonymise)
        self._refresh_overlay()
        self._update_title()
        if self._tag_browser is not None and self._tag_browser.isVisible():
            self._tag_browser.show_study(self.study.path if self.study else None, self.anonymise)

    def export_png(self, path: str | Path) -> Path:
        """Write the current view (oriented image, window, Grad-CAM layer if shown) with its banner."""
        if self.study is None:
            raise StudyError("no study to export")
        heat = self.current_heat() if self.view.heat_visible() else None
        gray = self.display_gray()
        assert gray is not None  # there is a study
        rgb = composite(
            gray,
            orient(heat, self.orientation) if heat is not None else None,
            self.panel.opacity.value() / 100.0,
        )
        name = display_name(self.study.path, self.anonymise, self._row_position())
        image = export_image(
            rgb,
            banner_lines(self.study.metadata, self.anonymise, name),
            heat is not None,
            ai_summary_lines(self.current_result()),
        )
        path = Path(path)
        image.save(path, format="PNG")
        return path

    def export_csv(self, path: str | Path) -> Path:
        """The worklist in the order shown (most suspicious first when sorted by probability)."""
        order = self.worklist.visible_row_ids()
        entries = (self.worklist.model.entry(r) for r in order)
        results = [e.result for e in entries if e is not None]
        return write_worklist_csv(results, path, self.anonymise)

    def _ask_export_png(self) -> None:
        if self.study is None:
            self._report("Open a study first")
            return
        default = str(Path(self.settings.last_folder or ".") / "view.png")
        path, _ = QFileDialog.getSaveFileName(self, "Export view as PNG", default, "PNG image (*.png)")
        if path:
            try:
                self.export_png(path)
                self.statusBar().showMessage(f"Saved {path}", 5000)
            except OSError as exc:
                self._report(f"Could not save {path}: {exc.strerror or exc}")

    def _ask_export_csv(self) -> None:
        default = str(Path(self.settings.last_folder or ".") / "worklist.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export worklist as CSV", default, "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
                self.statusBar().showMessage(f"Saved {path}", 5000)
            except OSError as exc:
                self._report(f"Could not save {path}: {exc.strerror or exc}")

    def show_tags(self) -> None:
        if self._tag_browser is None:
            self._tag_browser = TagBrowser(self)
        self._tag_browser.show_study(self.study.path if self.study else None, self.anonymise)
        self._tag_browser.show()
        self._tag_browser.raise_()

    def show_model_card(self) -> ModelCardDialog:
        card = self.model_card
        if card is None and self.panel.model_box.currentData():
            try:
                card = read_card(self.models_dir / self.panel.model_box.currentData())
            except BundleError:
                card = None
        dialog = ModelCardDialog(card, self)
        self._dialogs = [d for d in self._dialogs if d.isVisible()] + [dialog]
        dialog.show()
        return dialog

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self._shortcut_help + MOUSE_HELP, self)
        self._dialogs = [d for d in self._dialogs if d.isVisible()] + [dialog]
        dialog.show()
        return dialog

    def _report(self, message: str) -> None:
        """A problem with one file or action: logged, shown without blocking, and the app goes on."""
        self.errors.append(message)
        self.statusBar().showMessage(message, 8000)
        if self.isVisible():
            if self._message_box is not None:
                self._message_box.close()
            self._message_box = show_message(self, "cxrviewer", message)

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for item in self.settings.recent:
            act = self.recent_menu.addAction(item)
            act.triggered.connect(lambda _=False, p=item: self.open_paths([Path(p)]))
        self.recent_menu.setEnabled(bool(self.settings.recent))

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
        self.settings.geometry = self.saveGeometry()
        self.settings.window_size = (self.width(), self.height())
        self.settings.opacity = self.panel.opacity.value()
        self.settings.sync()
        self.service.shutdown()
        super().closeEvent(event)
