"""The action table: every menu entry and keyboard shortcut of the main window, as data.

An :class:`ActionSpec` says where an action lives (menu, group), what it reads (text), which keys trigger it,
what it does (handler) and how the shortcut help describes it. :class:`ActionTable` builds the QActions and
the menus from specs and answers the Help ▸ Keyboard Shortcuts list, so the menus, the keys and the help can
never disagree, and a key bound twice is refused when the table is built (a test builds the whole table).

Contributing actions from another module (the reading-room tools, the worklist, site calibration):

1. In your module, write a function that takes the main window and returns specs whose handlers close
   over what they need::

       def action_specs(window) -> list[ActionSpec]:
           return [
               ActionSpec("tools.ruler", "Tools", "&Ruler", lambda: window.view.set_tool("ruler"),
                          keys=("M",), checkable=True, help="Measure a distance"),
           ]

2. Add one line to ``MainWindow.__init__`` (after the built-in table): ``self.action_table.add(action_specs(self))``.
   ``cxrviewer/ui/site_calibration_actions.py`` is a worked example.

Menus appear in :data:`MENU_ORDER`; a menu not listed there is inserted before Help. Within a menu, actions
keep the order they were added and a separator falls between different ``group`` values. Look an action up
with ``window.action_table.action("view.invert")`` (e.g. to check it); names are "menu.what", unique.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

MENU_ORDER = ("File", "View", "Worklist", "Tools", "AI", "Help")
Key = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    name: str  # unique, "menu.what"
    menu: str  # menu title without "&" (File, View, ...); "" for a shortcut with no menu entry
    text: str  # menu text, "&" marks the mnemonic
    handler: Callable[..., object]  # called with the checked state for checkable actions, else without arguments
    keys: tuple[Key, ...] = ()
    checkable: bool = False
    help: str = ""  # shortcut help line; default: the menu text
    group: str = ""  # actions of one group sit together; a separator falls between groups
    submenu: bool = False  # a submenu placeholder (handler unused): e.g. File ▸ Open Recent

    @property
    def help_text(self) -> str:
        return self.help or self.text.replace("&", "").replace("…", "")


class ActionTable:
    def __init__(self, window: QMainWindow):
        self.window = window
        self.specs: list[ActionSpec] = []
        self._actions: dict[str, QAction] = {}
        self._menus: dict[str, QMenu] = {}
        self.submenus: dict[str, QMenu] = {}
        self._last_group: dict[str, str] = {}
        self._keys: dict[str, str] = {}  # portable key text -> action name
        for title in MENU_ORDER:
            self._menu(title)

    def _menu(self, title: str) -> QMenu:
        if title not in self._menus:
            bar = self.window.menuBar()
            menu = QMenu(f"&{title}", self.window)
            before = self._menus.get("Help")
            if before is not None and title not in MENU_ORDER:
                bar.insertMenu(before.menuAction(), menu)
            else:
                bar.addMenu(menu)
            self._menus[title] = menu
        return self._menus[title]

    def menu(self, title: str) -> QMenu:
        return self._menu(title)

    def add(self, specs: Iterable[ActionSpec]) -> list[QAction]:
        return [self._add(spec) for spec in specs]

    def _add(self, spec: ActionSpec) -> QAction:
        if spec.name in self._actions or spec.name in self.submenus:
            raise ValueError(f"action {spec.name!r} is defined twice")
        menu = self._menu(spec.menu) if spec.menu else None
        if menu is not None:
            if spec.menu in self._last_group and self._last_group[spec.menu] != spec.group:
                menu.addSeparator()
            self._last_group[spec.menu] = spec.group
        self.specs.append(spec)
        if spec.submenu:
            assert menu is not None  # a submenu lives in a menu
            sub = menu.addMenu(spec.text)
            self.submenus[spec.name] = sub
            return sub.menuAction()
        act = QAction(spec.text, self.window)
        act.setObjectName(spec.name)
        sequences = self._sequences(spec)
        for seq in sequences:
            text = seq.toString(QKeySequence.SequenceFormat.PortableText)
            if text in self._keys:
                raise ValueError(f"key {text!r} of {spec.name!r} is already bound to {self._keys[text]!r}")
            self._keys[text] = spec.name
        if sequences:
            act.setShortcuts(sequences)
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setCheckable(spec.checkable)
        handler = spec.handler
        if spec.checkable:
            act.triggered.connect(lambda checked=False, h=handler: h(checked))
        else:
            act.triggered.connect(lambda _checked=False, h=handler: h())
        if menu is not None:
            menu.addAction(act)
        self.window.addAction(act)  # shortcuts work with the menu bar hidden (full screen)
        self._actions[spec.name] = act
        return act

    @staticmethod
    def _sequences(spec: ActionSpec) -> list[QKeySequence]:
        """The spec's keys, without repeats and without platform keys this platform leaves unbound (a standard
        key such as Quit can be empty, or equal to a literal key listed beside it)."""
        out: dict[str, QKeySequence] = {}
        for key in spec.keys:
            seq = QKeySequence(key)
            text = seq.toString(QKeySequence.SequenceFormat.PortableText)
            if text:
                out.setdefault(text, seq)
        return list(out.values())

    def action(self, name: str) -> QAction:
        return self._actions[name]

    def set_checked(self, name: str, on: bool) -> None:
        """Show a state changed elsewhere (panel checkbox, settings) without triggering the handler again."""
        act = self._actions[name]
        act.blockSignals(True)
        act.setChecked(bool(on))
        act.blockSignals(False)

    def shortcut_help(self, extra: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        """(keys, what) for every action with keys, menu by menu as the menu bar shows them, then ``extra``."""
        bar = [a.menu() for a in self.window.menuBar().actions()]  # contributed menus sit before Help
        place = {title: bar.index(menu) for title, menu in self._menus.items() if menu in bar}
        specs = sorted(self.specs, key=lambda spec: place.get(spec.menu, len(bar)))
        rows = []
        for spec in specs:
            sequences = self._sequences(spec)
            if sequences:
                names = ", ".join(seq.toString(QKeySequence.SequenceFormat.NativeText) for seq in sequences)
                rows.append((names, spec.help_text))
        return rows + list(extra)
