"""What a bundle's card says about its Grad-CAM maps: whether `trainer evaluate` found them faithful.

`trainer evaluate --record-as SPLIT` stores a summary of explanations.json in the card under
``explanations.SPLIT``: the insertion test (does the map's hottest 20 % of a pneumonia film raise a normal
film's score more than random map cells?) and the randomisation sanity check. The viewer shows the map either
way, but says in its key when the map has not been shown to point at the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model_card import ModelCard

PREFERRED_SPLIT = "test_public"  # the official test films; validation films came from the training pool


@dataclass(frozen=True)
class MapCheck:
    measured: bool  # an insertion test and a sanity check are recorded in the card
    faithful: bool  # both met their goals
    summary: str  # one line for the model card dialog
    split: str = ""

    @property
    def key_note(self) -> str:
        """The few words the heat-map key adds: nothing for a validated map."""
        if self.faithful:
            return ""
        return "map not validated" if self.measured else "map not checked"


def map_check(card: ModelCard | None) -> MapCheck:
    recorded: dict[str, Any] = (card.extra.get("explanations") if card is not None else None) or {}
    split = PREFERRED_SPLIT if PREFERRED_SPLIT in recorded else next(iter(sorted(recorded)), "")
    entry = recorded.get(split) or {}
    insertion, sanity = entry.get("insertion"), entry.get("sanity")
    if not isinstance(insertion, dict) or not isinstance(sanity, dict):
        return MapCheck(False, False, "Heat map not checked: the model card records no insertion test.")
    goal = insertion.get("goal", {})
    inserted = (
        f"its hottest 20 % beat random regions in {100 * insertion.get('win_rate', 0):.0f} % of "
        f"{insertion.get('pairs', '?')} pairs (goal {100 * goal.get('win_rate', 0.8):.0f} %), mean gain "
        f"{insertion.get('mean_gain', 0):+.2f} (goal {goal.get('mean_gain', 0.15):+.2f})"
    )
    sane = (
        f"sanity check {'passed' if sanity.get('passes') else 'failed'} "
        f"(rank correlation {sanity.get('max_mean_spearman', float('nan')):.2f}, limit {sanity.get('limit', 0.5)})"
    )
    faithful = bool(insertion.get("meets_goal")) and bool(sanity.get("passes"))
    verdict = "Heat map passed its faithfulness checks" if faithful else "Heat map FAILED its faithfulness checks"
    return MapCheck(True, faithful, f"{verdict} on {split}: {inserted}; {sane}.", split)
