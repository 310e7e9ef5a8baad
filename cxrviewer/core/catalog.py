"""Which model bundles exist and which one to use, without loading any weights."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .architectures import display_name
from .bundle import default_models_dir, list_bundles, read_card
from .errors import BundleError


def bundle_names(models_dir: str | Path | None = None) -> list[str]:
    """Names (folder names) of the bundles with a readable card, sorted."""
    names = []
    for path in list_bundles(models_dir or default_models_dir()):
        try:
            read_card(path)
        except BundleError:
            continue
        names.append(path.name)
    return names


def find_bundle(models_dir: str | Path | None, name: str | None = None) -> Path | None:
    """The bundle folder called ``name`` (or whose card's name is ``name``); without a name, the first one.

    Returns None when there is no bundle; raises BundleError when ``name`` is given but not found.
    """
    paths = list_bundles(models_dir or default_models_dir())
    if name is None:
        return paths[0] if paths else None
    for path in paths:
        if path.name == name:
            return path
        try:
            if read_card(path).name == name:
                return path
        except BundleError:
            continue
    known = ", ".join(p.name for p in paths) or "none"
    raise BundleError(f"no model called {name!r} (available: {known})")


def bundle_labels(models_dir: str | Path | None, names: list[str]) -> dict[str, str]:
    """Short, readable labels for a model menu ("ResNet50 · 128 px · from scratch"), by folder name.

    Bundle names are long enough to be cut off in a narrow side panel; where two bundles would share a
    label, the folder name is added so that none is ambiguous.
    """
    root = Path(models_dir or default_models_dir())
    labels = {}
    for name in names:
        try:
            card = read_card(root / name)
        except BundleError:
            labels[name] = name
            continue
        init = str(card.training.get("init", ""))
        origin = (
            "ImageNet init"
            if init.lower().startswith("imagenet")
            else ("from scratch" if "scratch" in init.lower() else "")
        )
        parts = [display_name(card.architecture), f"{card.preprocess.input_size} px", origin]
        labels[name] = " · ".join(p for p in parts if p)
    counts = Counter(labels.values())
    return {name: (label if counts[label] == 1 else f"{label} ({name})") for name, label in labels.items()}
