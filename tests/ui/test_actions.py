"""The action table: menus, keys and the shortcut help come from one list; contributions; no key bound twice."""

import pytest
from PySide6.QtWidgets import QMainWindow

from cxrviewer.ui.actions import ActionSpec, ActionTable


def test_every_key_of_the_window_is_in_the_help_and_bound_once(make_window):
    w = make_window(wait_model=False)
    dialog = w.show_shortcuts()
    help_rows = {dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    seen = set()
    for spec in w.action_table.specs:
        if spec.submenu:
            continue
        act = w.action_table.action(spec.name)
        assert act in w.actions()  # window-wide: the keys work with the menu bar hidden
        for seq in act.shortcuts():
            assert seq.toString() not in seen, spec.name
            seen.add(seq.toString())
        if spec.keys:
            assert spec.help_text in help_rows, spec.name
    titles = [a.text().replace("&", "") for a in w.menuBar().actions()]
    assert titles[0] == "File" and titles[-1] == "Help" and "AI" in titles


def test_a_contributed_menu_goes_before_help_and_runs_its_handler(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    table = ActionTable(window)
    calls = []
    table.add([ActionSpec("help.about", "Help", "&About", lambda: calls.append("about"), ("F1", "F1"))])
    table.add(
        [
            ActionSpec("extra.one", "Extra", "&One", lambda: calls.append("one"), ("Ctrl+1",), group="a"),
            ActionSpec("extra.two", "Extra", "T&wo", calls.append, ("Ctrl+2",), checkable=True, group="b"),
        ]
    )
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles.index("Extra") == titles.index("Help") - 1
    extra = table.menu("Extra").actions()
    assert [a.isSeparator() for a in extra] == [False, True, False]  # a separator between groups
    table.action("extra.one").trigger()
    table.action("extra.two").trigger()
    assert calls == ["one", True]
    table.set_checked("extra.two", False)  # shows a state without calling the handler
    assert calls == ["one", True] and not table.action("extra.two").isChecked()
    rows = [(k.replace("⌘", "Ctrl+"), t) for k, t in table.shortcut_help()]
    assert rows == [("Ctrl+1", "One"), ("Ctrl+2", "Two"), ("F1", "About")]  # menu-bar order, a key listed once


def test_a_key_bound_twice_or_a_name_reused_is_refused(qtbot):
    window = QMainWindow()
    qtbot.addWidget(window)
    table = ActionTable(window)
    table.add([ActionSpec("view.a", "View", "A", lambda: None, ("A",))])
    with pytest.raises(ValueError, match="already bound"):
        table.add([ActionSpec("view.b", "View", "B", lambda: None, ("A",))])
    with pytest.raises(ValueError, match="twice"):
        table.add([ActionSpec("view.a", "View", "A again", lambda: None)])
