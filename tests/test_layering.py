"""Import rules: the core is Qt-free, the app never imports the trainer."""

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_qt_or_trainer():
    for path in (REPO / "cxrviewer" / "core").rglob("*.py"):
        bad = imported_modules(path) & {"PySide6", "PyQt5", "PyQt6", "trainer"}
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


TRAINING_ONLY = {"trainer", "torch", "torchvision", "pytorch_grad_cam", "cv2", "scipy", "sklearn", "matplotlib", "onnx"}


def test_app_never_imports_trainer_or_torch():
    for path in (REPO / "cxrviewer").rglob("*.py"):
        bad = imported_modules(path) & TRAINING_ONLY
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_qt_only_in_ui_package():
    for path in (REPO / "cxrviewer").rglob("*.py"):
        rel = path.relative_to(REPO / "cxrviewer")
        if rel.parts[0] != "ui" and "PySide6" in imported_modules(path):
            raise AssertionError(f"{rel} imports PySide6 outside cxrviewer/ui")


def test_importing_core_loads_no_qt():
    code = "import sys, cxrviewer.core; print(any(m.startswith('PySide6') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
