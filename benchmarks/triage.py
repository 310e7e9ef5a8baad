"""Folder triage: the new batch pipeline beside the old one (studies/s), per shipped bundle.

    .venv/bin/python benchmarks/triage.py [--repeats 3] [--threads N] [--batch-size B]  # its RESULTS.md section

`make bench` (benchmarks/run.py) runs it too. The folder is the native-resolution films of ../shared
(data/native: 20 JPEGs, 912-2268 px, and data/dicom: 7 DICOMs, three of them 1760-1955 px JPEG 2000), the
same set as run.py's folder throughput. Every path is `run_batch` (2 decode threads a few files ahead of the
model, the CSV written, the shipped pixel gate on):

* old: every film decoded at full size in the decode threads, scored at batch 1
  (``min_side=None, batch_size=1, dicom_processes=0``), as the batch mode ran before;
* reduced: JPEG / JPEG 2000 decoded reduced (core/reduced_decode.py), still batch 1 and threads;
* batched: also up to 8 ready films per forward pass (core/batch_scoring.py);
* new (the default of run_batch): also compressed DICOMs decoded in processes, off the GIL
  (core/batch_decode.py).

Timings are medians of repeats, the paths alternating so that load from other processes falls on all alike.
The first round (not counted) also starts the decode processes, once per program like loading the model.
Beside them: the forward pass alone on the folder's model inputs at batch 1 and 8 (the bound of an
inference-bound folder), the CPU each path spends per study (a bound that load does not move much), the CPU
of each stage of a file's way (decode, input checks, preprocessing, forward pass), and how
long a thread beside each DICOM's decode waits for the GIL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
BEGIN, END = "<!-- triage: benchmarks/triage.py -->", "<!-- /triage -->"

from cxrviewer.core import Predictor, list_bundles, load_bundle, load_study  # noqa: E402
from cxrviewer.core.batch import prepare_study_file, read_batch_csv, run_batch  # noqa: E402
from cxrviewer.core.batch_scoring import DEFAULT_BATCH_SIZE  # noqa: E402
from cxrviewer.core.input_checks import check_study, load_reference  # noqa: E402
from cxrviewer.core.preprocess import preprocess  # noqa: E402
from cxrviewer.core.reduced_decode import MIN_SIDE  # noqa: E402

PATHS = ("old", "reduced", "batched", "new")  # each step adds one change to the one before


def path_options(label: str, batch_size: int) -> dict:
    """run_batch's options for one path (new: its defaults, except a --batch-size asked for)."""
    return {
        "old": {"min_side": None, "batch_size": 1, "dicom_processes": 0},
        "reduced": {"min_side": MIN_SIDE, "batch_size": 1, "dicom_processes": 0},
        "batched": {"min_side": MIN_SIDE, "batch_size": batch_size, "dicom_processes": 0},
        "new": {} if batch_size == DEFAULT_BATCH_SIZE else {"batch_size": batch_size},
    }[label]


def films() -> list[Path]:
    return sorted((SHARED / "data" / "native").glob("*/*.jpeg")) + sorted((SHARED / "data" / "dicom").glob("*.dcm"))


def forward_ms(predictor: Predictor, files: list[Path], batch_size: int, repeats: int) -> float:
    """The forward pass alone, ms per study, over the folder's own model inputs (best of ``repeats``)."""
    prepared = (prepare_study_file(p, predictor, None, MIN_SIDE) for p in files)
    inputs = np.stack([x for _, x, _ in prepared if x is not None])
    best = float("inf")
    for _ in range(repeats + 1):
        t = time.perf_counter()
        for start in range(0, len(inputs), batch_size):
            predictor.model(inputs[start : start + batch_size])
        best = min(best, time.perf_counter() - t)
    return 1000 * best / len(inputs)


def stage_cpu_ms(
    predictor: Predictor, reference, files: list[Path], repeats: int, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, float]:
    """CPU per study of each stage of a file's way, one file at a time (ONNX Runtime's threads included): where
    the CPU goes, and so what bounds a folder on this machine. Best of ``repeats``."""

    def per_study(step, items, studies: int) -> float:
        best = float("inf")
        for _ in range(repeats + 1):
            cpu = cpu_seconds()
            for item in items:
                step(item)
            best = min(best, cpu_seconds() - cpu)
        return 1000 * best / studies

    reduced = [load_study(p, min_side=MIN_SIDE) for p in files]
    for study in reduced:
        study.raw = None  # not needed below: half the memory
    inputs = np.stack([preprocess(s.pixels, predictor.config) for s in reduced])
    batches = [inputs[i : i + batch_size] for i in range(0, len(inputs), batch_size)]
    n = len(files)
    return {
        "decode_full": per_study(load_study, files, n),
        "decode_reduced": per_study(lambda p: load_study(p, min_side=MIN_SIDE), files, n),
        "checks": per_study(lambda s: check_study(s, reference), reduced, n),
        "preprocess": per_study(lambda s: preprocess(s.pixels, predictor.config), reduced, n),
        "forward_batch1": per_study(lambda x: predictor.model(x[None]), inputs, n),
        "forward_batched": per_study(predictor.model, batches, n),
    }


