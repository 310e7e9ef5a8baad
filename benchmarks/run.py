"""Speed benchmarks (`make bench`): writes benchmarks/RESULTS.md (or --out) with the machine it ran on.

Per model bundle (plus an architecture-only ResNet50 while no ResNet50 bundle ships): batch-1 prediction
latency for every backend considered (eager PyTorch, channels_last, frozen TorchScript, ONNX Runtime with
full graph optimisation = the reference, and the backend the app picked), batched per-image time, the
compute bound (model FLOPs / measured matmul rate), Grad-CAM latency, folder throughput on native-resolution
JPEGs and DICOMs (decoding included; decode-only, inference-only, sequential and the app's overlapped
pipeline), and, in a fresh process, cold start to first window, start to model ready and RSS.
Every timing is the median of repeated runs.
"""
from __future__ import annotations

import argparse
import copy
import io
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
THREADS = os.cpu_count() or 1
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(THREADS)

from cxrviewer.core import Predictor, list_bundles, load_bundle, load_study  # noqa: E402
from cxrviewer.core.architectures import build_model  # noqa: E402
from cxrviewer.core.batch import finish_prepared, prepare_file, run_batch  # noqa: E402
from cxrviewer.core.bundle import ModelBundle  # noqa: E402
from cxrviewer.core.fast_inference import OnnxRunner, export_onnx  # noqa: E402
from cxrviewer.core.input_checks import load_reference  # noqa: E402


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
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    import onnxruntime

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "threads": THREADS,
            "load_before": os.getloadavg()[0],
            "trainer_running": bool(subprocess.run(["pgrep", "-f", "trainer train"], capture_output=True).stdout)}


def matmul_gflops(repeats: int) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    ms = median_ms(lambda: torch.mm(a, b), repeats)
    return 2 * 1024 ** 3 / (ms / 1000) / 1e9


def model_gflop(model, x) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() / 1e9


