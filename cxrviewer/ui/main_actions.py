"""The main window's own entries of the action table (menus File, View, AI, Help). See ``actions.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QKeySequence

from .actions import ActionSpec

if TYPE_CHECKING:
    from .main_window import MainWindow

SK = QKeySequence.StandardKey
MOUSE_HELP = [
    ("Mouse wheel", "Zoom around the pointer"),
    ("Left drag", "Pan"),
    ("Right drag", "Window/level: drag right = wider window, drag up = brighter"),
    ("Drag and drop", "Open files or folders"),
]


def action_specs(w: MainWindow) -> list[ActionSpec]:
    view = w.view
    return [
        ActionSpec("file.open", "File", "&Open…", w.opener.ask_files, (SK.Open,), help="Open files", group="open"),
        ActionSpec(
            "file.open_folder",
            "File",
            "Open &Folder…",
            w.opener.ask_folder,
            ("Ctrl+Shift+O",),
            help="Open a folder (triage)",
            group="open",
        ),
        ActionSpec("file.recent", "File", "Open &Recent", lambda: None, submenu=True, group="open"),
        ActionSpec(
            "file.export_png",
            "File",
            "Export View as &PNG…",
            w.exports.ask_png,
            ("Ctrl+E",),
            help="Export the current view (image + Grad-CAM) to PNG",
            group="export",
        ),
        ActionSpec(
            "file.export_csv",
            "File",
            "Export Worklist as &CSV…",
            w.exports.ask_csv,
            ("Ctrl+Shift+E",),
            group="export",
        ),
        ActionSpec(
            "file.anonymise",
            "File",
            "&Anonymise",
            w.set_anonymise,
            ("Ctrl+Shift+A",),
            checkable=True,
            help="Anonymise: hide patient data and file names on screen and in exports",
            group="anonymise",
        ),
        ActionSpec("file.quit", "File", "&Quit", w.close, (SK.Quit, "Ctrl+Q"), group="quit"),
        ActionSpec("view.zoom_in", "View", "Zoom &In", lambda: view.zoom(1.25), ("+", "="), group="zoom"),
        ActionSpec("view.zoom_out", "View", "Zoom &Out", lambda: view.zoom(0.8), ("-",), group="zoom"),
        ActionSpec("view.fit", "View", "&Fit to Window", view.fit_to_window, ("F",), group="zoom"),
        ActionSpec("view.actual_size", "View", "Actual &Size (100%)", view.actual_size, ("1",), group="zoom"),
        ActionSpec(
            "view.display.reset_window",
            "View",
            "Reset &Window (file's own)",
            w.display.reset_window,
            ("W",),
            group="window",
        ),
        ActionSpec(
            "view.display.auto_window", "View", "&Automatic Window", w.display.auto_window, ("A",), group="window"
        ),
        ActionSpec("view.invert", "View", "&Invert", w.display.set_inverted, ("I",), checkable=True, group="window"),
        ActionSpec("view.rotate_right", "View", "Rotate &Right", lambda: w.display.rotate(90), ("R",), group="orient"),
        ActionSpec(
            "view.rotate_left", "View", "Rotate &Left", lambda: w.display.rotate(-90), ("Shift+R",), group="orient"
        ),
        ActionSpec("view.flip_h", "View", "Flip &Horizontal", lambda: w.display.flip(True), ("H",), group="orient"),
        ActionSpec("view.flip_v", "View", "Flip &Vertical", lambda: w.display.flip(False), ("V",), group="orient"),
        ActionSpec(
            "view.display.reset_orientation",
            "View",
            "Reset &Orientation",
            w.display.reset_orientation,
            ("O",),
            group="orient",
        ),
        ActionSpec("view.next", "View", "&Next Study", lambda: w.step_study(1), ("N", "PgDown"), group="step"),
        ActionSpec("view.previous", "View", "&Previous Study", lambda: w.step_study(-1), ("P", "PgUp"), group="step"),
        ActionSpec("view.tags", "View", "DICOM &Tags…", w.show_tags, ("Ctrl+T",), group="step"),
        ActionSpec(
            "view.full_screen",
            "View",
            "F&ull Screen",
            w.display.set_full_screen,
            ("F11",),
            checkable=True,
            help="Full screen (the film fills the screen)",
            group="screen",
        ),
        ActionSpec(
            "view.hide_panels",
            "View",
            "Hide &Panels",
            w.display.set_panels_hidden,
            ("Tab",),
            checkable=True,
            help="Hide / show the AI panel and the worklist",
            group="screen",
        ),
        ActionSpec(
            "ai.gradcam",
            "AI",
            "&Grad-CAM Layer",
            w.set_gradcam_visible,
            ("G",),
            checkable=True,
            group="heat",
        ),
        ActionSpec(
            "ai.heat_on_negative",
            "AI",
            "Heat Map on &Negative Studies",
            w.set_heat_on_negative,
            checkable=True,
            help="Also draw the heat map when the AI calls the study negative",
            group="heat",
        ),
        ActionSpec(
            "ai.more_opacity",
            "AI",
            "More Opacity",
            lambda: w.nudge_opacity(10),
            ("]",),
            help="Grad-CAM opacity up",
            group="heat",
        ),
        ActionSpec(
            "ai.less_opacity",
            "AI",
            "Less Opacity",
            lambda: w.nudge_opacity(-10),
            ("[",),
            help="Grad-CAM opacity down",
            group="heat",
        ),
        ActionSpec(
            "ai.cancel",
            "AI",
            "&Cancel Scoring",
            w.scoring.request_cancel,
            ("Esc",),
            help="Cancel folder scoring (asks first for a large queue)",
            group="queue",
        ),
        ActionSpec(
            "ai.resume",
            "AI",
            "&Resume Scoring",
            w.resume_scoring,
            ("Shift+Esc",),
            help="Score the cancelled studies",
            group="queue",
        ),
    ]


def help_specs(w: MainWindow) -> list[ActionSpec]:
    """Help comes last, after every contributed menu."""
    return [
        ActionSpec("help.shortcuts", "Help", "&Keyboard Shortcuts…", w.show_shortcuts, (SK.HelpContents,)),
        ActionSpec("help.about", "Help", "&About / Model Card…", w.show_model_card),
    ]