def cpu_seconds() -> float:
    """CPU time of this process and of its live child processes (the decode processes), user + system."""
    own = os.times()
    total = own.user + own.system
    for child in multiprocessing.active_children():
        try:  # Linux: utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def bench_bundle(
    bundle_dir: Path, repeats: int, threads: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict:
    predictor = Predictor(load_bundle(bundle_dir), threads=threads, site=False)
    reference = load_reference()
    tmp = Path(tempfile.mkdtemp(prefix="cxr-triage-"))
    folder = tmp / "films"
    folder.mkdir()
    files = films()
    for p in files:
        os.symlink(p, folder / f"{p.parent.name}-{p.name}")
    times: dict[str, list[float]] = {label: [] for label in PATHS}
    cpu_times: dict[str, list[float]] = {label: [] for label in PATHS}
    probabilities: dict[str, dict[str, str]] = {}
    for i in range(repeats + 1):  # the first round warms caches, starts the decode processes, is not counted
        for label in PATHS:
            out = tmp / f"{label}.csv"
            t, cpu = time.perf_counter(), cpu_seconds()
            options = path_options(label, batch_size)
            run_batch(folder, out, predictor, reference, keep_results=False, **options)
            if i:
                times[label].append(time.perf_counter() - t)
                cpu_times[label].append(cpu_seconds() - cpu)
            probabilities[label] = {r["path"]: r["probability"] for r in read_batch_csv(out)}
    shutil.rmtree(tmp, ignore_errors=True)

    def largest_difference(label: str, base: str) -> float:
        pairs = [(p, probabilities[base].get(path)) for path, p in probabilities[label].items()]
        return max((abs(float(a) - float(b)) for a, b in pairs if a and b), default=0.0)

    per_s = {label: len(files) / statistics.median(times[label]) for label in PATHS}
    return {
        "name": bundle_dir.name,
        "files": len(files),
        **{f"{label}_per_s": rate for label, rate in per_s.items()},
        **{f"{label}_cpu_ms": 1000 * statistics.median(cpu_times[label]) / len(files) for label in PATHS},
        "speedup": per_s["new"] / per_s["old"],
        "max_probability_difference": largest_difference("new", "old"),
        "batched_vs_batch1_difference": largest_difference("new", "reduced"),
        "forward_ms_batch1": forward_ms(predictor, files, 1, repeats),
        "forward_ms_batched": forward_ms(predictor, files, batch_size, repeats),
        "stages": stage_cpu_ms(predictor, reference, files, repeats, batch_size),
        "threads": predictor.model.session.get_session_options().intra_op_num_threads,
        "repeats": repeats,
        "batch_size": batch_size,
    }


def dicom_gil_stalls(repeats: int = 3) -> list[dict]:
    """Per DICOM of the folder: decode time and the longest wait of a 1 ms heartbeat thread (in the same
    process), reduced and full decode. A decoder that lets go of the GIL leaves the heartbeat at ~1 ms."""
    rows = []
    for path in sorted((SHARED / "data" / "dicom").glob("*.dcm")):
        row: dict = {"name": path.name}
        for label, min_side in (("reduced", MIN_SIDE), ("full", None)):
            load_study(path, min_side=min_side)  # warm the file cache and the decoder's imports
            done, took = threading.Event(), []

            def decode(path=path, min_side=min_side, done=done, took=took):
                t = time.perf_counter()
                for _ in range(repeats):
                    load_study(path, min_side=min_side)
                took.append((time.perf_counter() - t) / repeats)
                done.set()

            worker = threading.Thread(target=decode)
            last, longest = time.perf_counter(), 0.0
            worker.start()
            while not done.is_set():
                time.sleep(0.001)
                now = time.perf_counter()
                longest, last = max(longest, now - last), now
            worker.join()
            row[f"{label}_decode_ms"], row[f"{label}_stall_ms"] = 1000 * took[0], 1000 * longest
        rows.append(row)
    return rows


