"""The one folder walk: every candidate image file under a folder, and what was left out with its reason.

Used by the batch mode (``batch.scan_folder``) and the study index the worklist is built from, so both report
the same files and the same reasons.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .sniff import is_dicomdir, looks_like_study

NOT_AN_IMAGE = "skipped: not a PNG, JPEG or DICOM file"


@dataclass
class FolderScan:
    candidates: list[Path]  # files that look like images (by extension or content)
    skipped: list[tuple[Path, str]]  # other files, with the reason


def scan_folder(folder: str | os.PathLike) -> FolderScan:
    """All regular files under ``folder`` (recursive, sorted; directory links are not followed)."""
    candidates: list[Path] = []
    skipped: list[tuple[Path, str]] = []

    def unreadable(err: OSError) -> None:  # os.walk would otherwise drop such a folder silently
        skipped.append((Path(err.filename or folder), f"skipped: folder cannot be read ({err.strerror or err})"))

    for root, dirs, files in os.walk(os.fspath(folder), onerror=unreadable):
        for name in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            skipped.append((Path(root) / name, "skipped: link to a folder (not followed)"))
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if not path.is_file():
                skipped.append((path, "skipped: not a regular file"))
            elif is_dicomdir(path):
                skipped.append((path, "skipped: DICOMDIR (the index of a CD/USB export, not an image)"))
            elif looks_like_study(path):
                candidates.append(path)
            else:
                skipped.append((path, NOT_AN_IMAGE))
    return FolderScan(candidates, skipped)
