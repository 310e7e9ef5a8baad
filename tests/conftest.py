"""Shared fixtures: paths to ../shared data, the shipped bundles, a tiny trained bundle."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DICOM_DIR = SHARED / "data" / "dicom"
NATIVE_DIR = SHARED / "data" / "native"
KERMANY = SHARED / "data" / "kermany224"
MODELS_DIR = REPO / "resources" / "models"

torch.set_num_threads(min(2, os.cpu_count() or 1))


def shipped_bundles() -> list[Path]:
    from cxrviewer.core import list_bundles

    return list_bundles(MODELS_DIR)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    assert SHARED.is_dir(), f"shared data expected at {SHARED}"
    return SHARED
