"""Rendering helpers: orientation shared by image and heat map, compositing, export, anonymised text."""

import numpy as np

from cxrviewer.core import load_study
from cxrviewer.core.anonymise import HIDDEN, banner_lines
from cxrviewer.core.batch import StudyResult
from cxrviewer.core.rendering import Orientation, composite, export_image, heat_rgba, orient, to_uint8
from cxrviewer.core.report import worklist_rows

from .conftest import DICOM_DIR


def test_orientation_moves_image_and_heat_together():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    o = Orientation().rotated(90).flipped(horizontal=True)
    a, b = orient(img, o), orient(img.copy(), o)
    assert a.shape == (4, 3) and np.array_equal(a, b)
    # rotate right: the top-left pixel goes to the top-right corner
    assert orient(img, Orientation(90))[0, -1] == img[0, 0]
    # a screen-horizontal flip after a 90 degree rotation mirrors the rotated view left-right
    assert np.array_equal(orient(img, Orientation(90).flipped(True)), orient(img, Orientation(90))[:, ::-1])
    assert np.array_equal(orient(img, Orientation().rotated(90).rotated(270)), img)


def test_composite_opacity_and_colour_layer():
    gray = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    heat = np.zeros_like(gray)
    heat[16:48, 16:48] = 1.0
    base = composite(gray, None, 0.5)
    assert np.array_equal(base[..., 0], to_uint8(gray))
    assert np.array_equal(composite(gray, heat, 0.0), base)
    half, full = composite(gray, heat, 0.5), composite(gray, heat, 1.0)
    assert np.array_equal(half[:16], base[:16])  # no heat: untouched
    assert not np.array_equal(half[16:48, 16:48], base[16:48, 16:48])
    assert np.all(full[32, 32] == [127, 0, 0]) or full[32, 32, 0] > full[32, 32, 2]  # hot is red
    assert heat_rgba(heat)[0, 0, 3] == 0 and heat_rgba(heat)[32, 32, 3] == 255


def test_export_image_has_banner_strip_and_colour_bar():
    rgb = np.zeros((200, 300, 3), np.uint8)
    plain = export_image(rgb, ["line one", "line two"], heat_shown=False)
    with_bar = export_image(rgb, ["line one", "line two"], heat_shown=True)
    assert plain.width == 300 and plain.height > 200
    assert with_bar.width > 300
    assert np.asarray(plain)[: plain.height - 200].max() > 0  # text drawn in the strip above the image
    assert np.asarray(plain)[plain.height - 200 :].max() == 0  # the image itself is untouched


def test_anonymised_banner_and_csv_hide_patient_data():
    meta = load_study(DICOM_DIR / "RG1_J2KI.dcm").metadata
    shown = " ".join(banner_lines(meta, False, "RG1_J2KI.dcm"))
    hidden = " ".join(banner_lines(meta, True, "study 1"))
    assert "CompressedSamples" in shown and "9RG1" in shown and "2004-08-26" in shown
    for secret in ("CompressedSamples", "9RG1", "2004", "19400305", "Philips Medical Systems Hamburg"):
        assert secret not in hidden
    assert HIDDEN in hidden
    r = StudyResult(
        path=DICOM_DIR / "RG1_J2KI.dcm",
        patient_name=meta["patient_name"],
        patient_id=meta["patient_id"],
        study_date=meta["study_date"],
        probability=0.5,
    )
    text = " ".join(" ".join(row.values()) for row in worklist_rows([r], anonymise=True))
    assert "CompressedSamples" not in text and "9RG1" not in text and "RG1_J2KI" not in text
