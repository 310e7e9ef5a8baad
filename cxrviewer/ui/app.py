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

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("cxrviewer")
    app.setApplicationName("cxrviewer")
    app.setDesktopFileName("cxrviewer")  # matches packaging/linux/cxrviewer.desktop
    if ICON.is_file():
        app.setWindowIcon(QIcon(str(ICON)))
    apply_dark_theme(app)
    window = MainWindow(models_dir=models_dir, model=model)
    window.show()
    window.start([Path(p) for p in paths] or ([DEMO_DIR] if DEMO_DIR.is_dir() else []))
    return app.exec()
