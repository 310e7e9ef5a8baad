"""Model bundles: resources/models/<name>/{model.json, weights.pt}, verified by sha256 before loading."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from .errors import BundleError
from .preprocess import PreprocessConfig

if TYPE_CHECKING:  # torch is imported where weights are read or written: listing bundles stays light
    import torch.nn as nn

CARD_FILE = "model.json"
REQUIRED_KEYS = ("name", "architecture", "preprocess", "class_names", "positive_class", "threshold",
                 "temperature", "weights_file", "weights_sha256")


def default_models_dir() -> Path:
    """resources/models beside the package (source tree) or inside a frozen app."""
    import sys

    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / "models"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ModelBundle:
    path: Path
    card: dict
    model: nn.Module

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def architecture(self) -> str:
        return self.card["architecture"]

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig.from_dict(self.card["preprocess"])

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    @property
    def temperature(self) -> float:
        return float(self.card["temperature"])

    @property
    def positive_index(self) -> int:
        return self.card["class_names"].index(self.card["positive_class"])


def read_card(bundle_dir: str | Path) -> dict:
    bundle_dir = Path(bundle_dir)
    card_path = bundle_dir / CARD_FILE
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BundleError(f"{bundle_dir.name}: no {CARD_FILE} in the model folder") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{bundle_dir.name}: {CARD_FILE} is unreadable ({exc})") from exc
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise BundleError(f"{bundle_dir.name}: {CARD_FILE} lacks {', '.join(missing)}")
    return card


def load_bundle(bundle_dir: str | Path) -> ModelBundle:
    """Load a bundle on the CPU in eval mode, refusing weights whose sha256 differs from the card's."""
    bundle_dir = Path(bundle_dir)
    card = read_card(bundle_dir)
    weights_path = bundle_dir / card["weights_file"]
    if not weights_path.is_file():
        raise BundleError(f"{card['name']}: weights file {card['weights_file']} is missing")
    actual = sha256_file(weights_path)
    if actual != card["weights_sha256"]:
        raise BundleError(
            f"{card['name']}: weights file fails its integrity check (sha256 {actual[:12]}… "
            f"≠ {card['weights_sha256'][:12]}… in {CARD_FILE}); the model was altered or damaged and is refused"
        )
    import torch

    from .architectures import build_model

    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model = build_model(card["architecture"], num_classes=len(card["class_names"]))
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as exc:  # weights that pass the hash but do not fit the architecture
        raise BundleError(f"{card['name']}: weights do not load into {card['architecture']} ({exc})") from exc
    model.eval()
    return ModelBundle(path=bundle_dir, card=card, model=model)


def list_bundles(models_dir: str | Path | None = None) -> list[Path]:
    """Folders under ``models_dir`` that hold a model card, sorted by name."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.iterdir() if (p / CARD_FILE).is_file())


def write_bundle(bundle_dir: str | Path, model: nn.Module, card: dict, half: bool = False) -> Path:
    """Write weights and card; fills in weights_file, weights_sha256 and weights_dtype."""
    import torch

    bundle_dir = Path(bundle_dir)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu()
             for k, v in model.state_dict().items()}
    weights_path = bundle_dir / "weights.pt"
    torch.save(state, weights_path)
    card = dict(card, weights_file=weights_path.name, weights_sha256=sha256_file(weights_path),
                weights_dtype="float16" if half else "float32")
    (bundle_dir / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return bundle_dir
