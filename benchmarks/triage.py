"""Folder triage with the reduced-resolution decode beside the full decode (the old path), per shipped bundle.

    .venv/bin/python benchmarks/triage.py [--repeats 3]      # writes its section of benchmarks/RESULTS.md

`make bench` (benchmarks/run.py) runs it too. The folder is the native-resolution films of ../shared
(data/native: 20 JPEGs, 912-2268 px, and data/dicom: 7 DICOMs, three of them 1760-1955 px JPEG 2000), the
same set as run.py's folder throughput. Both paths are `run_batch` (2 decode threads a few files ahead of
the model, batch-1 scoring, the CSV written): ``min_side=None`` decodes every film at full size as before,
the default decodes JPEG / JPEG 2000 reduced (core/reduced_decode.py). Timings are medians of repeats, both
paths alternating so that load from other processes falls on both alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
BEGIN, END = "<!-- triage: benchmarks/triage.py -->", "<!-- /triage -->"

from cxrviewer.core import Predictor, list_bundles, load_bundle  # noqa: E402
from cxrviewer.core.batch import read_batch_csv, run_batch  # noqa: E402
from cxrviewer.core.input_checks import load_reference  # noqa: E402
from cxrviewer.core.reduced_decode import MIN_SIDE  # noqa: E402


def films() -> list[Path]:
    return sorted((SHARED / "data" / "native").glob("*/*.jpeg")) + sorted((SHARED / "data" / "dicom").glob("*.dcm"))


def bench_bundle(bundle_dir: Path, repeats: int) -> dict:
    predictor = Predictor(load_bundle(bundle_dir), site=False)
    reference = load_reference()
    tmp = Path(tempfile.mkdtemp(prefix="cxr-triage-"))
    folder = tmp / "films"
    folder.mkdir()
    files = films()
    for p in files:
        os.symlink(p, folder / f"{p.parent.name}-{p.name}")
    times: dict[str, list[float]] = {"full": [], "reduced": []}
    probabilities: dict[str, dict[str, str]] = {}
    for i in range(repeats + 1):  # the first round warms caches and is not counted
        for label, min_side in (("full", None), ("reduced", MIN_SIDE)):
            out = tmp / f"{label}.csv"
            t = time.perf_counter()
            run_batch(folder, out, predictor, reference, min_side=min_side, keep_results=False)
            if i:
                times[label].append(time.perf_counter() - t)
            probabilities[label] = {r["path"]: r["probability"] for r in read_batch_csv(out)}
    diffs = [
        abs(float(p) - float(probabilities["full"][path]))
        for path, p in probabilities["reduced"].items()
        if p and probabilities["full"].get(path)
    ]
    shutil.rmtree(tmp, ignore_errors=True)
    full, reduced = statistics.median(times["full"]), statistics.median(times["reduced"])
    return {
        "name": bundle_dir.name,
        "files": len(files),
        "full_per_s": len(files) / full,
        "reduced_per_s": len(files) / reduced,
        "speedup": full / reduced,
        "max_probability_difference": max(diffs) if diffs else 0.0,
        "repeats": repeats,
    }


def section(results: list[dict]) -> str:
    load = os.getloadavg()[0]
    lines = [
        BEGIN,
        "## Folder triage: reduced-resolution decode beside the full decode (studies/s)\n",
        f"`python benchmarks/triage.py` on {time.strftime('%Y-%m-%d %H:%M')}, load average {load:.2f} "
        f"({os.cpu_count()} cores). `run_batch` on the native-resolution films (data/native JPEGs + data/dicom), "
        f"medians of {results[0]['repeats'] if results else 0} alternating runs. Reduced: JPEG / JPEG 2000 "
        f"decoded at 1/2-1/8 keeping the shorter side >= {MIN_SIDE} px (core/reduced_decode.py).\n",
        "| model | files | full decode (old path) | **reduced decode** | speed-up | max abs(dP) over the folder |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['files']} | {r['full_per_s']:.1f} | **{r['reduced_per_s']:.1f}** | "
            f"{r['speedup']:.2f}x | {r['max_probability_difference']:.4f} |"
        )
    lines.append(
        "\nThe largest abs(dP) comes from the DICOMs (RG1_J2KI, a JPEG 2000 adult film that the input checks withhold "
        "anyway). On the 220 native JPEG films the reduced decode "
        "stays within 0.005 for both models (`pytest tests/test_reduced_decode.py`). Where the speed-up is smaller "
        "(ResNet50), inference rather than decoding bounds the folder. The GUI's triage decodes the same way "
        "(core/decode_pool.py), on its own threads beside the model's."
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
    args = p.parse_args(argv)
    results = [bench_bundle(b, args.repeats) for b in list_bundles(REPO / "resources" / "models")]
    text = section(results)
    update_results(Path(args.out), text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
