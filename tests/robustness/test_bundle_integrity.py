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
    return dst, card, dst / card["weights_file"]


def _rewrite_card(bundle, card, **changes):
    card = dict(card, **changes)
    (bundle / "model.json").write_text(json.dumps(card))
    return card


def _tamper(bundle, card, weights):
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in the middle of a tensor
    weights.write_bytes(bytes(data))


def _truncate(bundle, card, weights):
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _truncate_and_rehash(bundle, card, weights):
    _truncate(bundle, card, weights)
    _rewrite_card(bundle, card, weights_sha256=sha256_file(weights))


def _missing(bundle, card, weights):
    weights.unlink()


def _card_truncated(bundle, card, weights):
    text = (bundle / "model.json").read_text()
    (bundle / "model.json").write_text(text[: len(text) // 2])


def _card_without_hash(bundle, card, weights):
    card = dict(card)
    del card["weights_sha256"]
    (bundle / "model.json").write_text(json.dumps(card))


class Evil:  # a pickled object that is not a tensor: weights_only loading must refuse it
    def __reduce__(self):
        return (print, ("code ran while loading weights",))


def _pickled_code(bundle, card, weights):
    torch.save({"features.0.0.weight": Evil()}, weights)
    _rewrite_card(bundle, card, weights_sha256=sha256_file(weights))


def _other_architecture(bundle, card, weights):
    _rewrite_card(bundle, card, architecture="resnet18")


def _unknown_architecture(bundle, card, weights):
    _rewrite_card(bundle, card, architecture="vgg-from-the-internet")


CASES = {
    "bit-flipped weights": (_tamper, "integrity check"),
    "truncated weights": (_truncate, "integrity check"),
    "truncated weights, card re-hashed": (_truncate_and_rehash, "do not load"),
    "missing weights": (_missing, "missing"),
    "truncated card": (_card_truncated, "unreadable"),
    "card without hash": (_card_without_hash, "lacks weights_sha256"),
    "pickled code in weights": (_pickled_code, "do not load"),
    "card names another architecture": (_other_architecture, "do not load into resnet18"),
    "unknown architecture": (_unknown_architecture, "do not load"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_bundle_is_refused_with_a_clear_message(case, tmp_path, viewer_models_dir, viewer_bundle_name, capsys):
    make_bad, fragment = CASES[case]
    bundle, card, weights = _copy(viewer_models_dir / viewer_bundle_name, tmp_path / viewer_bundle_name)
    make_bad(bundle, card, weights)
    with pytest.raises(BundleError) as info:
        load_bundle(bundle)
    message = str(info.value)
    assert fragment in message, message
    assert viewer_bundle_name in message  # says which model
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
    assert len(rows) == 1 and rows[0]["probability"] == "" and rows[0]["error"] == "no model available"
    # naming the broken model explicitly is a usage error (exit 2), not a silent unscored run
    assert main(["--batch", str(folder), "--csv", str(out), "--models-dir", str(models), "--model", name]) == 2
