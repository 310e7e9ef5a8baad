"""One verdict per study, decided here and nowhere else: positive, negative, indeterminate, withheld, unreadable.

The AI panel, the worklist, the on-image text, the PNG export and both CSVs show what this module decides,
in its words and colours, so a reader never sees a diagnosis in red for a score the app cannot vouch for:

* unreadable: the file could not be decoded (or is not an image);
* withheld: the study is outside what the model was validated on (age, view, modality, the pixel gate), or
  no model could score it; the reason says which, and neither a label nor a heat map is shown;
* indeterminate: the calibrated probability lies in the card's band around the threshold, where the
  operating point itself is uncertain (``trainer.operating_band``): read without AI;
* positive / negative: outside the band, on the side of the threshold it falls.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import one_line


class Verdict(str, Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INDETERMINATE = "indeterminate"
    WITHHELD = "withheld"
    UNREADABLE = "unreadable"

    @property
    def wording(self) -> str:
        """What a reader sees (the CSV carries the verdict word itself)."""
        return WORDING[self]

    @property
    def short(self) -> str:
        """For narrow places (the worklist's verdict column)."""
        return SHORT[self]

    @property
    def scored(self) -> bool:
        """The model's score is vouched for (a call or an explicit 'indeterminate')."""
        return self in (Verdict.POSITIVE, Verdict.NEGATIVE, Verdict.INDETERMINATE)

    @property
    def sort_rank(self) -> int:
        """Worklist order: calls first (by probability within), then withheld, then unreadable."""
        return SORT_RANK[self]


WORDING = {
    Verdict.POSITIVE: "Pneumonia pattern likely",
    Verdict.NEGATIVE: "No pneumonia pattern",
    Verdict.INDETERMINATE: "Indeterminate: read without AI",
    Verdict.WITHHELD: "No AI result: withheld",
    Verdict.UNREADABLE: "Unreadable file",
}
SHORT = {
    Verdict.POSITIVE: "Pneumonia likely",
    Verdict.NEGATIVE: "No pneumonia",
    Verdict.INDETERMINATE: "Indeterminate",
    Verdict.WITHHELD: "Withheld",
    Verdict.UNREADABLE: "Unreadable",
}
SORT_RANK = {
    Verdict.POSITIVE: 0,
    Verdict.INDETERMINATE: 0,
    Verdict.NEGATIVE: 0,
    Verdict.WITHHELD: 1,
    Verdict.UNREADABLE: 2,
}
# (foreground) colours by verdict, shared by the panel, the worklist and the on-image text
COLOURS = {
    Verdict.POSITIVE: "#ff7a6b",
    Verdict.NEGATIVE: "#7ed491",
    Verdict.INDETERMINATE: "#f2c14e",
    Verdict.WITHHELD: "#a0a8b4",
    Verdict.UNREADABLE: "#a0a8b4",
}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str  # empty for a plain call; why for indeterminate / withheld / unreadable


def decide(
    *,
    unreadable: str = "",
    withhold: tuple[str, ...] | list[str] = (),
    probability: float | None = None,
    threshold: float | None = None,
    band: tuple[float, float] | None = None,
) -> Decision:
    """The verdict from what is known about a study, in this order of precedence. Reasons are one line."""
    if unreadable:
        return Decision(Verdict.UNREADABLE, one_line(unreadable, limit=None))  # a reason is one CSV cell / line
    if withhold:
        return Decision(Verdict.WITHHELD, "; ".join(one_line(w, limit=None) for w in withhold))
    if probability is None or threshold is None:
        return Decision(Verdict.WITHHELD, "not scored")
    if band is not None and band[0] <= probability < band[1]:
        return Decision(
            Verdict.INDETERMINATE,
            f"P {probability:.2f} lies in the indeterminate band [{band[0]:.2f}, {band[1]:.2f}) around the "
            f"threshold {threshold:.2f}",
        )
    return Decision(Verdict.POSITIVE if probability >= threshold else Verdict.NEGATIVE, "")
