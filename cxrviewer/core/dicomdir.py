"""A CD or USB export opened through its DICOMDIR (pydicom's FileSet), grouped as the study index groups.

    dicomdir = find_dicomdir(folder)          # the folder's DICOMDIR, or None
    index = read_dicomdir(dicomdir)           # StudyIndex (list[PatientGroup]) of the referenced images

File IDs on media are ISO 9660 names (upper case, sometimes with a ";1" version): a referenced file that is
not found as written is looked up case-insensitively, without the version. Referenced files that are still
missing, and referenced objects that are not images (reports, presentation states), are in
``index.skipped`` with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UnreadableStudyError
from .sniff import is_dicomdir
from .study_index import StudyIndex, build_study_index


def find_dicomdir(folder: str | os.PathLike) -> Path | None:
    """The DICOMDIR at the root of ``folder`` (any case), if there is one and it is a DICOMDIR."""
    folder = Path(folder)
    if folder.is_file():
        return folder if is_dicomdir(folder) else None
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in names:
        if name.upper().rstrip(".").split(";")[0] == "DICOMDIR":
            path = folder / name
            if path.is_file() and is_dicomdir(path):
                return path
    return None


def dicomdir_files(path: str | os.PathLike) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(existing referenced files, [(missing file, reason)]) of a DICOMDIR, in the DICOMDIR's order.

    pydicom's FileSet gives the instances it finds as written; records it cannot find (names changed case
    when the media was mounted, ";1" versions) are looked up again from their Referenced File ID."""
    import warnings

    from pydicom import dcmread
    from pydicom.fileset import FileSet

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about every record whose file is not found
            ds = dcmread(path, force=True)
            fs = FileSet(ds)
            listed = [Path(instance.path) for instance in fs]
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for a damaged DICOMDIR
        raise UnreadableStudyError(
            f"{path.name}: the DICOMDIR could not be read ({type(exc).__name__}); open the folder without it"
        ) from exc
    root = path.parent
    found = [p for p in listed if p.is_file()]
    known = {os.path.normcase(os.path.abspath(p)) for p in found}
    missing: list[tuple[Path, str]] = []
    for record in ds.get("DirectoryRecordSequence", []):
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = (file_id,) if isinstance(file_id, str) else tuple(str(c) for c in file_id)
        written = root.joinpath(*parts)
        if os.path.normcase(os.path.abspath(written)) in known:
            continue
        target = _resolve(root, parts)
        if target is None:
            missing.append((written, f"{'/'.join(parts)}: listed in the DICOMDIR but not on the media"))
        else:
            found.append(target)
            known.add(os.path.normcase(os.path.abspath(target)))
    return list(dict.fromkeys(found)), missing


def read_dicomdir(path: str | os.PathLike) -> StudyIndex:
    """The images a DICOMDIR references, grouped by patient / study / series (see study_index)."""
    path = Path(path)
    files, missing = dicomdir_files(path)
    index = build_study_index(files)
    index.skipped = missing + index.skipped
    index.source = path
    return index


def _resolve(root: Path, parts: tuple[str, ...]) -> Path | None:
    """``root/parts`` as written, else matched part by part ignoring case and an ISO 9660 ";1" version."""
    direct = root.joinpath(*parts)
    if direct.is_file():
        return direct
    current = root
    for part in parts:
        want = _norm(part)
        try:
            entries = os.listdir(current)
        except OSError:
            return None
        match = next((e for e in sorted(entries) if _norm(e) == want), None)
        if match is None:
            return None
        current = current / match
    return current if current.is_file() else None


def _norm(name: str) -> str:
    return name.split(";")[0].rstrip(".").upper()
