"""The heat map's verdict in the model card dialog and the heat-map key comes from the card's recorded
explanations (``trainer evaluate --record-as``), never from a list of names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cxrviewer.core import ModelCard
from cxrviewer.core.map_check import map_check
from cxrviewer.core.report import model_card_html

from .conftest import shipped_bundles


@pytest.mark.parametrize("bundle_dir", shipped_bundles(), ids=lambda p: p.name)
def test_a_shipped_card_says_what_its_recorded_checks_found(bundle_dir):
    card = ModelCard.read(bundle_dir)
    recorded = card.extra["explanations"]["test_public"]
    check = map_check(card)
    expected = bool(recorded["insertion"]["meets_goal"]) and bool(recorded["sanity"]["passes"])
    assert check.measured and check.split == "test_public" and check.faithful is expected
    assert f"{100 * recorded['insertion']['win_rate']:.0f} % of {recorded['insertion']['pairs']} pairs" in check.summary
    assert (check.key_note == "") is expected
    assert check.summary in model_card_html(card)


def test_one_failed_check_is_enough_to_withhold_the_word_validated(viewer_models_dir, viewer_bundle_name):
    card = ModelCard.read(viewer_models_dir / viewer_bundle_name)
    explanations = {
        "test_public": {
            "insertion": {"pairs": 80, "win_rate": 0.9, "mean_gain": 0.3, "meets_goal": True},
            "sanity": {"passes": True, "max_mean_spearman": 0.2, "limit": 0.5},
        }
    }
    good = replace(card, extra={**card.extra, "explanations": explanations})
    assert map_check(good).faithful and "passed" in map_check(good).summary
    explanations["test_public"]["sanity"] = {"passes": False, "max_mean_spearman": 0.7, "limit": 0.5}
    bad = replace(card, extra={**card.extra, "explanations": explanations})
    assert not map_check(bad).faithful and map_check(bad).key_note == "map not validated"
    assert "sanity check failed (rank correlation 0.70" in map_check(bad).summary


def test_a_card_without_recorded_checks_is_not_called_checked(viewer_models_dir, viewer_bundle_name):
    card = ModelCard.read(viewer_models_dir / viewer_bundle_name)
    bare = replace(card, extra={k: v for k, v in card.extra.items() if k != "explanations"})
    check = map_check(bare)
    assert not check.measured and not check.faithful and check.key_note == "map not checked"
    assert not map_check(None).measured
