"""The app path (original file) and the training path (224 px copy) give nearly the same model input."""

import numpy as np
import pytest
import torch

from cxrviewer.core import Predictor, PreprocessConfig, load_bundle, load_study, preprocess, to_model_input

from .conftest import KERMANY, NATIVE_DIR, shipped_bundles

NATIVE = sorted(NATIVE_DIR.glob("*/*.jpeg"))
BUNDLES = shipped_bundles()


def pairs():
    for native in NATIVE:
        small = KERMANY / "train" / native.parent.name / native.name
        assert small.is_file(), small
        yield native, small


def test_twenty_native_images():
    assert len(NATIVE) == 20


@pytest.mark.parametrize("intensity", ["none", "equalize"])
def test_model_inputs_nearly_equal(intensity):
    config = PreprocessConfig(input_size=224, intensity=intensity)
    diffs = []
    for native, small in pairs():
        a = preprocess(load_study(native).pixels, config)
        b = preprocess(load_study(small).pixels, config)
        assert a.shape == b.shape == (3, 224, 224)
        # in grey-level units ([0, 1] before normalisation): undo the channel std
        diffs.append(float(np.abs(a - b).mean()) * config.std[0])
    assert max(diffs) < 0.03, diffs


def test_preprocess_squashes_without_crop():
    study = load_study(NATIVE[0])
    h, w = study.shape
    assert h != w
    x = preprocess(study.pixels, PreprocessConfig(input_size=64))
    # left and right quarters of the original land in the left and right quarters of the input
    left, right = study.pixels[:, : w // 4].mean(), study.pixels[:, -w // 4 :].mean()
    g = x[0] * 0.229 + 0.485
    assert abs(float(g[:, :16].mean()) - left) < 0.03 and abs(float(g[:, -16:].mean()) - right) < 0.03


def test_channels_replicated_and_normalised():
    cfg = PreprocessConfig(input_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    x = preprocess(np.full((40, 50), 0.75, np.float32), cfg)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and np.allclose(x, 0.5)


def test_numpy_and_torch_inputs_normalise_identically():
    """The app passes numpy (no torch), the trainer torch batches: the same float32 (x - mean) / std."""
    cfg = PreprocessConfig(input_size=32)
    grey = np.random.default_rng(0).random((2, 32, 32), dtype=np.float32)
    a = to_model_input(grey, cfg)
    b = to_model_input(torch.from_numpy(grey), cfg)
    assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor)
    assert np.array_equal(a, b.numpy())


@pytest.mark.parametrize("bundle_dir", BUNDLES, ids=lambda p: p.name)
def test_app_and_training_path_agree_on_probability(bundle_dir):
    predictor = Predictor(load_bundle(bundle_dir))
    for native, small in pairs():
        p_app = predictor.predict(load_study(native)).probability
        p_train = predictor.predict(load_study(small)).probability
        assert abs(p_app - p_train) < 0.1, (native.name, p_app, p_train)


def test_a_bundle_is_shipped():
    assert BUNDLES, "resources/models holds no bundle"
