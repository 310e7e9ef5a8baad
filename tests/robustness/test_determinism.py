"""The same study gives the same probability across calls, processes and batch sizes (within 1e-5)."""

from __future__ import annotations

import numpy as np

from cxrviewer.core import load_study

from ..conftest import DICOM_DIR, NATIVE_DIR

TOLERANCE = 1e-5


def _studies():
    paths = sorted(NATIVE_DIR.glob("*/*.jpeg"))[:5] + [
        DICOM_DIR / "siim_acr_chest_pa.dcm",
        DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm",
    ]
    return [load_study(p) for p in paths]


def test_same_probability_across_calls_and_batch_sizes(viewer_predictor):
    studies = _studies()
    reference = np.array([viewer_predictor.predict(s).probability for s in studies])
    for batch_size in (1, 2, 3, 7, 16):
        got = np.array([p.probability for p in viewer_predictor.predict_many(studies, batch_size=batch_size)])
        assert np.abs(got - reference).max() <= TOLERANCE, (batch_size, got - reference)
    again = np.array([viewer_predictor.predict(s).probability for s in studies])
    assert np.abs(again - reference).max() <= TOLERANCE


def test_reloading_a_study_gives_the_same_probability(viewer_predictor):
    path = DICOM_DIR / "siim_acr_chest_pa.dcm"
    a = viewer_predictor.predict(load_study(path)).probability
    b = viewer_predictor.predict(load_study(path)).probability
    assert abs(a - b) <= TOLERANCE
