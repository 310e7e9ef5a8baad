"""Bundle format 2: each shipped graph reproduces its PyTorch weights and pytorch-grad-cam on real films, its
card round-trips through ModelCard, and the app process never imports torch or the training libraries."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from cxrviewer.core import ModelCard, Predictor, load_bundle, load_study, update_card
from cxrviewer.core.bundle import sha256_file
from cxrviewer.core.cam import gradcam_from_cam
from trainer.gradcam_reference import reference_gradcam
from trainer.models import gradcam_layer, load_torch_model

from .conftest import DICOM_DIR, MODELS_DIR, NATIVE_DIR, REPO, shipped_bundles

BUNDLES = [pytest.param(p, id=p.name) for p in shipped_bundles()]


def real_studies():
    films = sorted(NATIVE_DIR.glob("*/*.jpeg"))
    return [load_study(p) for p in films[:3] + films[-3:] + [DICOM_DIR / "siim_acr_chest_pa.dcm"]]


@pytest.mark.parametrize("bundle_dir", BUNDLES)
def test_graph_reproduces_pytorch_and_pytorch_grad_cam(bundle_dir):
    predictor = Predictor(load_bundle(bundle_dir))
    card, model = load_torch_model(bundle_dir)
    layer = gradcam_layer(model, card.architecture)
    studies = real_studies()
    x = np.stack([predictor.model_input(s) for s in studies])
    logits_n, cams = predictor.model(x)
    logits_1 = np.concatenate([predictor.model(x[i : i + 1])[0] for i in range(len(x))])
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    assert np.abs(logits_n - expected).max() <= 1e-4
    assert np.abs(logits_1 - expected).max() <= 1e-4
    assert cams.shape[1:] == card.gradcam.grid  # the card's grid is the map's real resolution
    for i, study in enumerate(studies):
        ours = gradcam_from_cam(cams[i], card.preprocess.input_size)
        reference = reference_gradcam(model, layer, torch.from_numpy(x[i]), card.positive_index)
        assert np.abs(ours - reference).max() <= 1e-4, study.path.name
        heat = predictor.gradcam(study)
        assert heat.shape == study.shape and 0.0 <= heat.min() and heat.max() <= 1.0


@pytest.mark.parametrize("bundle_dir", BUNDLES)
def test_shipped_card_round_trips_and_names_its_files(bundle_dir):
    raw = json.loads((bundle_dir / "model.json").read_text())
    card = ModelCard.from_json(raw)
    assert card.to_json() == raw
    assert card.format_version == 2 and card.onnx.sha256 == sha256_file(bundle_dir / card.onnx.file)
    assert card.weights_sha256 == sha256_file(bundle_dir / card.weights_file)
    assert card.positive_class in card.class_names and card.gradcam.layer
    verification = card.onnx.verification
    assert verification["max_logit_difference_batch_1"] <= 1e-4
    assert verification["max_cam_difference_vs_pytorch_grad_cam"] <= 1e-4


def test_update_card_is_the_one_writer_and_validates(tmp_path, viewer_models_dir, viewer_bundle_name):
    import shutil

    from cxrviewer.core import BundleError

    bundle = tmp_path / "b"
    shutil.copytree(viewer_models_dir / viewer_bundle_name, bundle)
    before = ModelCard.read(bundle)
    after = update_card(bundle, limitations=before.limitations + ("an extra line",))
    assert ModelCard.read(bundle) == after and after.limitations[-1] == "an extra line"
    with pytest.raises(BundleError, match="threshold"):
        update_card(bundle, threshold=1.5)
    assert ModelCard.read(bundle) == after  # a refused change writes nothing
    load_bundle(bundle)  # graph and weights untouched: still verifies


TORCH_FREE_APP = r"""
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from cxrviewer.ui.main_window import MainWindow
from cxrviewer.ui.selftest import TRAINING_ONLY_MODULES
from cxrviewer.core.batch import run_batch
from cxrviewer.core.bundle import load_bundle, list_bundles
from cxrviewer.core.predictor import Predictor

app = QApplication([sys.argv[0], "-platform", "offscreen"])
demo = Path(sys.argv[1])
w = MainWindow(models_dir=sys.argv[2], model=None)
w.resize(1200, 800)
w.show()
w.start([demo])

def wait(cond, seconds=300):
    import time
    end = time.time() + seconds
    while not cond() and time.time() < end:
        app.processEvents()
        time.sleep(0.01)
    return cond()

assert wait(lambda: w.model_state == "ready" and not w.is_busy()), w.model_state
assert all(e.result.scored for e in w.worklist.model.entries)
# a study whose score is not withheld (the demo's adult DICOM is): its heat map must come
from cxrviewer.core.verdict import Verdict
entry = next(e for e in w.worklist.model.entries if e.result.verdict is not Verdict.WITHHELD)
w.show_row(entry.row_id)
w.set_heat_on_negative(True)  # a negative verdict draws no map unless asked
w.set_gradcam_visible(True)
assert wait(lambda: w.current_heat() is not None), "no Grad-CAM"
for bundle in list_bundles(sys.argv[2]):
    run_batch(demo, sys.argv[3], Predictor(load_bundle(bundle)))
loaded = sorted({m.split(".")[0] for m in sys.modules} & TRAINING_ONLY_MODULES)
print("LOADED", ",".join(loaded))
w.close()
"""


def test_app_process_never_imports_torch_or_training_libraries(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            TORCH_FREE_APP,
            str(REPO / "resources" / "demo"),
            str(MODELS_DIR),
            str(tmp_path / "batch.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("LOADED"))
    assert line == "LOADED ", f"the app imported: {line[7:]}"


@pytest.mark.parametrize("bundle_dir", BUNDLES)
def test_dilated_bundles_ship_a_map_grid_of_at_least_7x7_and_their_explanation_numbers(bundle_dir):
    """A stride-16 bundle's card grid is its graph's real map resolution (checked above on real films) and
    at least 7x7; a card that records explanations holds the three measurements of trainer evaluate."""
    from cxrviewer.core.architectures import get_architecture

    card = ModelCard.read(bundle_dir)
    predictor = Predictor(load_bundle(bundle_dir))
    _, cam = predictor.model(predictor.model_input(real_studies()[0])[None])
    assert cam.shape[1:] == card.gradcam.grid
    arch = get_architecture(card.architecture)
    if arch.output_stride == 16 or arch.window_margin is not None:  # built for a fine map
        assert min(card.gradcam.grid) >= 7
    for recorded in card.extra.get("explanations", {}).values():
        assert {"insertion", "road", "sanity", "substitution"} <= set(recorded)
        assert 0.0 <= recorded["insertion"]["win_rate"] <= 1.0