def section(results: list[dict], stalls: list[dict] | None = None) -> str:
    stalls = dicom_gil_stalls() if stalls is None else stalls
    load = os.getloadavg()[0]
    threads = results[0]["threads"] if results else 0
    batch = results[0]["batch_size"] if results else DEFAULT_BATCH_SIZE
    lines = [
        BEGIN,
        "## Folder triage: the batch pipeline, old and new (studies/s)\n",
        f"`python benchmarks/triage.py` on {time.strftime('%Y-%m-%d %H:%M')}, load average {load:.2f} "
        f"({os.cpu_count()} cores, ONNX Runtime {threads} intra-op threads). `run_batch` on the native-resolution "
        f"films (data/native JPEGs + data/dicom) with the pixel gate, medians of "
        f"{results[0]['repeats'] if results else 0} alternating runs. **Old**: full decode, batch 1, every film "
        f"decoded in the 2 decode threads. **Reduced**: JPEG / JPEG 2000 decoded at 1/2-1/8 keeping the shorter "
        f"side >= {MIN_SIDE} px (core/reduced_decode.py). **Batched**: also up to {batch} ready films "
        "per forward pass (core/batch_scoring.py). **New** (what `--batch` runs): also the compressed DICOMs "
        "decoded in spawned processes (core/batch_decode.py; started once, in the uncounted first round).\n",
        "| model | files | old | reduced | batched | **new** | new / old | CPU, core-ms/study (4 paths) | max abs(dP) "
        f"new vs old | forward pass alone, ms/study: batch 1, batch {batch} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['files']} | {r['old_per_s']:.1f} | {r['reduced_per_s']:.1f} | "
            f"{r['batched_per_s']:.1f} | **{r['new_per_s']:.1f}** | {r['speedup']:.2f}x | "
            f"{', '.join(format(r[f'{label}_cpu_ms'], '.1f') for label in PATHS)} | "
            f"{r['max_probability_difference']:.4f} | "
            f"{r['forward_ms_batch1']:.1f}, {r['forward_ms_batched']:.1f} |"
        )
    batched = max((r["batched_vs_batch1_difference"] for r in results), default=0.0)
    lines.append(
        f"\nBatching changes no probability beyond float noise (largest abs(dP) new vs reduced here: {batched:.1e}; "
        "`pytest tests/test_batch_batched.py` holds batch 8 to batch 1 within 1e-6). The abs(dP) against the old "
        "path is the reduced decode's: the largest comes from RG1_J2KI, a JPEG 2000 adult film that the input checks "
        "withhold anyway; on the 220 native JPEG films it stays within 0.005 for both models "
        "(`pytest tests/test_reduced_decode.py`). A folder cannot be scored faster than its forward passes: "
        "1000 / (ms per study batched) studies/s, which bounds ResNet50's. Nor faster than the CPU it needs "
        "(this process and the decode processes, user + system): cores x 1000 / (core-ms per study) studies/s."
    )
    lines += [
        "\nCPU per study by stage, one file at a time (ms of CPU, ONNX Runtime's threads included; the input checks "
        "and the preprocessing on the reduced decode). On 2 cores a folder cannot pass 2000 / (the sum of its "
        "path's stages) studies/s.\n",
        f"| model | decode, full | decode, reduced | input checks (pixel gate) | preprocess | forward, batch 1 | "
        f"forward, batch {batch} | sum, new path |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        st = r["stages"]
        new_sum = st["decode_reduced"] + st["checks"] + st["preprocess"] + st["forward_batched"]
        cells = [st[k] for k in ("decode_full", "decode_reduced", "checks", "preprocess", "forward_batch1")]
        lines.append(
            f"| {r['name']} | "
            + " | ".join(f"{v:.1f}" for v in cells)
            + f" | {st['forward_batched']:.1f} | {new_sum:.1f} |"
        )
    lines += [
        "\nWhy DICOMs decode in processes: a thread beside each decode waits for the GIL this long (longest gap "
        "of a 1 ms heartbeat; ms):\n",
        "| DICOM | reduced decode | heartbeat stalled | full decode | heartbeat stalled |",
        "|---|---|---|---|---|",
    ]
    for s in stalls:
        lines.append(
            f"| {s['name']} | {s['reduced_decode_ms']:.0f} | {s['reduced_stall_ms']:.0f} | "
            f"{s['full_decode_ms']:.0f} | {s['full_stall_ms']:.0f} |"
        )
    lines.append(END)
    return "\n".join(lines) + "\n"


def update_results(path: Path, text: str) -> None:
    """Replace this benchmark's own section of RESULTS.md (or append it); other sections stay as they are."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    new = pattern.sub(lambda _m: text, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: the app's)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="films per forward pass, new path")
    args = p.parse_args(argv)
    bundles = list_bundles(REPO / "resources" / "models")
    results = [bench_bundle(b, args.repeats, args.threads, max(1, args.batch_size)) for b in bundles]
    text = section(results)
    update_results(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
