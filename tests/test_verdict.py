"""One verdict, decided in the core: age withholds, the band gives indeterminate, no label for withheld rows."""

import shutil

import numpy as np
import pytest

from cxrviewer.core import Predictor, load_bundle, load_study
from cxrviewer.core.batch import assess_file, assess_study
from cxrviewer.core.operating_point import choose_threshold, fit_temperature, threshold_band
from cxrviewer.core.report import ai_summary_lines
from cxrviewer.core.study_result import StudyResult
from cxrviewer.core.verdict import Verdict, decide

from .conftest import DICOM_DIR, MODELS_DIR, NATIVE_DIR, shipped_bundles

BUNDLES = [pytest.param(p, id=p.name) for p in shipped_bundles()]


def test_decide_order_and_band():
    assert decide(unreadable="x.dcm: truncated", withhold=["lateral"], probability=0.9, threshold=0.5).verdict is (
        Verdict.UNREADABLE
    )
    assert decide(withhold=["lateral"], probability=0.9, threshold=0.5).verdict is Verdict.WITHHELD
    band = (0.3, 0.6)
    assert decide(probability=0.29, threshold=0.4, band=band).verdict is Verdict.NEGATIVE
    assert decide(probability=0.30, threshold=0.4, band=band).verdict is Verdict.INDETERMINATE
    assert decide(probability=0.59, threshold=0.4, band=band).verdict is Verdict.INDETERMINATE
    assert decide(probability=0.60, threshold=0.4, band=band).verdict is Verdict.POSITIVE
    assert decide(probability=0.41, threshold=0.4).verdict is Verdict.POSITIVE  # no band: the threshold alone
    multi = decide(unreadable="decoders failed:\n  pylibjpeg: bad\n  pillow: bad")
    assert "\n" not in multi.reason and "pillow: bad" in multi.reason


def test_withheld_result_keeps_the_probability_but_claims_no_finding():
    r = StudyResult(
        path=__import__("pathlib").Path("x.png"),
        probability=0.95,
        threshold=0.4,
        band=(0.3, 0.6),
        positive_class="PNEUMONIA",
        negative_class="NORMAL",
        warnings=["Lateral view"],
    )
    assert r.verdict is Verdict.WITHHELD and r.label == "" and not r.positive and r.probability == 0.95
    assert not any("0.95" in line for line in ai_summary_lines(r))
    r.warnings = []
    assert r.verdict is Verdict.POSITIVE and r.label == "PNEUMONIA"
    r.probability = 0.45
    assert r.verdict is Verdict.INDETERMINATE and r.label == "" and "Indeterminate" in ai_summary_lines(r)[0]


@pytest.mark.parametrize("bundle_dir", BUNDLES)
def test_adult_dicom_is_withheld_for_age(bundle_dir):
    result = assess_file(DICOM_DIR / "RG1_J2KI.dcm", Predictor(load_bundle(bundle_dir)))
    assert result.verdict is Verdict.WITHHELD and result.label == ""
    assert "patient aged 64 y; the model was validated on children aged 1-5 y" in result.reason
    assert result.age_years == pytest.approx(64.47, abs=0.01) and "PatientBirthDate" in result.age


@pytest.mark.parametrize("bundle_dir", BUNDLES)
def test_a_borderline_study_is_indeterminate(bundle_dir):
    predictor = Predictor(load_bundle(bundle_dir))
    low, high = predictor.operating_point.band
    assert low <= predictor.operating_point.threshold <= high
    films = sorted(NATIVE_DIR.glob("*/*.jpeg"))
    study = load_study(films[0])
    result = assess_study(study, predictor)
    assert result.verdict is not Verdict.WITHHELD, result.reason
    # the same film's score placed inside and outside the band (the card's band, not a test constant)
    for p, expected in (((low + high) / 2, Verdict.INDETERMINATE), (high, Verdict.POSITIVE)):
        result.probability = p
        assert result.verdict is expected
    result.probability = max(low - 1e-3, 0.0)
    assert result.verdict is (Verdict.NEGATIVE if low > 0 else Verdict.INDETERMINATE)


def test_shipped_cards_record_band_and_population():
    for bundle_dir in shipped_bundles():
        card = load_bundle(bundle_dir).card
        band = card.indeterminate_band
        assert band is not None and band.low <= card.threshold <= band.high and "bootstrap" in band.rule
        assert band.how.startswith("python -m trainer trust-boundary")
        population = card.intended_population
        assert population is not None and population.age_years == (1, 5) and "AP" in population.views


def test_operating_point_rules_on_a_known_case():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 200 + [1] * 200)
    logits = np.stack([np.zeros(400), np.where(labels == 1, 2.0, -2.0) + rng.normal(0, 1.5, 400)], axis=1)
    t = fit_temperature(logits, labels)
    assert 0.3 < t < 3.0
    z = logits / t
    probs = np.exp(z[:, 1]) / np.exp(z).sum(axis=1)
    thr = choose_threshold(probs, labels, 0.95)
    assert (probs[labels == 1] >= thr).mean() >= 0.95
    band = threshold_band(probs, labels, thr, 0.95)
    assert band["low"] <= thr <= band["high"] and 0 < band["measured"]["in_band"] < 0.5


def test_models_dir_unchanged_by_decisions(tmp_path):
    # the verdict logic never writes into a bundle
    copy = tmp_path / "models"
    shutil.copytree(MODELS_DIR, copy, ignore=shutil.ignore_patterns("weights.pt"))
    before = {p.name: p.stat().st_mtime_ns for p in copy.rglob("*")}
    for bundle_dir in sorted(copy.iterdir()):
        assess_file(DICOM_DIR / "siim_acr_chest_pa.dcm", Predictor(load_bundle(bundle_dir)))
    assert {p.name: p.stat().st_mtime_ns for p in copy.rglob("*")} == before
