"""Speed benchmarks (`make bench`): writes benchmarks/RESULTS.md (or --out) with the machine it ran on.

Per shipped bundle: batch-1 prediction on the app's runtime (the bundle's ONNX graph on ONNX Runtime) beside
eager PyTorch on the same weights (the trainer's path, and the app's fallback before bundle format 2);
Grad-CAM from the graph's ``cam`` output beside pytorch-grad-cam on PyTorch (the app's old path, still the
trainer's reference); model load (verify + session) beside the old load (in-memory ONNX export + session);
folder throughput on native-resolution JPEGs and DICOMs. In fresh processes: `import torch` alone (what the
old app paid before its model was ready), and the app's cold start to window, to model ready, and its RSS.
Every timing is the median of repeated runs, measured in one run so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
THREADS = min(2, os.cpu_count() or 1)
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402  - the old path, measured beside the app's

torch.set_num_threads(THREADS)

from cxrviewer.core import Predictor, list_bundles, load_bundle, load_study  # noqa: E402
from cxrviewer.core.architectures import get_architecture  # noqa: E402
from cxrviewer.core.batch import prepare_file, run_batch  # noqa: E402
from cxrviewer.core.batch_scoring import finish_prepared  # noqa: E402
from cxrviewer.core.input_checks import load_reference  # noqa: E402
from cxrviewer.core.study import Study  # noqa: E402
from trainer.gradcam_reference import reference_heatmap  # noqa: E402
from trainer.models import gradcam_layer, load_torch_model  # noqa: E402
from trainer.onnx_export import export_graph  # noqa: E402

STUDY = SHARED / "data" / "native" / "PNEUMONIA" / "person535_virus_1062.jpeg"


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "threads": THREADS,
        "load_before": os.getloadavg()[0],
        "trainer_running": bool(subprocess.run(["pgrep", "-f", "trainer train"], capture_output=True).stdout),
    }


def bench_model(bundle_dir: Path, repeats: int) -> dict:
    r: dict = {"name": bundle_dir.name}
    study = load_study(STUDY)
    t = time.perf_counter()
    app = Predictor(load_bundle(bundle_dir), site=False)  # sha256 of model.onnx + session creation
    r["app_load_s"] = time.perf_counter() - t
    card, model = load_torch_model(bundle_dir)
    layer = gradcam_layer(model, card.architecture)
    arch_head = model.get_submodule(get_architecture(card.architecture).head_path)
    t = time.perf_counter()
    export_graph(model, layer, arch_head, card.positive_index, card.preprocess.input_size, half=False)
    r["old_load_export_s"] = time.perf_counter() - t  # the old app exported a graph at every load
    x = app.model_input(study)[None]
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        r["eager_ms"] = median_ms(lambda: model(xt), repeats)
    r["app_forward_ms"] = median_ms(lambda: app.probabilities(x), repeats)
    # a new Study object each time: the predictor keeps the last model input (for Grad-CAM of the same study)
    fresh = iter([Study(study.path, study.pixels.copy(), study.metadata) for _ in range(repeats + 3)])
    r["app_predict_study_ms"] = median_ms(lambda: app.predict(next(fresh)), repeats)
    r["app_gradcam_ms"] = gradcam_after_scoring_ms(app, study, repeats)
    r["old_gradcam_ms"] = median_ms(
        lambda: reference_heatmap(model, layer, xt[0], card.positive_index, study.shape), max(5, repeats // 3), 1
    )
    diff = np.abs(app.gradcam(study) - reference_heatmap(model, layer, xt[0], card.positive_index, study.shape))
    r["gradcam_max_difference"] = float(diff.max())
    with torch.no_grad():
        p_torch = float(torch.softmax(model(xt) / card.temperature, 1)[0, card.positive_index])
    r["probability_difference"] = abs(p_torch - app.predict(study).probability)
    r["study_shape"] = list(study.shape)
    r["folder"] = bench_folder(app, repeats=3)
    return r


def gradcam_after_scoring_ms(app: Predictor, study: Study, repeats: int) -> float:
    """Grad-CAM as the viewer asks for it: for the study on screen, after it was scored."""
    times = []
    for i in range(repeats + 3):
        s = Study(study.path, study.pixels.copy(), study.metadata)
        app.predict(s)
        t = time.perf_counter()
        app.gradcam(s)
        if i >= 3:
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench_folder(predictor: Predictor, repeats: int) -> dict:
    files = sorted((SHARED / "data" / "native").glob("*/*.jpeg")) + sorted((SHARED / "data" / "dicom").glob("*.dcm"))
    reference = load_reference()
    tmp = Path(tempfile.mkdtemp(prefix="cxr-bench-"))
    for p in files:
        os.symlink(p, tmp / f"{p.parent.name}-{p.name}")
    from concurrent.futures import ThreadPoolExecutor

    def decode_only(workers):
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda p: prepare_file(p, predictor, reference), files))

    prepared = decode_only(2)

    def infer_only():
        for result, inp in prepared:
            finish_prepared(copy.copy(result), inp, predictor)

    res = {"files": len(files), "scored": sum(inp is not None for _, inp in prepared)}
    for label, fn in (
        ("decode_2threads", lambda: decode_only(2)),
        ("inference_only", infer_only),
        ("pipeline", lambda: run_batch(tmp, tmp / "out.csv", predictor, reference)),
    ):
        ms = median_ms(fn, repeats, warmup=1)
        res[label + "_s"] = ms / 1000
        res[label + "_per_s"] = len(files) / (ms / 1000)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


def fresh_process(script: Path, extra: list[str], repeats: int) -> list[dict]:
    """Run ``script T0 *extra`` in fresh processes (T0: the time just before the spawn); their JSON lines."""
    runs = []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for _ in range(repeats):
        t0 = time.time()
        proc = subprocess.run(
            [sys.executable, str(script), repr(t0), *extra],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            return [{"error": proc.stderr[-2000:]}]
        runs.append(json.loads(lines[-1]))
    return runs


def bench_app(model_name: str, repeats: int) -> dict:
    runs = fresh_process(REPO / "benchmarks" / "app_start.py", [model_name], repeats)
    if "error" in runs[0]:
        return runs[0]
    keys = ("window_s", "ready_s", "rss_ready_mb", "rss_scored_mb", "peak_rss_mb")
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["training_modules_loaded"] = sorted({m for r in runs for m in r["training_modules_loaded"]})
    out["runs"] = len(runs)
    return out


IMPORT_TORCH = "import json, sys, time; t = time.time(); import torch; print(json.dumps({'s': time.time() - t}))"


def bench_import_torch(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        proc = subprocess.run([sys.executable, "-c", IMPORT_TORCH], capture_output=True, text=True, timeout=120)
        times.append(json.loads(proc.stdout.strip().splitlines()[-1])["s"])
    return statistics.median(times)


def write_results(path: Path, info: dict, results: list[dict], apps: dict, torch_import_s: float) -> None:
    lines: list[str] = []
    w = lines.append
    w("# Benchmarks\n")
    w(f"Written by `make bench` (benchmarks/run.py) on {time.strftime('%Y-%m-%d %H:%M')}. Medians of repeated runs.\n")
    w("## Machine\n")
    w(
        f"- CPU: {info['cpu']}, {info['cores']} cores, {info['memory_mb']} MB RAM; onnxruntime "
        f"{info['onnxruntime']} (the app), torch {info['torch']} (the old path, measured beside it); Python "
        f"{info['python']}; {info['threads']} threads"
    )
    quiet = info["load_before"] < 0.6 and not info["trainer_running"]
    w(
        f"- load average at start {info['load_before']:.2f}, at end {info['load_after']:.2f} -> "
        + ("**quiet machine**" if quiet else "**loaded machine: absolute times are pessimistic; compare ratios**")
        + "\n"
    )
    w("## Prediction and Grad-CAM, batch 1 (ms per study)\n")
    w(
        "| model | app forward (ORT) | eager PyTorch forward | app predict() incl. preprocessing | "
        "**app Grad-CAM** | Grad-CAM / predict() (goal <= 1.5x) | old Grad-CAM (pytorch-grad-cam) | "
        "max map difference | probability difference |"
    )
    w("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        w(
            f"| {r['name']} | {r['app_forward_ms']:.2f} | {r['eager_ms']:.2f} "
            f"({r['eager_ms'] / r['app_forward_ms']:.1f}x ORT) | {r['app_predict_study_ms']:.2f} | "
            f"**{r['app_gradcam_ms']:.2f}** | {r['app_gradcam_ms'] / r['app_predict_study_ms']:.2f}x | "
            f"{r['old_gradcam_ms']:.1f} ({r['old_gradcam_ms'] / r['app_gradcam_ms']:.1f}x the app's) | "
            f"{r['gradcam_max_difference']:.1e} | {r['probability_difference']:.1e} |"
        )
    w(
        f"\nThe study is {STUDY.name} ({results[0]['study_shape'][1]} x {results[0]['study_shape'][0]} px); the "
        "map is returned in its own pixel grid. predict() is timed on a new study each call; Grad-CAM as the viewer "
        "asks for it, for the study just scored (its model input is reused): one more pass of the graph (logits "
        "and cam come out together) plus the map's scaling and resize to the study's size.\n"
    )
    w("## Model load (s)\n")
    w("| model | app: verify sha256 + ONNX Runtime session | old: in-memory ONNX export at every load (export only) |")
    w("|---|---|---|")
    for r in results:
        w(f"| {r['name']} | {r['app_load_s']:.2f} | {r['old_load_export_s']:.2f} |")
    w(
        f"\n`import torch` alone in a fresh process (the old app paid it before any model was ready): "
        f"{torch_import_s:.2f} s. The app no longer imports it.\n"
    )
    w("## Folder throughput (studies/s; native-resolution JPEGs and DICOMs, decoding included)\n")
    w("| model | files (scored) | decode+preprocess, 2 threads | inference only | **app pipeline** (run_batch) |")
    w("|---|---|---|---|---|")
    for r in results:
        f = r["folder"]
        w(
            f"| {r['name']} | {f['files']} ({f['scored']}) | {f['decode_2threads_per_s']:.1f} | "
            f"{f['inference_only_per_s']:.1f} | **{f['pipeline_per_s']:.1f}** |"
        )
    w("\n## Application start and memory (fresh process, GUI offscreen, demo studies opened and scored)\n")
    w(
        "| model | window shown (goal <= 1 s) | model ready (goal <= 1 s) | RSS model loaded (goal <= 400 MB) | "
        "RSS after scoring | peak RSS incl. Grad-CAM | training libraries imported |"
    )
    w("|---|---|---|---|---|---|---|")
    for name, a in apps.items():
        if "error" in a:
            w(f"| {name} | failed: {a['error'][-300:]!r} | | | | | |")
            continue
        w(
            f"| {name} | {a['window_s']:.2f} s | {a['ready_s']:.2f} s | {a['rss_ready_mb']:.0f} MB | "
            f"{a['rss_scored_mb']:.0f} MB | {a['peak_rss_mb']:.0f} MB | "
            f"{', '.join(a['training_modules_loaded']) or 'none'} |"
        )
    w(
        "\nTimes from just before the process is spawned (Python start, imports and the Qt window included). "
        "'Model ready' is the model worker's load finished (sha256 check and ONNX Runtime session).\n"
    )
    w("## Raw numbers\n")
    raw = {"machine": info, "models": results, "app": apps, "import_torch_s": torch_import_s}
    w("```json\n" + json.dumps(raw, indent=1) + "\n```\n")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"))
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--app-repeats", type=int, default=3)
    args = p.parse_args(argv)
    info = machine()
    bundle_dirs = list_bundles(REPO / "resources" / "models")
    apps = {}
    for path in bundle_dirs:  # first, before this process's own threads warm anything up
        print(f"app start with {path.name} …", file=sys.stderr)
        apps[path.name] = bench_app(path.name, args.app_repeats)
    torch_import_s = bench_import_torch(args.app_repeats)
    results = []
    for path in bundle_dirs:
        print(f"benchmarking {path.name} …", file=sys.stderr)
        results.append(bench_model(path, args.repeats))
    info["load_after"] = os.getloadavg()[0]
    write_results(Path(args.out), info, results, apps, torch_import_s)
    print("folder triage, reduced decode beside the full decode …", file=sys.stderr)
    import triage  # benchmarks/triage.py: its own section of the same file

    triage.update_results(Path(args.out), triage.section([triage.bench_bundle(b, 3) for b in bundle_dirs]))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
