"""The hostile corpus through the viewer's folder triage: no crash, a reason per file, valid files scored."""

from __future__ import annotations

import warnings

import pytest
from PySide6.QtWidgets import QApplication

from cxrviewer.core.verdict import Verdict

from ..ui.conftest import MODEL_TIMEOUT_MS, isolated_settings, make_window, wait_idle  # noqa: F401 (fixtures)
from .corpus import ANY, ERROR, OK, SKIPPED

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def test_folder_triage_survives_the_corpus(corpus, make_window, qtbot):  # noqa: F811
    root, cases = corpus
    w = make_window()
    assert w.model_state == "ready"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w.open_paths([root])
        wait_idle(qtbot, w, timeout=MODEL_TIMEOUT_MS)
    entries = {str(e.result.path.relative_to(root)): e for e in w.worklist.model.entries}
    skipped = {str(p.relative_to(root)): why for p, why in w.skipped}
    for name, expect in cases.items():
        if expect.outcome == SKIPPED:
            assert name in skipped and expect.reason.lower() in skipped[name].lower(), (name, skipped.get(name))
            assert name not in entries
            continue
        assert name in entries, f"{name}: not in the worklist"
        result = entries[name].result
        assert entries[name].state == "done", (name, entries[name].state)
        if expect.outcome == OK:
            assert result.scored and not result.error, (name, result.error)
        elif expect.outcome == ERROR:
            assert not result.scored and result.error, name
            assert expect.reason.lower() in result.error.lower(), (name, result.error)
            assert result.verdict is Verdict.UNREADABLE and result.status.startswith("Unreadable")
        else:
            assert expect.outcome == ANY and result.scored != bool(result.error), (name, result)
    assert skipped["links/up"] == "skipped: link to a folder (not followed)"

    # every row can be shown: a study, or the reason it cannot be shown, never an exception
    for row_id in w.worklist.visible_row_ids():
        w.show_row(row_id)
        QApplication.processEvents()
        assert (w.study is not None) != bool(w.study_error), w.worklist.model.entry(row_id).result.path
    assert w.isVisible()


def test_tampered_bundle_is_refused_and_images_still_open(make_window, qtbot, tampered_models_dir):  # noqa: F811
    from ..conftest import NATIVE_DIR

    models_dir, name = tampered_models_dir
    w = make_window(models_dir=models_dir, model=name)
    assert w.model_state == "none"
    assert any("integrity" in e for e in w.errors), w.errors
    film = next((NATIVE_DIR / "NORMAL").glob("*.jpeg"))
    w.open_paths([film])
    wait_idle(qtbot, w)
    assert w.study is not None and w.study.path == film
    entry = w.worklist.model.find_path(film)
    assert entry.state == "done" and not entry.result.scored and entry.result.error == "no model available"
