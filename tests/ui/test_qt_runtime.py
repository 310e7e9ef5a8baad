"""The Qt binding the app ships does not leak references to None (PySide6-Essentials 6.12.0 did: every void call
such as processEvents() or repaint() took one, and on Python 3.11 the viewer aborted with 'deallocating None')."""

import sys

from PySide6.QtWidgets import QApplication, QLabel


def none_refcount_change(n, fn):
    before = sys.getrefcount(None)
    for _ in range(n):
        fn()
    return sys.getrefcount(None) - before


def test_void_qt_calls_keep_none_alive(qtbot):
    app = QApplication.instance()
    label = QLabel("<b>probe</b>")
    qtbot.addWidget(label)
    label.show()
    # a small slack for objects created on the way; a leak loses one reference per call
    assert none_refcount_change(2000, app.processEvents) > -100
    assert none_refcount_change(500, label.repaint) > -100
