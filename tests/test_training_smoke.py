"""A real (tiny) training run: loss falls, a bundle is exported, reloads, predicts; tampering is refused."""

import json
import shutil

import numpy as np
import pytest

from cxrviewer.core import BundleError, Predictor, load_bundle, load_study
from cxrviewer.core.bundle import sha256_file
from trainer.models import load_torch_model

from .conftest import NATIVE_DIR


def test_run_folder_contents(tiny_run):
    run, _ = tiny_run
    for name in ("splits.csv", "epochs.jsonl", "history.json", "best.pt", "last.pt", "run.json", "learning_curves.png"):
        assert (run / name).is_file(), name


def test_training_loss_decreases(tiny_run):
    history = json.loads((tiny_run[0] / "history.json").read_text())
    assert len(history) == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_run_summary_has_calibration_and_internal_test(tiny_run):
    summary = json.loads((tiny_run[0] / "run.json").read_text())
    assert summary["temperature"] > 0
    assert 0 <= summary["threshold"] <= 1
    assert summary["internal_test"]["n_images"] == sum(summary["split_counts"]["test"])


def test_bundle_card_is_complete(tiny_bundle_dir):
    card = json.loads((tiny_bundle_dir / "model.json").read_text())
    for key in (
        "format_version",
        "architecture",
        "preprocess",
        "class_names",
        "positive_class",
        "threshold",
        "temperature",
        "weights_sha256",
        "onnx",
        "gradcam",
        "training",
        "metrics",
        "intended_use",
        "limitations",
    ):
        assert key in card, key
    assert card["preprocess"]["input_size"] == 64
    assert card["weights_sha256"] == sha256_file(tiny_bundle_dir / card["weights_file"])


