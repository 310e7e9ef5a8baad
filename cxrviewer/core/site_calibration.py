"""A local operating point: threshold (and temperature) fitted on a site's own labelled films.

``python -m cxrviewer calibrate --data DIR --target-sensitivity 0.97`` (and AI > Calibrate for this site...)
scores DIR/NORMAL and DIR/PNEUMONIA with the bundle, fits the temperature (NLL) and the highest threshold
that keeps the target sensitivity, with bootstrap intervals and the indeterminate band by the same rules the
shipped card was made with (:mod:`cxrviewer.core.operating_point`). The profile is stored in the user's
settings folder, bound to the bundle's graph sha256: it never attaches to another bundle, and the bundle
itself never changes. ``--reset`` (AI > Reset site calibration) removes it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from .bundle import ModelBundle
from .errors import StudyError
from .model_card import ModelCard
from .operating_point import (
    OperatingPoint,
    bootstrap_thresholds,
    choose_threshold,
    fit_temperature,
    rates_with_intervals,
    softmax_positive,
    threshold_band,
)
from .sniff import looks_like_study

PROFILES_FILE = "site_profiles.json"
MIN_FILMS_PER_CLASS = 30  # below this a sensitivity target of 0.97 rests on one or two films


class CalibrationError(ValueError):
    """The data cannot support a site calibration; the message says why in one line."""


def settings_dir() -> Path:
    """The user's cxrviewer settings folder (the one Qt's QSettings uses on Linux); CXRVIEWER_CONFIG_DIR wins."""
    override = os.environ.get("CXRVIEWER_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "cxrviewer"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "cxrviewer"
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "cxrviewer"


@dataclass(frozen=True)
class SiteProfile:
    bundle_name: str
    bundle_sha256: str  # of model.onnx: the profile belongs to exactly this graph
    threshold: float
    temperature: float
    band: tuple[float, float]
    target_sensitivity: float
    n_normal: int
    n_positive: int
    created: str  # ISO date
    data: str  # the folder it was fitted on
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.n_normal + self.n_positive

    def operating_point(self) -> OperatingPoint:
        return OperatingPoint(
            self.threshold, self.temperature, self.band, f"site-calibrated (n={self.n}, {self.created})"
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["band"] = list(self.band)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SiteProfile:
        return cls(**{**d, "band": (float(d["band"][0]), float(d["band"][1]))})


def shipped_operating_point(card: ModelCard) -> OperatingPoint:
    band = card.indeterminate_band
    return OperatingPoint(card.threshold, card.temperature, (band.low, band.high) if band else None, "shipped")


def _read_all(folder: Path) -> dict[str, Any]:
    path = folder / PROFILES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError):
        return {}  # an unreadable profile file means no calibration, never a crash
    return data if isinstance(data, dict) else {}


def _write_all(folder: Path, profiles: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".site_profiles.", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(profiles, fh, indent=2)
        os.replace(tmp, folder / PROFILES_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_profile(card: ModelCard, folder: Path | None = None) -> SiteProfile | None:
    """This bundle's site profile, if one was fitted for exactly its graph."""
    raw = _read_all(folder or settings_dir()).get(card.onnx.sha256)
    if not isinstance(raw, dict):
        return None
    try:
        profile = SiteProfile.from_dict(raw)
    except (KeyError, TypeError, ValueError):
        return None
    return profile if profile.bundle_sha256 == card.onnx.sha256 else None


def save_profile(profile: SiteProfile, folder: Path | None = None) -> Path:
    folder = folder or settings_dir()
    profiles = _read_all(folder)
    profiles[profile.bundle_sha256] = profile.to_dict()
    _write_all(folder, profiles)
    return folder / PROFILES_FILE


def reset_profile(card: ModelCard, folder: Path | None = None) -> bool:
    """Remove this bundle's profile; True if there was one."""
    folder = folder or settings_dir()
    profiles = _read_all(folder)
    if profiles.pop(card.onnx.sha256, None) is None:
        return False
    _write_all(folder, profiles)
    return True


