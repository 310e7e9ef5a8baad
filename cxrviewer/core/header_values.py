"""Small readers for the study index: one header value as text or int, the view code, whether two files are
one copy. Each swallows what a damaged element raises: one bad element costs only itself."""

from __future__ import annotations

import os
from pathlib import Path


def _same_bytes(a: Path, b: Path) -> bool:
    """Two files of one SOP Instance UID are one image only if they hold the same bytes (a copy)."""
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                chunk = fa.read(1 << 20)
                if chunk != fb.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _text(ds, keyword: str) -> str:
    from pydicom.multival import MultiValue

    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - one damaged element costs only itself
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _int(ds, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value is None or value == "" else int(value)
    except Exception:  # noqa: BLE001
        return None


def _view_code(ds) -> str:
    try:
        seq = ds.get("ViewCodeSequence")
        return str(seq[0].get("CodeMeaning", "")).strip() if seq else ""
    except Exception:  # noqa: BLE001
        return ""
