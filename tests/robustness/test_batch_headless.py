"""The hostile corpus through the headless batch mode: one CSV row per file with a reason, valid files scored."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import pytest

from cxrviewer.__main__ import main
from cxrviewer.core.batch import read_batch_csv

from ..conftest import REPO
from ..offline import NetworkBlockedError, offline_env
from .corpus import ANY, ERROR, OK, SKIPPED

VERDICTS = ("positive", "negative", "indeterminate", "withheld", "unreadable")
BATCH_SECONDS = 180  # the whole corpus (~75 files, ~15 scored) on a loaded 2-core machine


def _rows_by_name(csv_path, root) -> dict[str, dict]:
    rows = read_batch_csv(csv_path)
    return {str(__import__("pathlib").Path(r["path"]).relative_to(root)): r for r in rows}


def _check_rows(rows: dict[str, dict], cases: dict) -> None:
    for name, expect in cases.items():
        assert name in rows, f"{name}: no row in the CSV"
        row = rows[name]
        scored = row["probability"] != ""
        assert row["verdict"] in VERDICTS and "\n" not in row["reason"], f"{name}: {row}"
        if expect.outcome == OK:
            assert scored and row["verdict"] != "unreadable", f"{name}: {row}"
            assert 0.0 <= float(row["probability"]) <= 1.0
            # a label only for a call, and then one of the card's classes
            assert row["label"] in (("NORMAL", "PNEUMONIA") if row["verdict"] in ("positive", "negative") else ("",))
        elif expect.outcome == ERROR:
            assert not scored and row["verdict"] == "unreadable" and not row["label"], f"{name}: {row}"
            assert expect.reason.lower() in row["reason"].lower(), f"{name}: {row['reason']}"
        elif expect.outcome == SKIPPED:
            assert not scored and row["verdict"] == "unreadable", f"{name}: {row}"
            assert row["reason"].startswith("skipped"), f"{name}: {row}"
            assert expect.reason.lower() in row["reason"].lower(), f"{name}: {row['reason']}"
        else:
            assert expect.outcome == ANY
            assert scored != (row["verdict"] == "unreadable"), (
                f"{name}: scored and unreadable exclude each other: {row}"
            )


def test_batch_cli_survives_the_corpus(corpus, tmp_path, viewer_models_dir, viewer_bundle_name, capsys):
    root, cases = corpus
    out = tmp_path / "out.csv"
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(
            [
                "--batch",
                str(root),
                "--csv",
                str(out),
                "--models-dir",
                str(viewer_models_dir),
                "--model",
                viewer_bundle_name,
            ]
        )
    elapsed = time.monotonic() - start
    assert code == 0
    assert elapsed < BATCH_SECONDS, f"batch took {elapsed:.0f} s"
    rows = _rows_by_name(out, root)
    _check_rows(rows, cases)
    # links to folders are listed, not followed (no loop, no duplicate rows from links/up or links/here)
    for link in ("links/up", "links/here"):
        assert rows[link]["reason"] == "skipped: link to a folder (not followed)"
    assert len(rows) == len(read_batch_csv(out)), "a file was listed twice"
    assert not any("/up/" in n or "/here/" in n for n in rows)
    err = capsys.readouterr().err
    assert f"of {len(rows)} files scored" in err


def test_batch_cli_without_any_model_still_reports_every_file(corpus, tmp_path):
    root, cases = corpus
    out = tmp_path / "out.csv"
    empty = tmp_path / "no-models"
    empty.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["--batch", str(root), "--csv", str(out), "--models-dir", str(empty)]) == 0
    rows = _rows_by_name(out, root)
    for name, expect in cases.items():
        assert rows[name]["probability"] == ""
        if expect.outcome == OK:
            assert rows[name]["verdict"] == "withheld" and rows[name]["reason"].endswith("no model available")


def test_sockets_are_blocked_in_tests():
    import socket

    with pytest.raises(NetworkBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routed
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("example.org", 443)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # loopback stays usable
        s.bind(("127.0.0.1", 0))


def test_app_batch_mode_runs_offline_in_its_own_process(
    corpus, tmp_path, viewer_models_dir, viewer_bundle_name, viewer_predictor
):
    """`python -m cxrviewer --batch` in a fresh interpreter whose sockets are blocked from start-up.

    Also checks determinism across runs: the subprocess's probabilities equal this process's.
    """
    from cxrviewer.core import load_study
    from cxrviewer.core.reduced_decode import MIN_SIDE as REDUCED_MIN_SIDE

    root, _ = corpus
    valid = root / "valid"
    out = tmp_path / "offline.csv"
    env = offline_env()
    env["OMP_NUM_THREADS"] = "1"
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 1)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode != 0 and "NetworkBlockedError" in probe.stderr, probe.stderr
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cxrviewer",
            "--batch",
            str(valid),
            "--csv",
            str(out),
            "--models-dir",
            str(viewer_models_dir),
            "--model",
            viewer_bundle_name,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "NetworkBlockedError" not in proc.stderr
    rows = read_batch_csv(out)
    assert len(rows) == 4 and all(r["probability"] for r in rows), rows
    for r in rows:
        # the batch decodes reduced for scoring (core/reduced_decode.py): the same numbers as that decode
        here = viewer_predictor.predict(load_study(r["path"], min_side=REDUCED_MIN_SIDE)).probability
        assert abs(float(r["probability"]) - here) <= 1e-5, (r["path"], r["probability"], here)
