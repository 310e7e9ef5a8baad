"""Every hostile file through the core loader: a clean result or a typed StudyError, in bounded time and memory."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cxrviewer.core import StudyError, load_study

from .conftest import FILE_MEMORY_MB, PeakMemory, bounded
from .corpus import ANY, ERROR, OK, SKIPPED, add_links, build_corpus


def _case_names() -> list[str]:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:  # names only; the files are built once per session
        cases = build_corpus(Path(d) / "c")
        cases.update(add_links(Path(d) / "c"))
    return sorted(cases)


CASE_NAMES = _case_names()


def _load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns loudly about every broken file; errors are what count
        return load_study(path)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_core_loader(corpus, name):
    root, cases = corpus
    expect = cases[name]
    with PeakMemory() as mem:
        try:
            study, error = bounded(lambda: _load(root / name), what=f"load_study({name})"), None
        except StudyError as exc:
            study, error = None, exc
    if mem.growth_mb is not None:
        assert mem.growth_mb < FILE_MEMORY_MB, f"{name}: peak memory grew by {mem.growth_mb:.0f} MB"

    if expect.outcome == OK:
        assert error is None, f"{name}: {error}"
    elif expect.outcome in (ERROR, SKIPPED):
        assert error is not None, f"{name}: loaded although it should be refused"
    if error is not None:
        message = str(error)
        assert root.joinpath(name).name in message, f"message does not name the file: {message}"
        if expect.outcome != SKIPPED:  # a skip reason is the folder scan's, not the loader's
            assert expect.reason.lower() in message.lower(), f"{name}: {message!r} lacks {expect.reason!r}"
        if expect.error_type:
            assert type(error).__name__ == expect.error_type, f"{name}: {type(error).__name__}: {message}"
    else:
        assert expect.outcome in (OK, ANY)
        px = study.pixels
        assert px.ndim == 2 and px.dtype == np.float32 and min(px.shape) > 0
        assert np.isfinite(px).all() and px.min() >= 0.0 and px.max() <= 1.0


def test_exif_rotation_is_applied(corpus):
    root, _ = corpus
    plain = _load(root / "bitmap" / "cmyk.jpg")
    rotated = _load(root / "bitmap" / "exif-rotated.jpg")
    assert rotated.shape == plain.shape[::-1]


def test_colour_dicom_is_flagged(corpus):
    root, _ = corpus
    assert _load(root / "dicom" / "rgb.dcm").metadata["is_colour"] is True
