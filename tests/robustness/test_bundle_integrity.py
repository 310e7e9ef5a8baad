"""Model integrity: tampered, truncated or foreign bundles are refused with a clear message; the app goes on."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch

from cxrviewer.__main__ import main
from cxrviewer.core import BundleError, load_bundle
from cxrviewer.core.batch import read_batch_csv
from cxrviewer.core.bundle import sha256_file

from ..conftest import NATIVE_DIR


def _copy(src, dst):
    shutil.copytree(src, dst)
    card = json.loads((dst / "model.json").read_text())
    return dst, card


def _rewrite_card(bundle, card, **changes):
    card = dict(card, **changes)
    (bundle / "model.json").write_text(json.dumps(card))
    return card


def _flip_bit(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the middle of a tensor
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _graph(bundle, card):
    return bundle / card["onnx"]["file"]


def _weights(bundle, card):
    return bundle / card["weights_file"]


def _rehash_graph(bundle, card):
    _rewrite_card(bundle, card, onnx=dict(card["onnx"], sha256=sha256_file(_graph(bundle, card))))


def _onnx_without_hash(bundle, card):
    _rewrite_card(bundle, card, onnx={k: v for k, v in card["onnx"].items() if k != "sha256"})


def _card_truncated(bundle, card):
    text = (bundle / "model.json").read_text()
    (bundle / "model.json").write_text(text[: len(text) // 2])


def _graph_with_other_outputs(bundle, card):
    _rewrite_card(bundle, card, onnx=dict(card["onnx"], outputs={"logits": "scores", "cam": "cam"}))


# What the app runs: load_bundle + Predictor (ONNX Runtime), never the PyTorch weights.
APP_CASES = {
    "bit-flipped graph": (lambda b, c: _flip_bit(_graph(b, c)), "integrity check"),
    "truncated graph": (lambda b, c: _truncate(_graph(b, c)), "integrity check"),
    "truncated graph, card re-hashed": (
        lambda b, c: (_truncate(_graph(b, c)), _rehash_graph(b, c)),
        "cannot be loaded by ONNX Runtime",
    ),
    "missing graph": (lambda b, c: _graph(b, c).unlink(), "missing"),
    "truncated card": (lambda b, c: _card_truncated(b, c), "unreadable"),
    "card without the graph's hash": (_onnx_without_hash, "lacks sha256"),
    "threshold as text": (lambda b, c: _rewrite_card(b, c, threshold="0.5"), "threshold must be"),
    "positive class not a class": (lambda b, c: _rewrite_card(b, c, positive_class="COVID"), "positive_class"),
    "format 1 card": (lambda b, c: _rewrite_card(b, c, format_version=1), "bundle format 1"),
    "card names outputs the graph lacks": (_graph_with_other_outputs, "card names"),
}


@pytest.mark.parametrize("case", list(APP_CASES))
def test_bad_bundle_is_refused_by_the_app_with_a_clear_message(case, tmp_path, viewer_models_dir, viewer_bundle_name):
    from cxrviewer.core import Predictor

    make_bad, fragment = APP_CASES[case]
    bundle, card = _copy(viewer_models_dir / viewer_bundle_name, tmp_path / viewer_bundle_name)
    make_bad(bundle, card)
    with pytest.raises(BundleError) as info:
        Predictor(load_bundle(bundle))
    message = str(info.value)
    assert fragment in message, message
    assert viewer_bundle_name in message  # says which model
    assert "\n" not in message  # one line


class Evil:  # a pickled object that is not a tensor: weights_only loading must refuse it
    def __reduce__(self):
        return (print, ("code ran while loading weights",))


def _pickled_code(bundle, card):
    torch.save({"features.0.0.weight": Evil()}, _weights(bundle, card))
    _rewrite_card(bundle, card, weights_sha256=sha256_file(_weights(bundle, card)))


# What the trainer reads (fine-tuning, re-export, evaluate's reference Grad-CAM): the PyTorch weights.
TRAINER_CASES = {
    "bit-flipped weights": (lambda b, c: _flip_bit(_weights(b, c)), "integrity check"),
    "truncated weights": (lambda b, c: _truncate(_weights(b, c)), "integrity check"),
    "truncated weights, card re-hashed": (
        lambda b, c: (_truncate(_weights(b, c)), _rewrite_card(b, c, weights_sha256=sha256_file(_weights(b, c)))),
        "do not load",
    ),
    "missing weights": (lambda b, c: _weights(b, c).unlink(), "missing"),
    "pickled code in weights": (_pickled_code, "do not load"),
    "card names another architecture": (
        lambda b, c: _rewrite_card(b, c, architecture="resnet18"),
        "do not load into resnet18",
    ),
    "unknown architecture": (lambda b, c: _rewrite_card(b, c, architecture="vgg-from-the-internet"), "do not load"),
}


@pytest.mark.parametrize("case", list(TRAINER_CASES))
def test_bad_weights_are_refused_by_the_trainer(case, tmp_path, viewer_models_dir, viewer_bundle_name, capsys):
    from trainer.models import load_torch_model

    make_bad, fragment = TRAINER_CASES[case]
    bundle, card = _copy(viewer_models_dir / viewer_bundle_name, tmp_path / viewer_bundle_name)
    make_bad(bundle, card)
    with pytest.raises(BundleError) as info:
        load_torch_model(bundle)
    message = str(info.value)
    assert fragment in message, message
    assert viewer_bundle_name in message
    assert "code ran while loading weights" not in capsys.readouterr().out


def test_batch_mode_without_a_usable_model_still_checks_files(tampered_models_dir, tmp_path, capsys):
    models, name = tampered_models_dir
    folder = tmp_path / "in"
    folder.mkdir()
    film = next((NATIVE_DIR / "NORMAL").glob("*.jpeg"))
    shutil.copy(film, folder / film.name)
    out = tmp_path / "out.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["--batch", str(folder), "--csv", str(out), "--models-dir", str(models)]) == 0
    err = capsys.readouterr().err
    assert "integrity check" in err and "refused" in err
    rows = read_batch_csv(out)
    assert len(rows) == 1 and rows[0]["probability"] == "" and rows[0]["verdict"] == "withheld"
    assert rows[0]["reason"] == "no model available" and rows[0]["label"] == ""
    # naming the broken model explicitly is a usage error (exit 2), not a silent unscored run
    assert main(["--batch", str(folder), "--csv", str(out), "--models-dir", str(models), "--model", name]) == 2
