"""Model bundles: resources/models/<name>/{model.json, model.onnx, weights.pt}.

The app runs ``model.onnx`` (ONNX Runtime, no torch) after checking its sha256 against the card; the
PyTorch weights stay in the bundle for the trainer (fine-tuning, re-export), which verifies them the same
way (``trainer.models.load_torch_model``).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import BundleError
from .model_card import CARD_FILE, ModelCard
from .preprocess import PreprocessConfig


def default_models_dir() -> Path:
    """resources/models beside the package (source tree) or inside a frozen app."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_file(bundle_dir: Path, card: ModelCard, file_name: str, expected_sha256: str, what: str) -> Path:
    """The path of a bundle file whose sha256 matches the card; BundleError (one line) otherwise."""
    path = Path(bundle_dir) / file_name
    if not path.is_file():
        raise BundleError(f"{card.name}: {what} file {file_name} is missing")
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise BundleError(f"{card.name}: {what} file {file_name} cannot be read ({exc.strerror or exc})") from exc
    if actual != expected_sha256:
        raise BundleError(
            f"{card.name}: {what} file fails its integrity check (sha256 {actual[:12]}… "
            f"≠ {expected_sha256[:12]}… in {CARD_FILE}); the model was altered or damaged and is refused"
        )
    return path


@dataclass(frozen=True)
class ModelBundle:
    """A bundle whose card is valid and whose ONNX graph matches its recorded sha256."""

    path: Path
    card: ModelCard
    onnx_path: Path

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def architecture(self) -> str:
        return self.card.architecture

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return self.card.preprocess

    @property
    def threshold(self) -> float:
        return self.card.threshold

    @property
    def temperature(self) -> float:
        return self.card.temperature

    @property
    def positive_index(self) -> int:
        return self.card.positive_index


def read_card(bundle_dir: str | Path) -> ModelCard:
    return ModelCard.read(bundle_dir)


def load_bundle(bundle_dir: str | Path) -> ModelBundle:
    """Read and validate the card and verify ``model.onnx``; nothing is executed yet."""
    bundle_dir = Path(bundle_dir)
    card = read_card(bundle_dir)
    onnx_path = verified_file(bundle_dir, card, card.onnx.file, card.onnx.sha256, "model graph")
    return ModelBundle(path=bundle_dir, card=card, onnx_path=onnx_path)


def list_bundles(models_dir: str | Path | None = None) -> list[Path]:
    """Folders under ``models_dir`` that hold a model card, sorted by name."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.iterdir() if (p / CARD_FILE).is_file())
