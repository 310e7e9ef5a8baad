"""What the app knows about one study: the facts (score, reasons, age evidence) and the verdict they give.

The verdict, the label and the wording are derived from the facts by :func:`cxrviewer.core.verdict.decide`
on every read, so no code path can show a label the verdict does not allow (a withheld study has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .verdict import Decision, Verdict, decide


@dataclass
class StudyResult:
    """What the worklist and both CSVs know about one file."""

    path: Path
    patient_name: str = ""
    patient_id: str = ""
    study_date: str = ""
    modality: str = ""
    view: str = ""
    probability: float | None = None  # calibrated P(positive class); kept for audit even when withheld
    threshold: float | None = None
    band: tuple[float, float] | None = None  # the indeterminate band around the threshold
    threshold_source: str = ""  # "shipped" or "site-calibrated (n, date)"
    model: str = ""
    positive_class: str = ""
    negative_class: str = ""
    warnings: list[str] = field(default_factory=list)  # reasons the score is withheld
    error: str = ""  # why the file was not scored
    unreadable: bool = False  # error is about the file itself (not decodable, not an image)
    age: str = ""  # the age evidence used, in words ("64 y (PatientBirthDate+StudyDate ...)")
    age_years: float | None = None
    study_instance_uid: str = ""
    series_instance_uid: str = ""

    @property
    def scored(self) -> bool:
        """The model produced a probability (which the verdict may still withhold)."""
        return self.probability is not None

    @property
    def decision(self) -> Decision:
        return decide(
            unreadable=self.error if self.unreadable else "",
            withhold=[*self.warnings, *([self.error] if self.error and not self.unreadable else [])],
            probability=self.probability,
            threshold=self.threshold,
            band=self.band,
        )

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def reason(self) -> str:
        return self.decision.reason

    @property
    def label(self) -> str:
        """The class the model calls, only for a positive or negative verdict."""
        verdict = self.verdict
        if verdict is Verdict.POSITIVE:
            return self.positive_class
        if verdict is Verdict.NEGATIVE:
            return self.negative_class
        return ""

    @property
    def positive(self) -> bool:
        return self.verdict is Verdict.POSITIVE

    @property
    def status(self) -> str:
        """The verdict in words, with its reason: the worklist's status column."""
        decision = self.decision
        return decision.verdict.wording + (f" - {decision.reason}" if decision.reason else "")
