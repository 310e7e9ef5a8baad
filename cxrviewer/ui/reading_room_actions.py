"""The reading-room tools in the main window: window presets, ruler and scale bar, pixel readout, magnifier,
orientation markers, contour lines vs colour wash, and the comparison with a prior.

Wiring (one line in ``MainWindow.__init__``, see ``actions.py``)::

    self.action_table.add(reading_room_actions.action_specs(self))

The tools follow the study on screen by themselves: the view's ``image_changed`` signal (every redraw, new
study, window change, rotation or flip) makes them re-read the window's viewer session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cxrviewer.core.anonymise import HIDDEN, banner_lines
from cxrviewer.core.display_tags import DisplayTags, read_display_tags
from cxrviewer.core.map_check import map_check
from cxrviewer.core.orientation_markers import orientation_markers
from cxrviewer.core.pixel_spacing import calibration, for_decoded_grid, pixel_value
from cxrviewer.core.priors import StudyRef, find_priors
from cxrviewer.core.window_presets import ANATOMY, FILE_WINDOW, WindowPreset, window_presets

from .actions import ActionSpec
from .comparison_view import ComparisonPane
from .heat_layer import CONTOURS, WASH
from .image_view import PAN, RULER

if TYPE_CHECKING:
    from .main_window import MainWindow

MAX_HEADER_READS = 2000  # priors: unscored rows have no Patient ID yet; their headers are read, up to this many
ANATOMY_KEYS = {"Lung": "2", "Soft tissue": "3", "Bone": "4"}
HEAT_STYLE_KEY = "heat_style"  # QSettings: "wash" or "contours"


class ReadingRoomTools:
    def __init__(self, window: MainWindow):
        self.w = window
        self.view = window.view
        self.session = window.session
        self._path: Path | None = None
        self._tags = DisplayTags()
        self.presets: list[WindowPreset] = []
        self._file_window = -1  # index into the file's windows for Shift+W
        self._restored = False
        self.comparison = ComparisonPane(window, window.view, window.session)
        self.view.image_changed.connect(self.sync)
        self.view.measured.connect(lambda text: window.statusBar().showMessage(f"Measured {text}", 8000))
        self.view.overlay_changed.connect(self.refresh_prior_caption)  # e.g. anonymise switched on
        self._prior_path: Path | None = None

    # -- following the study on screen ----------------------------------------------------------
    def sync(self) -> None:
        if not self._restored:  # the first redraw: the window and its actions exist by now
            self._restored = True
            self.restore_heat_style()
        study = self.session.study
        if study is None:
            self._path = None
            self.view.set_geometry(None, self.session.orientation)
            self.view.set_markers(None)
            self.view.value_probe = None
            return
        if study.path != self._path:
            new_film = self._path is not None
            self._path = study.path
            self.view.ruler.clear()  # measurements belong to the film they were made on
            self._tags = read_display_tags(study)
            self.presets = window_presets(study, self._tags)
            self._file_window = -1
            tags = self._tags
            self.view.set_calibration(for_decoded_grid(calibration(tags), study.file_shape, study.shape))
            self.view.value_probe = lambda r, c: (lambda v: v.text() if v else "")(pixel_value(study, tags, r, c))
            self._fill_preset_menu()
            if new_film and self.comparison.is_open():
                self.set_comparison(True)  # the next study: its own prior, or none
        self.view.set_geometry(study.shape, self.session.orientation)
        self.view.set_markers(orientation_markers(study.metadata, self.session.orientation))
        self.sync_heat_meaning()
        self.comparison.follow_main()

    def sync_heat_meaning(self) -> None:
        """The heat-map key's title, from the loaded model's card (also called when a model finishes loading)."""
        card = self.w.model_card
        positive = getattr(card, "positive_class", "") or "pneumonia"
        note = map_check(card).key_note
        self.view.set_heat_meaning(f"Regions that raised the {positive.lower()} score" + (f" ({note})" if note else ""))

    # -- window presets -------------------------------------------------------------------------
    def apply(self, preset: WindowPreset) -> None:
        if preset.window is None:
            self.w.display.reset_window()
        else:
            self.w.display.set_window(*preset.window)
        self.w.statusBar().showMessage(f"Window: {preset.name}", 4000)

    def apply_anatomy(self, name: str) -> None:
        preset = next((p for p in self.presets if p.kind == ANATOMY and p.name == name), None)
        if preset is None:
            self.w.statusBar().showMessage("Open a study first", 4000)
            return
        self.apply(preset)

    def next_file_window(self) -> None:
        """Shift+W: the file's own windows in turn (by their explanations)."""
        windows = [p for p in self.presets if p.kind == FILE_WINDOW]
        if not windows:
            self.w.statusBar().showMessage("This file defines no window of its own", 4000)
            return
        self._file_window = (self._file_window + 1) % len(windows)
        self.apply(windows[self._file_window])

    def _fill_preset_menu(self) -> None:
        menu = self.w.action_table.submenus.get("tools.window_presets")
        if menu is None:
            return
        menu.clear()
        last_kind = ""
        for preset in self.presets:
            if last_kind and preset.kind != last_kind:
                menu.addSeparator()
            last_kind = preset.kind
            key = ANATOMY_KEYS.get(preset.name, "") if preset.kind == ANATOMY else ""
            act = menu.addAction(preset.name + (f"\t{key}" if key else ""))
            act.triggered.connect(lambda _=False, p=preset: self.apply(p))

    # -- tools ----------------------------------------------------------------------------------
    def set_ruler(self, on: bool) -> None:
        self.view.set_tool(RULER if on else PAN)
        if on:
            self.w.statusBar().showMessage(f"Ruler: drag on the film ({self.view.calibration.source})", 6000)

    def set_heat_contours(self, on: bool) -> None:
        """Contour lines instead of the colour wash; remembered for the next session."""
        self.view.set_heat_style(CONTOURS if on else WASH)
        self.w.settings.qs.setValue(HEAT_STYLE_KEY, self.view.heat_style())
        self.w.action_table.set_checked("ai.heat_contours", on)

    def restore_heat_style(self) -> None:
        if self.w.settings.qs.value(HEAT_STYLE_KEY, WASH) == CONTOURS:
            self.set_heat_contours(True)

    # -- comparison -----------------------------------------------------------------------------
    def candidates(self) -> list[StudyRef]:
        refs, reads = [], 0
        for entry in self.w.worklist.model.entries:
            r = entry.result
            if r.patient_id or r.study_instance_uid:
                refs.append(StudyRef(Path(r.path), r.patient_id, r.study_instance_uid, r.study_date))
            elif reads < MAX_HEADER_READS:
                reads += 1
                refs.append(_header_ref(Path(r.path)))
        return refs

    def set_comparison(self, on: bool) -> None:
        if not on:
            self.comparison.close()
            return
        study = self.session.study
        if study is None:
            self._compare_off("Open a study first")
            return
        meta = study.metadata
        current = StudyRef(
            study.path, meta.get("patient_id", ""), meta.get("study_instance_uid", ""), meta.get("study_date", "")
        )
        priors = find_priors(current, self.candidates())
        if not priors:
            why = "no Patient ID in this file" if not current.patient_id else "no other study of this patient is open"
            self._compare_off(f"No prior to compare with: {why}")
            return
        self.open_prior(priors[0].path)

    def open_prior(self, path: Path) -> str:
        """Show ``path`` in the comparison viewport (the API the main window and tests call)."""
        self._prior_path = Path(path)
        error = self.comparison.open(path, ["PRIOR"])
        if error:
            shown = self.w.hide_names(error, self._prior_path)
            self.comparison.prior.placeholder = f"Cannot show the prior:\n{shown}"
            self.w.statusBar().showMessage(shown, 8000)
            return error
        self.refresh_prior_caption()
        self.w.action_table.set_checked("tools.compare", True)
        return ""

    def refresh_prior_caption(self) -> None:
        """The prior's banner, anonymised like the main one (re-run whenever the main overlay changes)."""
        prior = self.comparison.prior.session.study
        if prior is None or not self.comparison.is_open() or self._prior_path is None:
            return
        entry = self.w.worklist.model.find_path(self._prior_path)
        name = self.w.presenter.shown_name(entry.row_id) if entry is not None else self._prior_path.name
        if self.w.anonymise and entry is None:
            name = HIDDEN
        caption = ["PRIOR", *banner_lines(prior.metadata, self.w.anonymise, name)]
        if caption != self.comparison.prior.caption:
            self.comparison.prior.caption = caption
            self.comparison.prior.refresh_overlay()

    def _compare_off(self, message: str) -> None:
        if self.comparison.is_open():
            self.comparison.close()
        self.w.action_table.set_checked("tools.compare", False)
        self.w.statusBar().showMessage(message, 6000)

    def set_linked(self, on: bool) -> None:
        self.comparison.set_linked(on)