def bundles() -> list[tuple[str, ModelBundle, bool]]:
    out = []
    for path in list_bundles(REPO / "resources" / "models"):
        out.append((path.name, load_bundle(path), True))
    if not any(b.architecture == "resnet50" for _, b, _ in out):
        model = build_model("resnet50").eval()
        card = {"name": "resnet50 (architecture only, random weights, 224 px)", "architecture": "resnet50",
                "preprocess": {"input_size": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
                "class_names": ["NORMAL", "PNEUMONIA"], "positive_class": "PNEUMONIA", "threshold": 0.5,
                "temperature": 1.0, "weights_sha256": ""}
        out.append(("resnet50-224 (no bundle yet: random weights)", ModelBundle(Path("."), card, model), False))
    return out


def folder_files() -> list[Path]:
    native = sorted((SHARED / "data" / "native").glob("*/*.jpeg"))
    dicom = sorted((SHARED / "data" / "dicom").glob("*.dcm"))
    return native + dicom


def bench_model(name: str, bundle: ModelBundle, repeats: int) -> dict:
    r: dict = {"name": name}
    size = bundle.preprocess_config.input_size
    study = load_study(SHARED / "data" / "native" / "PNEUMONIA" / "person535_virus_1062.jpeg")
    eager = Predictor(bundle, backend="torch")
    x = eager.model_input(study).unsqueeze(0)
    model = bundle.model.eval()
    with torch.inference_mode():
        ref = model(x).numpy()
        r["eager_ms"] = median_ms(lambda: model(x), repeats)
        xb = x.repeat(8, 1, 1, 1)
        r["eager_b8_per_image_ms"] = median_ms(lambda: model(xb), max(3, repeats // 4)) / 8
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    xcl = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        r["channels_last_ms"] = median_ms(lambda: cl(xcl), repeats)
    with torch.no_grad():
        t = time.perf_counter()
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
        r["torchscript_build_s"] = time.perf_counter() - t
        r["torchscript_ms"] = median_ms(lambda: frozen(x), repeats)
        r["torchscript_diff"] = float(np.abs(frozen(x).numpy() - ref).max())
    t = time.perf_counter()
    graph = export_onnx(model, size)
    r["onnx_export_s"] = time.perf_counter() - t
    r["onnx_export_deterministic"] = graph == export_onnx(model, size)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = THREADS
    sess = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    xn = x.numpy()
    r["ort_reference_ms"] = median_ms(lambda: sess.run(None, {"input": xn}), repeats)
    r["ort_diff"] = float(np.abs(sess.run(None, {"input": xn})[0] - ref).max())
    xbn = xb.numpy()
    r["ort_b8_per_image_ms"] = median_ms(lambda: sess.run(None, {"input": xbn}), max(3, repeats // 4)) / 8
    # the app's predictor (its own backend choice, load-time export and self-check included)
    t = time.perf_counter()
    app = Predictor(bundle)
    r["predictor_init_s"] = time.perf_counter() - t
    r["app_backend"] = app.backend
    r["app_forward_ms"] = median_ms(lambda: app.probabilities(x), repeats)
    r["app_predict_study_ms"] = median_ms(lambda: app.predict(study), repeats)
    r["app_vs_eager_prob_diff"] = float(abs(app.predict(study).probability - eager.predict(study).probability))
    r["gradcam_ms"] = median_ms(lambda: app.gradcam(study), max(5, repeats // 3), warmup=1)
    r["gflop"] = model_gflop(model, x)
    r["study_shape"] = list(study.shape)
    r["folder"] = bench_folder(app, repeats=3)
    return r


def bench_folder(predictor: Predictor, repeats: int) -> dict:
    files = folder_files()
    reference = load_reference()
    tmp = Path(tempfile.mkdtemp(prefix="cxr-bench-"))
    for p in files:
        os.symlink(p, tmp / f"{p.parent.name}-{p.name}")
    from concurrent.futures import ThreadPoolExecutor

    def decode_only(workers):
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda p: prepare_file(p, predictor, reference), files))

    prepared = decode_only(2)
    n_scored = sum(inp is not None for _, inp in prepared)

    def infer_only():
        for result, inp in prepared:
            finish_prepared(copy.copy(result), inp, predictor)

    def sequential():
        for p in files:
            finish_prepared(*prepare_file(p, predictor, reference), predictor)

    out_csv = tmp / "out.csv"
    res = {"files": len(files), "scored": n_scored}
    for label, fn in (("decode_1thread", lambda: decode_only(1)), ("decode_2threads", lambda: decode_only(2)),
                      ("inference_only", infer_only), ("sequential", sequential),
                      ("pipeline", lambda: run_batch(tmp, out_csv, predictor, reference))):
        ms = median_ms(fn, repeats, warmup=1)
        res[label + "_s"] = ms / 1000
        res[label + "_per_s"] = len(files) / (ms / 1000)
    shutil.rmtree(tmp, ignore_errors=True)
    return res


def bench_app(model_name: str | None, repeats: int) -> dict:
    runs = []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for _ in range(repeats):
        t0 = time.time()
        proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "app_start.py"), repr(t0)]
                              + ([model_name] if model_name else []),
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        line = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode != 0 or not line:
            return {"error": proc.stderr[-2000:]}
        runs.append(json.loads(line[-1]))
    keys = ("window_s", "ready_s", "rss_ready_mb", "rss_scored_mb", "peak_rss_mb")
    out = {k: statistics.median(r[k] for r in runs) for k in keys}
    out["backend"] = runs[-1]["backend"]
    out["runs"] = len(runs)
    return out


NOTES = """## Decisions (kept by benchmarks/run.py; the numbers above are regenerated)

- **Prediction backend: ONNX Runtime** (`cxrviewer/core/fast_inference.py`), chosen by measurement: on this
  CPU eager PyTorch is far slower at batch 1 than ORT for both shipped architectures, and neither
  channels_last nor frozen TorchScript (`optimize_for_inference`) comes close to ORT. bf16 was not adopted:
  this CPU has no bf16 matrix units, so it cannot beat fp32 ORT, and it would break the 1e-4 agreement.
  Batching (batch 8) helps eager PyTorch per image but ORT at batch 1 is already faster, and batch 1 keeps
  each probability independent of its neighbours.
- **Export at load time, in memory** (`torch.onnx.export` into a BytesIO, TorchScript-based exporter, opset
  17): byte-identical across runs (row above), its cost per load is in the row above (0.3 s quiet, up to 2 s on a busy machine), done in the model worker after
  the window is up. The graph is derived from the sha256-verified weights at every load and never written
  to disk (a cached graph would sit outside the bundle's integrity check); it is accepted only if it
  reproduces PyTorch's logits within 1e-4 at batch 2 and batch 1, else the app falls back to PyTorch.
  Within one process, a graph is reused for the same weights (switching back to a model, tests).
- **Grad-CAM stays on PyTorch** (pytorch-grad-cam, forward + backward): its cost is an eager forward and
  backward, so against an ORT prediction it is far above the 3x goal; reaching it would need Grad-CAM on
  ORT (an extra feature-map output; the head is global-average-pool + linear, so the weights are the
  classifier rows) - not done, by the brief's choice.
- **Folder throughput**: `run_batch` decodes + preprocesses in worker threads ahead of the model. Decoding
  and inference compete for the same 2 cores, so the overlap stays above 1.2x of the slower stage (table
  above).
- **Window first**: `cxrviewer.core` no longer imports torch / pytorch-grad-cam at import time and the UI's
  model worker imports the predictor, so the window is shown before torch loads.
- **Memory**: torch here is the CUDA build (torch 2.14.1+cu130); importing it alone costs ~1 GB RSS, which
  dominates the budget. The Makefile sets MALLOC_*_THRESHOLD_ for training only: they keep freed memory
  from returning to the OS, so the app and `make bench` run with glibc's defaults.
"""


def write_results(path: Path, info: dict, results: list[dict], apps: dict, gemm: float) -> None:
    L = []
    w = L.append
    w("# Benchmarks\n")
    w(f"Written by `make bench` (benchmarks/run.py) on {time.strftime('%Y-%m-%d %H:%M')}. Medians of repeated runs.\n")
    w("## Machine\n")
    w(f"- CPU: {info['cpu']}, {info['cores']} cores, {info['memory_mb']} MB RAM; torch {info['torch']}, "
      f"onnxruntime {info['onnxruntime']}, Python {info['python']}; {info['threads']} threads")
    quiet = info["load_before"] < 0.6 and not info["trainer_running"]
    w(f"- load average at start {info['load_before']:.2f}, at end {info['load_after']:.2f}; training run active: "
      f"{'yes' if info['trainer_running'] else 'no'} -> " + ("**quiet machine**" if quiet else
      "**the machine was loaded: absolute times are pessimistic, ratios measured in the same run**"))
    w(f"- measured float32 matmul rate (1024^2 x 1024^2): {gemm:.1f} GFLOP/s\n")
    w("## Prediction latency, batch 1 (ms per study; model forward only unless noted)\n")
    w("| model | GFLOP | compute bound | eager | channels_last | frozen TorchScript | **ORT (reference)** | "
      "app backend | app / reference | app predict() incl. preprocessing | batch 8, per image: eager / ORT |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        bound = r["gflop"] / gemm * 1000
        w(f"| {r['name']} | {r['gflop']:.2f} | {bound:.2f} | {r['eager_ms']:.2f} | {r['channels_last_ms']:.2f} | "
          f"{r['torchscript_ms']:.2f} | **{r['ort_reference_ms']:.2f}** ({r['ort_reference_ms'] / r['eager_ms']:.2f}x eager) | "
          f"{r['app_backend']} {r['app_forward_ms']:.2f} | {r['app_forward_ms'] / r['ort_reference_ms']:.2f}x | "
          f"{r['app_predict_study_ms']:.2f} | {r['eager_b8_per_image_ms']:.2f} / {r['ort_b8_per_image_ms']:.2f} |")
    w("\nGoal: prediction within 1.2x of the reference. Agreement: max |logit| difference to eager PyTorch "
      + ", ".join(f"{r['name']}: ORT {r['ort_diff']:.1e}, TorchScript {r['torchscript_diff']:.1e}, "
                  f"app probability {r['app_vs_eager_prob_diff']:.1e}" for r in results) + ".\n")
    w("Load-time cost of the ONNX backend (export in memory + session + self-check, all inside `Predictor()`): "
      + ", ".join(f"{r['name']}: export {r['onnx_export_s']:.2f} s, Predictor() {r['predictor_init_s']:.2f} s, "
                  f"export byte-identical across runs: {r['onnx_export_deterministic']}" for r in results) + ".\n")
    w("## Grad-CAM (PyTorch, ms; on a native-resolution study, map returned at full size)\n")
    w("| model | Grad-CAM | / app predict() | / app forward | goal |")
    w("|---|---|---|---|---|")
    for r in results:
        w(f"| {r['name']} | {r['gradcam_ms']:.1f} | {r['gradcam_ms'] / r['app_predict_study_ms']:.1f}x | "
          f"{r['gradcam_ms'] / r['app_forward_ms']:.1f}x | <= 3x one prediction |")
    w("\n## Folder throughput (studies/s; native-resolution JPEGs and DICOMs, decoding included)\n")
    w("| model | files (scored) | decode+preprocess 1 thread | 2 threads | inference only | sequential | "
      "**app pipeline** (run_batch) | pipeline / slower stage |")
    w("|---|---|---|---|---|---|---|---|")
    for r in results:
        f = r["folder"]
        slower = max(f["decode_2threads_s"], f["inference_only_s"])
        w(f"| {r['name']} | {f['files']} ({f['scored']}) | {f['decode_1thread_per_s']:.1f} | "
          f"{f['decode_2threads_per_s']:.1f} | {f['inference_only_per_s']:.1f} | {f['sequential_per_s']:.1f} | "
          f"**{f['pipeline_per_s']:.1f}** | {f['pipeline_s'] / slower:.2f}x (goal <= 1.2x) |")
    w("\n## Application start and memory (fresh process, GUI offscreen, demo studies opened)\n")
    w("| model | window shown | model ready | RSS model loaded | RSS after scoring | peak RSS incl. Grad-CAM | backend |")
    w("|---|---|---|---|---|---|---|")
    for name, a in apps.items():
        if "error" in a:
            w(f"| {name} | failed: {a['error'][-300:]!r} | | | | | |")
            continue
        w(f"| {name} | {a['window_s']:.2f} s | {a['ready_s']:.2f} s | {a['rss_ready_mb']:.0f} MB | "
          f"{a['rss_scored_mb']:.0f} MB | {a['peak_rss_mb']:.0f} MB | {a['backend']} |")
    w("\nGoals: window <= 1.5 s after start; RSS <= 1.5 GB with a model loaded.\n")
    w(NOTES)
    w("## Raw numbers\n")
    w("```json\n" + json.dumps({"machine": info, "gemm_gflops": gemm, "models": results, "app": apps}, indent=1)
      + "\n```\n")
    path.write_text("\n".join(L) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"))
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--app-repeats", type=int, default=3)
    args = p.parse_args(argv)
    info = machine()
    gemm = matmul_gflops(args.repeats)
    results = []
    for name, bundle, _shipped in bundles():
        print(f"benchmarking {name} …", file=sys.stderr)
        results.append(bench_model(name, bundle, args.repeats))
    apps = {}
    for path in list_bundles(REPO / "resources" / "models"):
        print(f"app start with {path.name} …", file=sys.stderr)
        apps[path.name] = bench_app(path.name, args.app_repeats)
    info["load_after"] = os.getloadavg()[0]
    write_results(Path(args.out), info, results, apps, gemm)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
