"""Shared fixtures: paths to ../shared data, the shipped bundles, a tiny trained bundle."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# a site calibration in the developer's own settings must never change what the tests see
os.environ["CXRVIEWER_CONFIG_DIR"] = tempfile.mkdtemp(prefix="cxr-test-settings-")

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


@pytest.fixture()
def mixed_folder(tmp_path):
    """Valid studies plus a zero-byte file, a truncated DICOM, a text file and text posing as a JPEG."""
    root = tmp_path / "mixed"
    (root / "sub").mkdir(parents=True)
    shutil.copy(NATIVE_DIR / "NORMAL" / "IM-0230-0001.jpeg", root / "a.jpeg")
    shutil.copy(NATIVE_DIR / "PNEUMONIA" / "person23_bacteria_85.jpeg", root / "sub" / "b.jpeg")
    shutil.copy(DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm", root / "sub" / "chest_no_extension")
    (root / "empty.dcm").write_bytes(b"")
    (root / "truncated.dcm").write_bytes((DICOM_DIR / "gdcm-CR-MONO1-10-chest.dcm").read_bytes()[:3000])
    (root / "notes.txt").write_text("not an image\n")
    (root / "fake.jpeg").write_text("this is text, not a JPEG\n")
    return root


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """A real (tiny) training run on Kermany images and its exported bundle: (run dir, bundle dir)."""
    from trainer.__main__ import main as trainer_main

    base = tmp_path_factory.mktemp("tiny")
    run, models = base / "run", base / "models"
    trainer_main(
        [
            "train",
            "--arch",
            "mobilenet_v2",
            "--data",
            str(KERMANY),
            "--limit",
            "96",
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--image-size",
            "64",
            "--lr",
            "2e-3",
            "--out",
            str(run),
            "--no-progress",
        ]
    )
    trainer_main(["export", "--run", str(run), "--name", "tiny-test", "--models-dir", str(models)])
    return run, models / "tiny-test"


@pytest.fixture(scope="session")
def tiny_bundle_dir(tiny_run) -> Path:
    """Folder of a real trained bundle; tests needing just 'a model' use this (fast, always present)."""
    return tiny_run[1]


# --- viewer / batch tests: a models folder holding at least one real bundle -------------------------
if os.environ.get("OMP_NUM_THREADS") == "1":
    torch.set_num_threads(1)  # shared CI/dev machines: keep the test process to one core


@pytest.fixture(scope="session")
def viewer_models_dir(request, tmp_path_factory) -> Path:
    """resources/models when bundles are shipped, else a folder with a tiny bundle trained now."""
    if shipped_bundles():
        return MODELS_DIR
    try:
        return Path(request.getfixturevalue("tiny_bundle_dir")).parent
    except pytest.FixtureLookupError:
        pass
    from trainer.__main__ import main as trainer_main

    base = tmp_path_factory.mktemp("viewer-bundle")
    trainer_main(
        [
            "train",
            "--arch",
            "mobilenet_v2",
            "--data",
            str(KERMANY),
            "--limit",
            "120",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--image-size",
            "64",
            "--out",
            str(base / "run"),
            "--no-progress",
        ]
    )
    trainer_main(["export", "--run", str(base / "run"), "--name", "tiny-test", "--models-dir", str(base / "models")])
    return base / "models"


@pytest.fixture(scope="session")
def viewer_bundle_name(viewer_models_dir) -> str:
    """The quickest bundle there (smallest graph): viewer tests need a real model, not a big one."""
    from cxrviewer.core import list_bundles, read_card

    bundles = list_bundles(viewer_models_dir)
    assert bundles, f"no bundle in {viewer_models_dir}"
    return min(bundles, key=lambda b: (b / read_card(b).onnx.file).stat().st_size).name


@pytest.fixture(scope="session")
def viewer_predictor(viewer_models_dir, viewer_bundle_name):
    from cxrviewer.core import Predictor, load_bundle

    return Predictor(load_bundle(viewer_models_dir / viewer_bundle_name))


# --- offline: the whole suite runs with network sockets blocked (tests/offline.py) --------------------
@pytest.fixture(autouse=True, scope="session")
def _sockets_blocked():
    """connect/bind/sendto to non-loopback addresses raise NetworkBlockedError in every test."""
    from .offline import block_sockets

    undo = block_sockets()
    yield
    undo()
