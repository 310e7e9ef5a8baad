"""Input checks on real files: non-chest, lateral, FOR PROCESSING, colour and out-of-distribution input."""

import numpy as np
import pydicom
import pytest
from PIL import Image

from cxrviewer.core import load_study
from cxrviewer.core.input_checks import check_study, load_reference, metadata_warnings
from cxrviewer.core.input_gate import InputGate
from cxrviewer.core.study import Study

from .conftest import DICOM_DIR, NATIVE_DIR


@pytest.fixture(scope="module")
def reference() -> InputGate:
    gate = load_reference()
    assert gate is not None, "resources/input_gate is missing or refused"
    return gate


def test_extremity_dicom_is_flagged_as_not_chest(reference):
    warnings = check_study(load_study(DICOM_DIR / "RG3_J2KI.dcm"), reference)
    assert any("Not a chest" in w and "EXTREMITY" in w for w in warnings)
    # the pixels alone also withhold it, independent of its tags
    assert reference.assess(load_study(DICOM_DIR / "RG3_J2KI.dcm").pixels).withheld


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
    assert len(flagged) <= 1, flagged  # <= 2 % false alarms on Kermany originals (gate.json)


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
    assert any(w.startswith("The image ") and "input check score" in w for w in check_study(fake, reference))


def test_a_gate_that_cannot_run_withholds_with_its_reason(monkeypatch):
    from cxrviewer.core import input_checks

    monkeypatch.setattr(input_checks, "_shipped", {"gate": None, "problem": "input gate: gate.onnx was modified"})
    warnings = check_study(load_study(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"))
    assert warnings == [
        "the input check from the pixels could not run (input gate: gate.onnx was modified); the score is withheld"
    ]
    # without the stored gate (use_stored=False) only the metadata rules run, as for site-calibration tools
    assert check_study(load_study(DICOM_DIR / "RG3_J2KI.dcm"), None, use_stored=False)
