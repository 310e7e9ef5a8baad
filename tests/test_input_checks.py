"""Input checks on real files: non-chest, lateral, FOR PROCESSING, colour and out-of-distribution input."""

import json

import numpy as np
import pydicom
import pytest
from PIL import Image

from cxrviewer.core import load_study
from cxrviewer.core.input_checks import (
    Reference,
    check_study,
    default_reference_path,
    load_reference,
    metadata_warnings,
    ood_distance,
    thumbnail_features,
)
from cxrviewer.core.study import Study

from .conftest import DICOM_DIR, KERMANY, NATIVE_DIR


@pytest.fixture(scope="module")
def reference() -> Reference:
    ref = load_reference()
    assert ref is not None, f"{default_reference_path()} is missing or unreadable"
    return ref


def test_extremity_dicom_is_flagged_as_not_chest(reference):
    warnings = check_study(load_study(DICOM_DIR / "RG3_J2KI.dcm"), reference)
    assert any("Not a chest" in w and "EXTREMITY" in w for w in warnings)
    # the image itself is also far from the training images, independent of its tags
    assert ood_distance(load_study(DICOM_DIR / "RG3_J2KI.dcm"), reference) > reference.threshold


def test_lateral_cspine_thumbnail_is_flagged():
    warnings = check_study(load_study(DICOM_DIR / "pydicom_wheel_CR1_6154.dcm"))
    text = " ".join(warnings)
    assert "Lateral" in text and "CSPINE" in text and "too small" in text


def test_frontal_chest_dicoms_pass_the_metadata_rules():
    for name in ("RG1_J2KI.dcm", "gdcm-CR-MONO1-10-chest.dcm", "siim_acr_chest_pa.dcm"):
        assert metadata_warnings(load_study(DICOM_DIR / name).metadata) == [], name


def test_dx_for_processing_is_flagged(tmp_path):
    ds = pydicom.dcmread(DICOM_DIR / "siim_acr_chest_pa.dcm")
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PROCESSING"
    out = tmp_path / "for_processing.dcm"
    ds.save_as(out)
    warnings = check_study(load_study(out))
    assert any("FOR PROCESSING" in w for w in warnings)


def test_lateral_view_position_is_flagged(tmp_path):
    ds = pydicom.dcmread(DICOM_DIR / "siim_acr_chest_pa.dcm")
    ds.ViewPosition = "LL"
    out = tmp_path / "lateral.dcm"
    ds.save_as(out)
    assert any("Lateral" in w for w in check_study(load_study(out)))


def test_colour_photo_is_flagged(tmp_path):
    gray = np.asarray(Image.open(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg").convert("L"), dtype=np.float32)
    rgb = np.stack([gray, gray * 0.6, gray * 0.3], axis=2).astype(np.uint8)  # a sepia photo of a film
    out = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(out, quality=92)
    assert any("Colour" in w for w in check_study(load_study(out)))


def test_native_chest_films_are_not_flagged(reference):
    paths = sorted(NATIVE_DIR.rglob("*.jpeg"))
    flagged = [p.name for p in paths if check_study(load_study(p), reference)]
    assert len(flagged) <= 1, flagged  # ~1% false alarms by design


@pytest.mark.parametrize("transform", ["rot90", "invert", "noise", "blank"])
def test_out_of_distribution_images_are_flagged(reference, transform):
    study = load_study(NATIVE_DIR / "PNEUMONIA" / "person1251_bacteria_3208.jpeg")
    px = study.pixels
    changed = {
        "rot90": lambda: np.rot90(px),
        "invert": lambda: 1.0 - px,
        "noise": lambda: np.random.default_rng(0).random(px.shape, dtype=np.float32),
        "blank": lambda: np.full_like(px, 0.5),
    }[transform]()
    fake = Study(path=study.path, pixels=np.ascontiguousarray(changed, dtype=np.float32), metadata={})
    assert any("Unlike the training images" in w for w in check_study(fake, reference))


def test_false_alarm_rate_on_kermany_val_is_low(reference):
    paths = sorted((KERMANY / "val").rglob("*.jpeg"))
    feats = np.stack([thumbnail_features(load_study(p).pixels) for p in paths])
    rate = float(np.mean(reference.distance(feats) > reference.threshold))
    assert rate <= 0.1
    recorded = json.loads(default_reference_path().read_text())["info"]["false_alarm_rate"]
    assert abs(recorded["kermany_val"] - rate) < 1e-9  # the documented number is what the file does


def test_missing_reference_skips_only_the_distribution_check(tmp_path):
    assert load_reference(tmp_path / "none.json") is None
    study = load_study(DICOM_DIR / "RG3_J2KI.dcm")
    warnings = check_study(study, None, use_stored=False)
    assert warnings and not any("Unlike" in w for w in warnings)