def test_bundle_reloads_and_predicts(tiny_bundle_dir):
    predictor = Predictor(load_bundle(tiny_bundle_dir))
    studies = [load_study(p) for p in sorted(NATIVE_DIR.glob("*/*.jpeg"))[:4]]
    single = [predictor.predict(s) for s in studies]
    batched = predictor.predict_many(studies, batch_size=3)
    for a, b in zip(single, batched):
        assert 0.0 <= a.probability <= 1.0
        assert (a.positive_class, a.negative_class) == ("PNEUMONIA", "NORMAL")
        assert a.threshold_source == "shipped" and a.band is not None and a.band[0] <= a.threshold <= a.band[1]
        assert abs(a.probability - b.probability) < 1e-5
    heat = predictor.gradcam(studies[0])
    assert heat.shape == studies[0].shape and 0 <= heat.min() and heat.max() <= 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_tampered_weights_refused(tiny_bundle_dir, tmp_path, damage):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle_dir, bad)
    weights = bad / "weights.pt"
    data = bytearray(weights.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(bytes(data[:1000]))
    else:
        weights.unlink()
    with pytest.raises(BundleError, match="integrity|missing"):
        load_torch_model(bad)
    Predictor(load_bundle(bad))  # the app does not read the PyTorch weights: it still runs the verified graph


def test_reexport_rewrites_graph_and_card_from_the_weights(tiny_bundle_dir, tmp_path):
    """A format-1 bundle (weights and card only) becomes format 2; weights untouched, predictions unchanged."""
    from trainer.__main__ import main as trainer_main

    old = tmp_path / "old"
    shutil.copytree(tiny_bundle_dir, old)
    card = json.loads((old / "model.json").read_text())
    weights_sha = card["weights_sha256"]
    for key in ("onnx", "gradcam", "format_version"):
        del card[key]
    (old / "model.json").write_text(json.dumps(dict(card, gradcam_layer="last convolutional block")))
    (old / "model.onnx").unlink()
    with pytest.raises(BundleError, match="bundle format 1"):
        load_bundle(old)
    trainer_main(["export", "--bundle", str(old)])
    new = load_bundle(old)
    assert new.card.weights_sha256 == weights_sha == sha256_file(old / "weights.pt")
    assert new.card.gradcam.layer == "features.18" and "gradcam_layer" not in new.card.extra
    studies = [load_study(p) for p in sorted(NATIVE_DIR.glob("*/*.jpeg"))[:3]]
    ours = [p.probability for p in Predictor(new).predict_many(studies)]
    shipped = [p.probability for p in Predictor(load_bundle(tiny_bundle_dir)).predict_many(studies)]
    assert np.abs(np.array(ours) - np.array(shipped)).max() <= 1e-6


def test_half_precision_export_stores_float16_and_reproduces_its_weights(tiny_run, tmp_path):
    from trainer.__main__ import main as trainer_main

    run, _ = tiny_run
    trainer_main(["export", "--run", str(run), "--name", "half", "--models-dir", str(tmp_path), "--half"])
    bundle = load_bundle(tmp_path / "half")
    assert bundle.card.weights_dtype == "float16" and bundle.card.onnx.initializer_dtype == "float16"
    assert bundle.card.onnx.verification["max_logit_difference_batch_n"] <= 1e-4
    full = (tiny_run[1] / "model.onnx").stat().st_size
    assert bundle.onnx_path.stat().st_size < 0.6 * full  # float16 storage: about half the graph


def test_card_without_required_keys_refused(tiny_bundle_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle_dir, bad)
    card = json.loads((bad / "model.json").read_text())
    del card["threshold"]
    (bad / "model.json").write_text(json.dumps(card))
    with pytest.raises(BundleError, match="threshold"):
        load_bundle(bad)


def test_imagenet_init_without_local_weights_fails_clearly(tmp_path):
    from trainer.backbones import InitError, init_model

    with pytest.raises(InitError, match="never downloads|--init scratch"):
        init_model("resnet50", "imagenet")


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    import trainer.train as train_module
    from trainer.__main__ import main as trainer_main

    from .conftest import KERMANY

    args = [
        "train",
        "--arch",
        "mobilenet_v2",
        "--data",
        str(KERMANY),
        "--limit",
        "48",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--image-size",
        "32",
        "--patience",
        "0",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
    ]
    real_predict = train_module.predict_logits
    calls = {"n": 0}

    def interrupt_in_epoch_two(*a, **k):  # validation of epoch 2 never happens: the "machine" stops
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_predict(*a, **k)

    monkeypatch.setattr(train_module, "predict_logits", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        trainer_main(args)
    assert [h["epoch"] for h in json.loads((tmp_path / "run" / "history.json").read_text())] == [1]
    monkeypatch.setattr(train_module, "predict_logits", real_predict)
    trainer_main(args + ["--resume"])
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert (tmp_path / "run" / "run.json").is_file()


def test_report_lists_the_run_with_its_recipe(tiny_run, tmp_path, capsys):
    from trainer.__main__ import main as trainer_main

    run, _ = tiny_run
    trainer_main(["report", "--runs", str(run.parent), "--evals", str(tmp_path / "no-evals")])
    summary = json.loads((run / "run.json").read_text())
    row_start = f"| {run.name} | {summary['architecture']} |"
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(row_start))
    lo, hi = summary["augmentation"]["scale"]
    assert f"zoom {lo:g}–{hi:g}" in row
    assert row.endswith("| – / – / – / – |")  # no test_public evaluation of this run


def test_time_budget_stops_early_and_keeps_the_best_checkpoint(tmp_path):
    """--max-minutes ends training before an epoch that would overrun; the run still calibrates and exports."""
    from trainer.__main__ import main as trainer_main

    from .conftest import KERMANY

    run = tmp_path / "run"
    trainer_main(
        [
            "train",
            "--arch",
            "mobilenet_v2",
            "--data",
            str(KERMANY),
            "--limit",
            "48",
            "--epochs",
            "5",
            "--batch-size",
            "16",
            "--image-size",
            "32",
            "--max-minutes",
            "0.001",
            "--out",
            str(run),
            "--no-progress",
        ]
    )
    summary = json.loads((run / "run.json").read_text())
    assert summary["epochs_run"] == 1
    assert summary["stop_reason"].startswith("time budget")
    trainer_main(["export", "--run", str(run), "--name", "budget", "--models-dir", str(tmp_path / "models")])
    card = load_bundle(tmp_path / "models" / "budget").card
    assert card.training["stop_reason"] == summary["stop_reason"]


def test_explanation_guided_flags_train_end_to_end_and_are_recorded(tmp_path):
    """--mosaic, --lung-prior and both evidence losses run in a real training loop (trainer/guidance.py)."""
    from trainer.__main__ import main as trainer_main

    from .conftest import KERMANY

    run = tmp_path / "run"
    flags = {"--mosaic": "1", "--lung-prior": "1", "--evidence-weight": "0.5", "--necessity-weight": "0.5"}
    trainer_main(
        ["train", "--arch", "mobilenet_v2", "--data", str(KERMANY), "--limit", "48", "--epochs", "1"]
        + ["--batch-size", "16", "--image-size", "64", "--out", str(run), "--no-progress"]
        + [item for pair in flags.items() for item in pair]
    )
    summary = json.loads((run / "run.json").read_text())
    hyper = summary["hyperparameters"]
    assert (hyper["mosaic"], hyper["lung_prior"]) == (1.0, 1.0)
    assert (hyper["evidence_weight"], hyper["necessity_weight"]) == (0.5, 0.5)
    losses = [json.loads(line)["train_loss"] for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert losses and all(np.isfinite(losses))


def test_top_cell_model_trains_on_tissue_composites_and_exports(tmp_path):
    """--tissue-composites with both cell losses in a real training loop, then a bundle whose graph export
    proved against pytorch-grad-cam (trainer/cell_evidence.py, trainer/tissue_composites.py)."""
    from trainer.__main__ import main as trainer_main

    from .conftest import KERMANY

    run = tmp_path / "run"
    trainer_main(
        ["train", "--arch", "mobilenet_v2_os16_topcells", "--data", str(KERMANY), "--limit", "48", "--epochs", "1"]
        + ["--batch-size", "16", "--image-size", "64", "--out", str(run), "--no-progress"]
        + ["--tissue-composites", "1", "--cell-weight", "1", "--context-weight", "1"]
    )
    summary = json.loads((run / "run.json").read_text())
    hyper = summary["hyperparameters"]
    assert (hyper["tissue_composites"], hyper["cell_weight"], hyper["context_weight"]) == (1.0, 1.0, 1.0)
    losses = [json.loads(line)["train_loss"] for line in (run / "epochs.jsonl").read_text().splitlines()]
    assert losses and all(np.isfinite(losses))
    trainer_main(["export", "--run", str(run), "--name", "cells", "--models-dir", str(tmp_path / "models")])
    card = load_bundle(tmp_path / "models" / "cells").card
    assert card.architecture == "mobilenet_v2_os16_topcells" and card.gradcam.grid == (4, 4)
    assert "top-cell pooling" in card.onnx.verification["head"]
