"""Start the GUI: the window appears first, then the model loads in the background."""

from __future__ import annotations

import sys
from pathlib import Path

# resources/ sits beside the package in a checkout and in the bundle's folder (sys._MEIPASS) when frozen.
DEMO_DIR = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2])) / "resources" / "demo"
ICON = DEMO_DIR.parent / "icons" / "cxrviewer.png"


def run_gui(paths: list[str], models_dir: str | None = None, model: str | None = None) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .theme import apply_dark_theme

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setOrganizationName("cxrviewer")
    app.setApplicationName("cxrviewer")
    app.setDesktopFileName("cxrviewer")  # matches packaging/linux/cxrviewer.desktop
    if ICON.is_file():
        app.setWindowIcon(QIcon(str(ICON)))
    apply_dark_theme(app)
    window = MainWindow(models_dir=models_dir, model=model)
    window.show()
    window.start([Path(p) for p in paths] or ([DEMO_DIR] if DEMO_DIR.is_dir() else []))
    _close_on_sigterm(app)
    return app.exec()


def _close_on_sigterm(app) -> None:
    """On SIGTERM (logout, shutdown, `kill`) close the windows normally: settings are saved and exit
    handlers run (they remove the temporary cache folder, see cxrviewer.guards.use_private_caches)."""
    import signal

    from PySide6.QtCore import QTimer

    if not hasattr(signal, "SIGTERM"):
        return
    signal.signal(signal.SIGTERM, lambda *_: app.closeAllWindows())
    ticker = QTimer(app)  # Python runs signal handlers only between bytecodes: wake it up twice a second
    ticker.timeout.connect(lambda: None)
    ticker.start(500)
