"""Site calibration: fit on a site's labelled films, stored per bundle graph, shown everywhere, reset in one step."""

import json
import shutil

import pytest

from cxrviewer.__main__ import main
from cxrviewer.core import Predictor, load_bundle
from cxrviewer.core.batch import assess_file, read_batch_csv
from cxrviewer.core.site_calibration import (
    MIN_FILMS_PER_CLASS,
    CalibrationError,
    calibrate,
    load_profile,
    reset_profile,
    save_profile,
    settings_dir,
)

from .conftest import KERMANY


def site_folder(root, per_class):
    """The first films of test_public: a stand-in for a site's own labelled folder."""
    for name in ("NORMAL", "PNEUMONIA"):
        (root / name).mkdir(parents=True)
        for p in sorted((KERMANY / "test_public" / name).glob("*.jpeg"))[:per_class]:
            shutil.copy(p, root / name / p.name)
    return root


@pytest.fixture()
def settings(tmp_path, monkeypatch):
    folder = tmp_path / "settings"
    monkeypatch.setenv("CXRVIEWER_CONFIG_DIR", str(folder))
    return folder


def test_calibration_round_trip_and_reset(tmp_path, settings, viewer_models_dir, viewer_bundle_name):
    bundle = load_bundle(viewer_models_dir / viewer_bundle_name)
    site = site_folder(tmp_path / "site", 40)
    profile = calibrate(bundle, site, target_sensitivity=0.97, n_boot=200)
    # films the input checks would withhold are left out of the fit, and counted
    assert profile.n_normal + profile.n_positive + profile.measured["films_skipped"] == 80
    assert min(profile.n_normal, profile.n_positive) >= 30 and profile.bundle_sha256 == bundle.card.onnx.sha256
    assert profile.band[0] <= profile.threshold <= profile.band[1]
    site_rates = profile.measured["site"]
    assert site_rates["sensitivity"] >= 0.97 and len(site_rates["ci95"]["specificity"]) == 2
    save_profile(profile)
    assert settings_dir() == settings and json.loads((settings / "site_profiles.json").read_text())
    predictor = Predictor(load_bundle(viewer_models_dir / viewer_bundle_name))
    assert predictor.operating_point.threshold == profile.threshold
    assert predictor.operating_point.source == f"site-calibrated (n={profile.n}, {profile.created})"
    film = next((site / "PNEUMONIA").iterdir())
    result = assess_file(film, predictor)
    assert result.threshold == profile.threshold and result.threshold_source.startswith("site-calibrated")
    # the shipped bundle is untouched, and the trainer's evaluation ignores the profile
    assert load_bundle(viewer_models_dir / viewer_bundle_name).card.threshold == bundle.card.threshold
    assert Predictor(bundle, site=False).operating_point.source == "shipped"
    assert reset_profile(bundle.card) and load_profile(bundle.card) is None
    assert Predictor(bundle).operating_point.source == "shipped"


def test_too_few_films_are_refused(tmp_path, settings, viewer_models_dir, viewer_bundle_name):
    bundle = load_bundle(viewer_models_dir / viewer_bundle_name)
    site = site_folder(tmp_path / "small", MIN_FILMS_PER_CLASS - 5)
    with pytest.raises(CalibrationError, match=f"at least {MIN_FILMS_PER_CLASS}"):
        calibrate(bundle, site)
    assert (
        main(["calibrate", "--data", str(site), "--models-dir", str(viewer_models_dir), "--model", viewer_bundle_name])
        == 2
    )
    assert not (settings / "site_profiles.json").exists()


def test_a_profile_does_not_attach_to_another_bundle(
    tmp_path, settings, viewer_models_dir, viewer_bundle_name, tiny_bundle_dir
):
    bundle = load_bundle(viewer_models_dir / viewer_bundle_name)
    save_profile(calibrate(bundle, site_folder(tmp_path / "site", 45), n_boot=100))
    other = load_bundle(tiny_bundle_dir)  # another graph: another sha256
    assert other.card.onnx.sha256 != bundle.card.onnx.sha256
    assert load_profile(other.card) is None and Predictor(other).operating_point.source == "shipped"
    # a copy of the calibrated bundle whose graph was swapped for another one does not inherit it either
    swapped = tmp_path / "swapped"
    shutil.copytree(viewer_models_dir / viewer_bundle_name, swapped, ignore=shutil.ignore_patterns("weights.pt"))
    shutil.copy(tiny_bundle_dir / "model.onnx", swapped / "model.onnx")
    card = json.loads((swapped / "model.json").read_text())
    card["onnx"] = json.loads((tiny_bundle_dir / "model.json").read_text())["onnx"]
    (swapped / "model.json").write_text(json.dumps(card))
    assert load_profile(load_bundle(swapped).card) is None
    assert load_profile(bundle.card) is not None  # still attached to its own graph


def test_calibrate_cli_and_batch_csv_show_the_site_threshold(
    tmp_path, settings, viewer_models_dir, viewer_bundle_name, capsys
):
    site = site_folder(tmp_path / "site", 45)
    args = ["--models-dir", str(viewer_models_dir), "--model", viewer_bundle_name]
    assert main(["calibrate", "--data", str(site), "--target-sensitivity", "0.97", *args]) == 0
    assert "site threshold" in capsys.readouterr().out
    out = tmp_path / "o.csv"
    assert main(["--batch", str(site / "NORMAL"), "--csv", str(out), *args]) == 0
    rows = read_batch_csv(out)
    called = [r for r in rows if r["threshold"]]
    assert called and all(r["threshold_source"].startswith("site-calibrated (n=") for r in called)
    assert main(["calibrate", "--reset", *args]) == 0
    assert main(["--batch", str(site / "NORMAL"), "--csv", str(out), *args]) == 0
    assert all(r["threshold_source"] == "shipped" for r in read_batch_csv(out) if r["threshold"])
