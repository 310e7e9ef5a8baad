"""The Qt-free viewer session: drag direction for both photometrics, orientation wording, caches."""

import itertools

import numpy as np
import pytest

from cxrviewer.core.rendering import Orientation
from cxrviewer.core.viewer_session import HeatCache, HeatKey, ViewerSession, describe_orientation

from .conftest import DICOM_DIR, NATIVE_DIR

MONO1 = DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm"
MONO2 = DICOM_DIR / "siim_acr_chest_pa.dcm"


def opened(path) -> ViewerSession:
    session = ViewerSession()
    assert session.open(0, path), session.study_error
    return session


@pytest.mark.parametrize("path", [MONO1, MONO2, NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg"])
@pytest.mark.parametrize("inverted", [False, True])
def test_drag_up_is_brighter_and_drag_right_is_wider_whatever_the_photometric(path, inverted):
    session = opened(path)
    if inverted:
        session.toggle_invert()
    session.drag_window(0, 0)  # start from the file's window as an explicit one
    base = session.display_gray().astype(float)
    centre, width = session.window_level
    session.drag_window(0, -40)  # up
    brighter = session.display_gray().astype(float)
    assert brighter.mean() > base.mean() + 1, (path.name, session.study.invert, inverted)
    session.drag_window(0, 80)  # down, past the start
    assert session.display_gray().astype(float).mean() < base.mean() - 1
    session.set_window(centre, width)
    session.drag_window(60, 0)  # right
    assert session.window_level[1] > width and session.window_level[0] == centre
    wider = session.display_gray().astype(float)
    assert wider.std() < base.std()  # a wider window has less contrast


def test_mono1_and_mono2_films_really_differ_in_photometric():
    assert opened(MONO1).study.invert and not opened(MONO2).study.invert


def apply_words(image: np.ndarray, text: str) -> np.ndarray:
    """Do what the words say, in the order they are written, on screen axes."""
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        if part.startswith("rotated"):
            image = np.rot90(image, k=-(int(part.split()[1].rstrip("°")) // 90))
        else:
            if "horizontally" in part:
                image = image[:, ::-1]
            if "vertically" in part:
                image = image[::-1]
    return image


def test_orientation_text_after_r_then_h_names_the_flip_pressed():
    session = opened(MONO2)
    session.rotate(90)
    session.flip(True)
    assert session.orientation_text() == "rotated 90°, flipped horizontally"
    session.reset_orientation()
    session.flip(True)
    session.rotate(90)
    assert session.orientation_text() == "flipped horizontally, rotated 90°"


def test_orientation_words_describe_the_pixels_for_every_key_sequence():
    session = opened(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg")
    plain = session.display_gray()
    keys = {"R": lambda: session.rotate(90), "L": lambda: session.rotate(-90)}
    keys |= {"H": lambda: session.flip(True), "V": lambda: session.flip(False)}
    for n in (1, 2, 3):
        for sequence in itertools.product("RLHV", repeat=n):
            session.reset_orientation()
            for key in sequence:
                keys[key]()
            text = session.orientation_text()
            assert np.array_equal(apply_words(plain, text), session.display_gray()), (sequence, text)
            if sequence[-1] in "HV" and "flipped" in text:  # (both flips read as a half turn)
                assert text.split(",")[-1].strip().startswith("flipped"), (sequence, text)


def test_both_flips_read_as_a_half_turn():
    assert describe_orientation(Orientation(0, True, True)) == "rotated 180°"
    assert describe_orientation(Orientation()) == ""


def test_unreadable_file_gives_a_one_line_error_and_no_study(tmp_path):
    bad = tmp_path / "cut.dcm"
    bad.write_bytes(MONO1.read_bytes()[:2000])
    session = ViewerSession()
    assert not session.open(3, bad)
    assert session.study is None and "cut.dcm" in session.study_error and "\n" not in session.study_error
    assert session.display_gray() is None and session.info_lines(1.0) == []


def test_opening_a_study_resets_window_invert_and_orientation():
    session = opened(MONO2)
    session.drag_window(10, 10)
    session.toggle_invert()
    session.rotate(90)
    assert session.info_lines(1.0)[-2:] == ["rotated 90°", "inverted"]
    session.open(1, MONO1)
    assert session.window_level is None and not session.inverted and session.orientation == Orientation()
    assert session.info_lines(0.5) == ["window: file", "zoom 50%"]


def test_heat_cache_asks_once_keeps_the_latest_and_forgets_failures():
    cache = HeatCache(size=2)
    a, b, c = HeatKey("a", "m"), HeatKey("b", "m"), HeatKey("c", "m")
    assert cache.should_request(a) and not cache.should_request(a)  # in flight: not asked twice
    cache.failed("a")
    assert cache.should_request(a)  # a failure may be retried
    for key in (a, b, c):
        cache.store(key, np.full((2, 2), 0.5, np.float32))
    assert cache.get(a) is None and cache.get(c) is not None  # oldest dropped
    assert not cache.should_request(c)


def test_heat_is_per_model_and_oriented_like_the_image():
    session = opened(MONO2)
    h, w = session.study.shape
    heat = np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w)
    session.heat.store(HeatKey(str(MONO2), "model-a"), heat)
    assert session.current_heat("model-b") is None and session.current_heat("") is None
    session.rotate(90)
    session.flip(True)
    oriented = session.oriented_heat("model-a")
    assert oriented.shape == session.display_gray().shape
    assert np.array_equal(oriented, apply_words(heat, session.orientation_text()))
