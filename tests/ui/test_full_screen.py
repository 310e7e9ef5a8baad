"""Full screen (F11) and hidden panels (Tab) give the film the screen; the panel layout is saved with the
settings. Screenshots go to test-artifacts/screenshots/ for a human to look at."""

from PySide6.QtCore import Qt

from ..conftest import NATIVE_DIR, REPO
from .conftest import MODEL_TIMEOUT_MS, wait_idle

OUT = REPO / "test-artifacts" / "screenshots"
FILM = NATIVE_DIR / "PNEUMONIA" / "person1155_virus_1934.jpeg"


def image_share(w) -> float:
    """The part of the window the film's viewport takes."""
    vp = w.view.viewport()
    return vp.width() * vp.height() / (w.width() * w.height())


def test_tab_hides_the_panels_and_f11_goes_full_screen(make_window, qtbot):
    OUT.mkdir(parents=True, exist_ok=True)
    w = make_window(paths=[FILM], size=(1440, 900))
    qtbot.waitUntil(lambda: w.study is not None, timeout=MODEL_TIMEOUT_MS)
    wait_idle(qtbot, w)
    qtbot.wait(50)
    with_panels = image_share(w)
    w.grab().save(str(OUT / "with-panels.png"))
    qtbot.keyClick(w, Qt.Key.Key_Tab)
    qtbot.wait(50)
    assert all(not d.isVisible() for d in w.docks) and not w.statusBar().isVisible()
    hidden = image_share(w)
    print(f"film viewport share of a 1440x900 window: {with_panels:.1%} with panels, {hidden:.1%} with Tab")
    assert hidden > 0.9 > with_panels, (with_panels, hidden)
    w.grab().save(str(OUT / "hidden-panels.png"))
    qtbot.keyClick(w, Qt.Key.Key_F11)
    qtbot.wait(50)
    assert w.isFullScreen() and not w.menuBar().isVisible()
    assert image_share(w) > 0.99
    w.grab().save(str(OUT / "full-screen.png"))
    # the keys still work with no menu bar and no panels
    qtbot.keyClick(w, Qt.Key.Key_R)
    assert w.orientation.rotation == 90
    qtbot.keyClick(w, Qt.Key.Key_F11)
    qtbot.keyClick(w, Qt.Key.Key_Tab)
    qtbot.wait(50)
    assert not w.isFullScreen() and w.menuBar().isVisible() and all(d.isVisible() for d in w.docks)


def test_panel_layout_is_saved_with_the_settings(make_window, qtbot):
    w = make_window()
    ai_dock = w.docks[0]
    assert w.dockWidgetArea(ai_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, ai_dock)
    w.display.set_panels_hidden(True)  # closing with hidden panels saves the layout with them shown
    w.close()
    again = make_window()
    assert again.dockWidgetArea(again.docks[0]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert all(d.isVisible() for d in again.docks)