def labelled_films(data: Path, card: ModelCard) -> list[tuple[Path, int]]:
    """(path, 1 for the positive class) for every image in DATA/<class name>/ (recursively)."""
    films = []
    for name in card.class_names:
        folder = data / name
        if folder.is_dir():
            label = int(name == card.positive_class)
            films += [(p, label) for p in sorted(folder.rglob("*")) if p.is_file() and looks_like_study(p)]
    return films


def calibrate(
    bundle: ModelBundle,
    data: str | os.PathLike[str],
    target_sensitivity: float = 0.97,
    progress=None,
    n_boot: int = 1000,
) -> SiteProfile:
    """Fit a site profile on DATA/<negative class>/ and DATA/<positive class>/; CalibrationError if it cannot."""
    from .batch import withhold_reasons
    from .predictor import Predictor
    from .study import load_study

    card = bundle.card
    data = Path(data)
    if not 0.5 <= target_sensitivity < 1.0:
        raise CalibrationError(f"target sensitivity {target_sensitivity:g} must lie in [0.5, 1)")
    films = labelled_films(data, card)
    predictor = Predictor(bundle)
    logits, labels, skipped = [], [], 0
    for i, (path, label) in enumerate(films):
        try:
            study = load_study(path)
        except StudyError:
            skipped += 1
            continue
        if withhold_reasons(study, predictor):  # what the app would withhold is no evidence about its calls
            skipped += 1
            continue
        logits.append(predictor.model(predictor.model_input(study)[None])[0][0])
        labels.append(label)
        if progress:
            progress(i + 1, len(films))
    y = np.array(labels, dtype=np.int64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if min(n_pos, n_neg) < MIN_FILMS_PER_CLASS:
        raise CalibrationError(
            f"{data}: {n_neg} {card.negative_class} and {n_pos} {card.positive_class} films usable "
            f"(folders {card.negative_class}/ and {card.positive_class}/); at least {MIN_FILMS_PER_CLASS} of each "
            "are needed"
        )
    z = np.stack(logits)
    temperature = fit_temperature(z, y)
    probs = softmax_positive(z, temperature, card.positive_index)
    threshold = choose_threshold(probs, y, target_sensitivity)
    band = threshold_band(probs, y, threshold, target_sensitivity, n_boot=n_boot, where="site")
    shipped = softmax_positive(z, card.temperature, card.positive_index)
    measured = {
        "site": rates_with_intervals(probs, y, threshold, n_boot=n_boot),
        "shipped_threshold_on_site_films": rates_with_intervals(shipped, y, card.threshold, n_boot=n_boot),
        "band": band["measured"],
        "band_rule": band["rule"],
        "films_skipped": skipped,
        "threshold_ci95": [
            float(v)
            for v in np.percentile(bootstrap_thresholds(probs, y, target_sensitivity, n_boot, seed=1), [2.5, 97.5])
        ],
    }
    return SiteProfile(
        bundle_name=card.name,
        bundle_sha256=card.onnx.sha256,
        threshold=threshold,
        temperature=temperature,
        band=(band["low"], band["high"]),
        target_sensitivity=target_sensitivity,
        n_normal=n_neg,
        n_positive=n_pos,
        created=date.today().isoformat(),
        data=str(data),
        measured=measured,
    )


def describe(profile: SiteProfile) -> str:
    site = profile.measured.get("site", {})
    ci = site.get("ci95", {})

    def pct(key: str) -> str:
        lo, hi = ci.get(key, [float("nan")] * 2)
        return f"{site.get(key, float('nan')):.3f} [{lo:.3f}-{hi:.3f}]"

    return (
        f"{profile.bundle_name}: site threshold {profile.threshold:.3f} (shipped: see the model card), temperature "
        f"{profile.temperature:.3f}, indeterminate band [{profile.band[0]:.3f}, {profile.band[1]:.3f}); on "
        f"{profile.n_normal} normal and {profile.n_positive} positive films: sensitivity {pct('sensitivity')}, "
        f"specificity {pct('specificity')}"
    )


__all__ = [
    "CalibrationError",
    "SiteProfile",
    "calibrate",
    "describe",
    "load_profile",
    "reset_profile",
    "save_profile",
    "settings_dir",
    "shipped_operating_point",
]
