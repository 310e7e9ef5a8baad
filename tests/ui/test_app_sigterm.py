"""SIGTERM (logout, shutdown, `kill`) closes the viewer normally: exit status 0 and settings saved."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import REPO


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32", reason="POSIX signals")
def test_sigterm_closes_the_window_and_saves_settings(tmp_path):
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        PYTHONPATH=str(REPO),
    )
    conf = tmp_path / "config" / "cxrviewer" / "cxrviewer.conf"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxrviewer"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not conf.exists():  # settings reach the disk only once the event loop runs
            assert proc.poll() is None, proc.stdout.read()[-2000:]
            assert time.monotonic() < deadline, "the viewer never wrote its settings"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    assert "geometry=" in conf.read_text(), "closeEvent did not run"
