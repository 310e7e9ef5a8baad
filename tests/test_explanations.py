"""Faithfulness measurements of trainer/explanations.py on models whose evidence is known."""

import numpy as np
import torch

from trainer.backbones import init_model
from trainer.explanations import (
    insertion_test,
    random_cell_mask,
    road_curve,
    sanity_cascade,
    sanity_check,
    substitution_curve,
    top_fraction_mask,
    torch_scorer,
)

from .bright_square_model import BrightSquareNet, film_with_square, to_input


def bright_square_sets(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    positives = np.stack(
        [film_with_square(rng, top=int(rng.integers(0, 88)), left=int(rng.integers(0, 88))) for _ in range(n)]
    )
    normals = np.stack([(0.15 + 0.1 * rng.random((112, 112))).astype(np.float32) for _ in range(n)])
    return positives, normals


def bright_square_scorer(model=None):
    model = (model or BrightSquareNet()).eval()
    return torch_scorer(model, model.features, model.classifier, 1, to_input)


def test_masks_cover_the_asked_fraction():
    heat = np.random.default_rng(1).random((112, 112))
    assert top_fraction_mask(heat, 0.2).sum() == round(0.2 * 112 * 112)
    cells = random_cell_mask((112, 112), (7, 7), 0.2, np.random.default_rng(2))
    assert cells.sum() == 10 * 16 * 16  # 10 whole cells of 16 px: the nearest to 20 % of 49 cells


def test_insertion_hot_region_of_a_faithful_map_wins_every_pair():
    positives, normals = bright_square_sets()
    result = insertion_test(bright_square_scorer(), positives, normals)
    assert result["grid"] == [7, 7]
    assert result["win_rate"] == 1.0
    assert result["mean_gain"] >= 0.15 and result["meets_goal"]
    assert result["mean_p_normal_base"] < 0.5 < result["mean_p_hot"]


def test_insertion_exposes_a_map_that_points_away_from_the_evidence():
    positives, normals = bright_square_sets()
    faithful = bright_square_scorer()

    def inverted(grey):  # same model, map negated: its "hot" region is everywhere but the square
        p, cam = faithful(grey)
        return p, -cam

    result = insertion_test(inverted, positives, normals)
    assert result["win_rate"] < 0.2 and result["mean_gain"] < 0 and not result["meets_goal"]


def test_road_removing_the_hot_pixels_drops_the_score_first():
    positives, _ = bright_square_sets(n=6)
    curve = road_curve(bright_square_scorer(), positives, fractions=(0.1, 0.3))
    morf = curve["mean_p_after_removal"]["most_relevant_first"]
    lerf = curve["mean_p_after_removal"]["least_relevant_first"]
    assert all(m < 0.5 < le for m, le in zip(morf, lerf))
    assert curve["lerf_minus_morf"] > 0.5


def test_sanity_check_fails_for_maps_that_ignore_the_learned_weights():
    """The bright-square map comes from a parameter-free pooling: re-initialising the layers leaves its
    ranking unchanged, which is exactly what the check must report as not passing."""
    positives, _ = bright_square_sets(n=8)
    model = BrightSquareNet().eval()
    result = sanity_check(lambda m: bright_square_scorer(m), model, ["classifier", "features"], positives, seed=0)
    assert result["max_mean_spearman"] > 0.9
    assert not result["passes"]


def test_sanity_check_passes_when_maps_depend_on_the_weights():
    """ImageNet MobileNetV2 (output stride 16) on real-looking input: randomising its top layers must
    decorrelate the map from the original one."""
    torch.manual_seed(0)
    model = init_model("mobilenet_v2_os16", "imagenet")[0].eval()
    from cxrviewer.core.preprocess import PreprocessConfig, to_model_input

    config = PreprocessConfig(112, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "none")
    positives, _ = bright_square_sets(n=6)

    def build(m):
        return torch_scorer(
            m, m.get_submodule("features.18"), m.get_submodule("classifier.1"), 1, lambda g: to_model_input(g, config)
        )

    result = sanity_check(build, model, sanity_cascade("classifier.1", "features.18"), positives, seed=0)
    assert [s["randomized_through"] for s in result["cascade"]] == [
        "classifier.1",
        "features.18",
        "features.17",
        "features.16",
    ]
    assert result["passes"], result
    # each step is the mean of independent randomisations, every one of them recorded
    for step in result["cascade"]:
        draws = step["per_draw_gradcam"]
        assert len(draws) == result["draws"] == 5 and len(set(draws)) == 5
        assert abs(step["mean_spearman_gradcam"] - sum(draws) / 5) < 1e-3


def test_substitution_replacing_the_hot_region_with_normal_tissue_removes_the_evidence():
    positives, normals = bright_square_sets(n=12)
    curve = substitution_curve(bright_square_scorer(), positives, normals, fractions=(0.1, 0.2))
    assert all(h < 0.5 for h in curve["mean_p_hot_replaced"])
    assert curve["random_minus_hot"] > 0.3
