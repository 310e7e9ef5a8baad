"""The one CSV schema for results, shared by the GUI's worklist export and ``--batch``."""

from __future__ import annotations

from .anonymise import HIDDEN, display_name, format_date, format_person_name
from .study_result import StudyResult

# One schema for the GUI's worklist export and `--batch`: the verdict (one of the five words) and its reason
# first, the score kept for audit (a withheld row has a probability but never a label), then the evidence.
RESULT_COLUMNS = (
    "path",
    "verdict",
    "reason",
    "probability",
    "label",
    "threshold",
    "threshold_source",
    "indeterminate_band",
    "model",
    "age",
    "age_years",
    "patient",
    "patient_id",
    "date",
    "modality",
    "view",
    "study_instance_uid",
    "series_instance_uid",
)


def result_row(r: StudyResult, anonymise: bool = False, index: int | None = None) -> dict[str, str]:
    """A result as one CSV row. Anonymised rows carry no name, ID, date, file name or path (not in the reason)."""
    shown = display_name(r.path, anonymise, index) if anonymise else str(r.path)
    reason = r.reason.replace(r.path.name, shown) if anonymise and r.path.name else r.reason
    return {
        "path": shown,
        "verdict": r.verdict.value,
        "reason": reason,
        "probability": "" if r.probability is None else f"{r.probability:.6f}",
        "label": r.label,
        "threshold": "" if r.threshold is None else f"{r.threshold:g}",
        "threshold_source": r.threshold_source,
        "indeterminate_band": "" if r.band is None else f"[{r.band[0]:.4f}, {r.band[1]:.4f})",
        "model": r.model,
        "age": HIDDEN if anonymise and r.age_years is not None else r.age,
        "age_years": "" if r.age_years is None else (HIDDEN if anonymise else f"{r.age_years:.2f}"),
        "patient": HIDDEN if anonymise and (r.patient_name or r.patient_id) else format_person_name(r.patient_name),
        "patient_id": HIDDEN if anonymise and r.patient_id else r.patient_id,
        "date": HIDDEN if anonymise and r.study_date else format_date(r.study_date),
        "modality": r.modality,
        "view": r.view,
        # UIDs identify the study in the archive; an anonymised export carries none
        "study_instance_uid": HIDDEN if anonymise and r.study_instance_uid else r.study_instance_uid,
        "series_instance_uid": HIDDEN if anonymise and r.series_instance_uid else r.series_instance_uid,
    }
