"""Fixtures for the hostile-input suite: the generated corpus, time and memory bounds."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from .corpus import add_links, build_corpus

# Generous for a loaded 2-core CI machine; a real hang (or a 20000x20000 decode) takes far longer.
FILE_SECONDS = 20.0
# Peak-RSS growth allowed while loading one file: a 20000x20000 allocation is 400 MB even at 8 bits.
FILE_MEMORY_MB = 300


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    cases = build_corpus(root)
    cases.update(add_links(root))
    return root, cases


def bounded(fn, seconds: float = FILE_SECONDS, what: str = "call"):
    """Run ``fn`` in a daemon thread; fail the test (instead of hanging the suite) past ``seconds``."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"{what} did not finish within {seconds:.0f} s (hang)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class PeakMemory:
    """Peak resident memory growth (MB) of this process over a block, via VmHWM reset (Linux)."""

    def __init__(self):
        self.growth_mb: float | None = None

    @staticmethod
    def _read(key: str) -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
        raise KeyError(key)

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS
            self._start = self._read("VmRSS:")
            self.available = True
        except OSError:
            self.available = False
        return self

    def __exit__(self, *exc):
        if self.available:
            self.growth_mb = (self._read("VmHWM:") - self._start) / 1024
        return False


@pytest.fixture
def tampered_models_dir(tmp_path, viewer_models_dir, viewer_bundle_name):
    """A models folder whose only bundle has one bit flipped in its ONNX graph (what the app runs)."""
    import shutil

    models = tmp_path / "models"
    shutil.copytree(viewer_models_dir / viewer_bundle_name, models / viewer_bundle_name)
    weights = models / viewer_bundle_name / "model.onnx"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    return models, viewer_bundle_name
