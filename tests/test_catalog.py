"""Bundle discovery and the model menu's labels, on the shipped bundles and a trained tiny one."""

import json
import shutil

import pytest

from cxrviewer.core import BundleError
from cxrviewer.core.catalog import bundle_labels, bundle_names, find_bundle

from .conftest import MODELS_DIR, shipped_bundles


@pytest.mark.skipif(not shipped_bundles(), reason="no shipped bundles")
def test_shipped_bundles_get_distinct_readable_labels():
    names = bundle_names(MODELS_DIR)
    labels = bundle_labels(MODELS_DIR, names)
    assert set(labels) == set(names) and len(set(labels.values())) == len(names)
    for name, label in labels.items():
        card = json.loads((MODELS_DIR / name / "model.json").read_text())
        assert f"{card['preprocess']['input_size']} px" in label
        assert len(label) < len(name)  # short enough for the side panel


def test_labels_of_a_trained_bundle_and_its_copy(tiny_bundle_dir, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(tiny_bundle_dir, models / "a")
    shutil.copytree(tiny_bundle_dir, models / "b")
    (models / "broken").mkdir()
    (models / "broken" / "model.json").write_text("{not json")
    names = bundle_names(models)
    assert names == ["a", "b"]  # the unreadable card is left out
    labels = bundle_labels(models, names)
    assert labels["a"].startswith("MobileNetV2 · 64 px") and labels["a"].endswith("(a)")
    assert labels["b"].endswith("(b)")
    assert find_bundle(models) == models / "a"
    with pytest.raises(BundleError, match="no model called"):
        find_bundle(models, "missing")