def _header_ref(path: Path) -> StudyRef:
    try:
        import pydicom

        ds = pydicom.dcmread(
            path, stop_before_pixels=True, specific_tags=["PatientID", "StudyInstanceUID", "StudyDate"]
        )
        return StudyRef(
            path,
            str(ds.get("PatientID", "") or ""),
            str(ds.get("StudyInstanceUID", "") or ""),
            str(ds.get("StudyDate", "") or ""),
        )
    except Exception:  # noqa: BLE001 - PNG/JPEG or unreadable: no patient to match
        return StudyRef(path)


def action_specs(window) -> list[ActionSpec]:
    """Tools menu (presets, ruler, magnifier, markers, comparison) and AI ▸ Heat Map as Contours."""
    tools = ReadingRoomTools(window)
    window.reading_room = tools  # kept alive with the window; the tests reach the tools here
    specs = [
        ActionSpec("tools.window_presets", "Tools", "Window &Presets", lambda: None, submenu=True, group="window"),
    ]
    for name, key in ANATOMY_KEYS.items():
        specs.append(
            ActionSpec(
                f"tools.window_{name.lower().replace(' ', '_')}",
                "Tools",
                f"{name} Window",
                lambda n=name: tools.apply_anatomy(n),
                (key,),
                help=f"{name} window (fractions of the film's range)",
                group="window",
            )
        )
    specs += [
        ActionSpec(
            "tools.file_windows",
            "Tools",
            "Next &File Window",
            tools.next_file_window,
            ("Shift+W",),
            help="The file's own windows in turn (by their explanations)",
            group="window",
        ),
        ActionSpec(
            "tools.ruler",
            "Tools",
            "&Ruler",
            tools.set_ruler,
            ("M",),
            checkable=True,
            help="Ruler: left drag measures (mm when the file is calibrated)",
            group="measure",
        ),
        ActionSpec(
            "tools.clear_measurements",
            "Tools",
            "&Clear Measurements",
            window.view.ruler.clear,
            ("Shift+M",),
            group="measure",
        ),
        ActionSpec(
            "tools.magnifier",
            "Tools",
            "&Magnifier",
            window.view.set_magnifier,
            ("Z",),
            checkable=True,
            help="Magnifier: a 3x lens beside the pointer",
            group="measure",
        ),
        ActionSpec(
            "tools.hide_markers",
            "Tools",
            "Hide Orientation Markers && Scale &Bar",
            lambda on: window.view.set_markers_visible(not on),
            ("K",),
            checkable=True,
            help="Hide / show the orientation markers and the scale bar",
            group="measure",
        ),
        ActionSpec(
            "tools.compare",
            "Tools",
            "&Compare with Prior",
            tools.set_comparison,
            ("C",),
            checkable=True,
            help="Show another study of the same patient beside this one",
            group="compare",
        ),
        ActionSpec(
            "tools.link",
            "Tools",
            "&Link Comparison",
            tools.set_linked,
            ("Shift+C",),
            checkable=True,
            help="Link zoom, pan and window of the two viewports",
            group="compare",
        ),
        ActionSpec(
            "ai.heat_contours",
            "AI",
            "Heat Map as &Contours",
            tools.set_heat_contours,
            ("Shift+G",),
            checkable=True,
            help="Heat map as contour lines of the hottest regions (else a colour wash)",
            group="heat",
        ),
    ]
    return specs
