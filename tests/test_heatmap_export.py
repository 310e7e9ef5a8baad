"""`--batch DIR --csv OUT --heatmaps MAPDIR`: each scored study's map, in the study's own pixel grid."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cxrviewer.__main__ import main as cxrviewer_main
from cxrviewer.core import ModelCard, Predictor, load_bundle, load_study
from cxrviewer.core.batch import read_batch_csv, run_batch
from cxrviewer.core.bundle import sha256_file
from cxrviewer.core.cam import heatmap_for_study
from cxrviewer.core.heatmap_export import read_heatmap_png
from cxrviewer.core.reduced_decode import MIN_SIDE as REDUCED_MIN_SIDE
from trainer.onnx_export import export_graph

from .bright_square_model import CONFIG, BrightSquareNet
from .conftest import NATIVE_DIR, shipped_bundles


@pytest.fixture(scope="module")
def bright_square_bundle(tmp_path_factory):
    """A bundle whose graph is the bright-square net, exported by the trainer's own exporter."""
    model = BrightSquareNet().eval()
    out = tmp_path_factory.mktemp("bright") / "bright-square"
    out.mkdir()
    graph = export_graph(model, model.features, model.classifier, 1, CONFIG.input_size, half=False)
    (out / "model.onnx").write_bytes(graph)
    (out / "weights.pt").write_bytes(b"unused by the app")
    raw = json.loads((shipped_bundles()[0] / "model.json").read_text())
    raw.update(
        name="bright-square",
        preprocess=CONFIG.to_dict(),
        gradcam={"layer": "features", "grid": [7, 7]},
        weights_sha256=sha256_file(out / "weights.pt"),
    )
    raw["onnx"] = dict(raw["onnx"], sha256=sha256_file(out / "model.onnx"))
    raw.pop("intended_population", None)  # no age rule: the test films carry no DICOM age
    ModelCard.from_json(raw).write(out)
    return out


def synthetic_film(path, shape=(300, 500), square=(60, 320, 80)):
    """A dim non-square film with one bright square (top, left, side) in its own pixel grid."""
    rng = np.random.default_rng(0)
    film = (40 + 20 * rng.random(shape)).astype(np.uint8)
    top, left, side = square
    film[top : top + side, left : left + side] = 250
    Image.fromarray(film).save(path)
    return film


def film_with_known_square(path) -> tuple[int, int, int]:
    """A real Kermany film (1256 x 1624, not square), dimmed, with one bright square pasted at a known place:
    the pixel gate still takes it for a paediatric chest film, and the bright-square net's evidence is there."""
    study = load_study(sorted(NATIVE_DIR.glob("*/*.jpeg"))[0])
    pixels = study.pixels * 0.6
    h, w = pixels.shape
    top, left, side = h // 5, int(w * 0.6), h // 6
    pixels[top : top + side, left : left + side] = 1.0
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)
    return top, left, side


def test_heatmap_png_lies_on_the_study_grid_with_the_hot_square_in_place(tmp_path, bright_square_bundle):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    top, left, side = film_with_known_square(folder / "sub" / "film.png")
    predictor = Predictor(load_bundle(bright_square_bundle), site=False)
    results = run_batch(folder, tmp_path / "out.csv", predictor, None, heatmaps_dir=tmp_path / "maps")
    assert [r.verdict.scored for r in results] == [True], results[0].reason
    path = tmp_path / "maps" / "sub" / "film.png"  # the scanned folder's subfolders are mirrored
    with Image.open(path) as img:
        assert img.mode in ("I;16", "I;16B", "I")
    heat = read_heatmap_png(path)
    study = load_study(folder / "sub" / "film.png")
    assert heat.shape == study.shape == (1256, 1624)  # the study's own grid, not the model's 112 x 112
    row, col = np.unravel_index(np.argmax(heat), heat.shape)
    assert top <= row < top + side and left <= col < left + side
    inside = heat[top : top + side, left : left + side].mean()
    far = np.ones(heat.shape, dtype=bool)
    far[max(0, top - side) : top + 2 * side, max(0, left - side) : left + 2 * side] = False
    assert inside > 0.5 and heat[far].mean() < 0.5 * inside
    assert np.abs(heat - predictor.gradcam(study)).max() <= 1 / 65535 + 1e-6  # the viewer's map, quantised


def test_withheld_and_unreadable_studies_get_no_map(tmp_path, bright_square_bundle):
    folder = tmp_path / "in"
    folder.mkdir()
    synthetic_film(folder / "film.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    predictor = Predictor(load_bundle(bright_square_bundle), site=False)
    # the shipped pixel gate withholds the synthetic film: no map for it, nor for the broken file
    run_batch(folder, tmp_path / "out.csv", predictor, None, heatmaps_dir=tmp_path / "maps")
    rows = read_batch_csv(tmp_path / "out.csv")
    assert len(rows) == 2
    assert not (tmp_path / "maps").exists() or not any((tmp_path / "maps").rglob("*.png"))


@pytest.mark.parametrize("bundle_dir", [pytest.param(p, id=p.name) for p in shipped_bundles()[:1]])
def test_cli_writes_the_shipped_models_map_per_scored_film(tmp_path, bundle_dir):
    folder = tmp_path / "films"
    folder.mkdir()
    films = sorted(NATIVE_DIR.glob("*/*.jpeg"))[:2]
    for film in films:
        shutil.copy(film, folder / film.name)
    code = cxrviewer_main(
        [
            "--batch",
            str(folder),
            "--csv",
            str(tmp_path / "out.csv"),
            "--heatmaps",
            str(tmp_path / "maps"),
            "--models-dir",
            str(bundle_dir.parent),
            "--model",
            bundle_dir.name,
        ]
    )
    assert code == 0
    predictor = Predictor(load_bundle(bundle_dir), site=False)
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in read_batch_csv(tmp_path / "out.csv")}
    for film in films:
        study = load_study(folder / film.name)
        png = tmp_path / "maps" / f"{film.stem}.png"
        if rows[film.name]["verdict"] == "withheld":
            assert not png.exists()
            continue
        heat = read_heatmap_png(png)
        assert heat.shape == study.shape
        # the batch scores the film decoded reduced (reduced_decode.py) and writes that pass's map, stretched
        # over the file's full pixel grid
        reduced = load_study(folder / film.name, min_side=REDUCED_MIN_SIDE)
        _, cam = predictor.model(predictor.model_input(reduced)[None])
        expected = heatmap_for_study(cam[0], predictor.config.input_size, study.shape)
        assert np.abs(heat - expected).max() <= 1 / 65535 + 1e-6
        # and it is the map of the full decode up to what the reduced decode moves (1.4 % at most measured here)
        assert np.abs(heat - predictor.gradcam(study)).max() < 0.05


def test_heatmaps_flag_needs_batch(capsys):
    assert cxrviewer_main(["--heatmaps", "/tmp/x"]) == 2
    assert "--heatmaps" in capsys.readouterr().err
