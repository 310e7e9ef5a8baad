"""`python -m trainer train`: fine-tune or train a backbone on a patient-disjoint split."""

from __future__ import annotations

import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from cxrviewer.core import PreprocessConfig, load_study, resize_to_input, standardize_intensity, to_model_input

from .augment import AugmentConfig, augment_batch
from .backbones import init_model, reestimate_folded_batchnorm
from .calibration import choose_threshold, fit_temperature
from .data import CLASS_NAMES, POSITIVE_CLASS, ImageRecord, scan_training_pool
from .metrics import compute_metrics
from .operating_band import threshold_band
from .splits import patient_split, read_splits, write_splits


def load_cache(records: list[ImageRecord], size: int, workers: int = min(8, os.cpu_count() or 1)) -> torch.Tensor:
    """All images at the model's input size as uint8 (N, S, S), via the core loader and resize."""

    def one(r: ImageRecord) -> np.ndarray:
        return np.round(resize_to_input(load_study(r.path).pixels, size) * 255).astype(np.uint8)

    with ThreadPoolExecutor(workers) as pool:
        return torch.from_numpy(np.stack(list(pool.map(one, records))))


def model_batch(x_uint8_or_float: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """(N, S, S) or (N, 1, S, S) grey batch -> normalised (N, 3, S, S), the same steps as preprocess()."""
    x = x_uint8_or_float
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.reshape(x.shape[0], x.shape[-2], x.shape[-1])
    if config.intensity != "none":
        x = torch.stack([torch.from_numpy(standardize_intensity(img.cpu().numpy(), config.intensity)) for img in x]).to(
            x.device
        )
    return to_model_input(x, config)


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: torch.Tensor, config: PreprocessConfig, device: str, batch_size: int = 128
) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = model_batch(images[i : i + batch_size], config).to(device)
        if device == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out.append(model(x).float().cpu())
        else:
            out.append(model(x).float())
    return torch.cat(out).numpy()


def softmax_positive(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """P(positive class) per row; the positive class is the data contract's (trainer.data.POSITIVE_CLASS)."""
    positive = CLASS_NAMES.index(POSITIVE_CLASS)
    return torch.softmax(torch.as_tensor(logits) / temperature, dim=1)[:, positive].numpy()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(args) -> Path:
    run = Path(args.out)
    run.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")

    splits_path = run / "splits.csv"
    if args.resume and splits_path.exists():
        splits = read_splits(splits_path)
    else:
        records = scan_training_pool(args.data)
        if args.limit:
            rng = random.Random(args.seed)
            records = sorted(rng.sample(records, min(args.limit, len(records))), key=lambda r: str(r.path))
        splits = patient_split(records, args.val_fraction, args.test_fraction, args.seed)
        write_splits(splits, splits_path)
    counts = {s: [sum(r.label == c for r in recs) for c in range(2)] for s, recs in splits.items()}
    print(f"split (NORMAL, PNEUMONIA) images: {counts}", flush=True)

    model, (mean, std), provenance, folded = init_model(args.arch, args.init, len(CLASS_NAMES), args.imagenet_weights)
    config = PreprocessConfig(args.image_size, tuple(mean), tuple(std), args.intensity)
    aug = AugmentConfig(
        blur_p=args.blur_p, noise_std=args.noise_std, aspect=args.aspect_jitter, scale=tuple(args.scale_range)
    )

    t0 = time.time()
    cache = {s: load_cache(recs, args.image_size) for s, recs in splits.items()}
    labels = {s: torch.tensor([r.label for r in recs]) for s, recs in splits.items()}
    print(
        f"loaded {sum(len(v) for v in cache.values())} images at {args.image_size}px in {time.time() - t0:.0f}s",
        flush=True,
    )

    batchnorm_mode = args.batchnorm if folded else "train"
    if folded and args.batchnorm == "reestimate" and not args.resume:
        idx = torch.randperm(len(cache["train"]))[:512]
        n = reestimate_folded_batchnorm(
            model, [model_batch(cache["train"][idx[i : i + 64]], config) for i in range(0, len(idx), 64)]
        )
        print(f"re-estimated {n} folded BatchNorm layers on 512 training images", flush=True)
        batchnorm_mode = "train"
    model.to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
        # the whole cache fits on the GPU (5,232 images at 224 px are 262 MB), so augmentation runs there too
        cache = {s: v.to(device) for s, v in cache.items()}

    n_train = len(cache["train"])
    steps_per_epoch = max(1, n_train // args.batch_size)
    class_counts = torch.bincount(labels["train"], minlength=2).float()
    class_weights = (class_counts.sum() / (2 * class_counts.clamp_min(1))).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    history: list[dict] = []
    best_auc, start_epoch, stale = -1.0, 1, 0
    if args.resume and (run / "last.pt").exists():
        ck = torch.load(run / "last.pt", map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        history = json.loads((run / "history.json").read_text())
        best_auc, start_epoch, stale = ck["best_auc"], ck["epoch"] + 1, ck["stale"]
        print(f"resumed after epoch {ck['epoch']}", flush=True)

    gen = torch.Generator().manual_seed(args.seed)
    deadline = time.time() + args.max_minutes * 60 if args.max_minutes else None
    stop_reason = None
    from tqdm import tqdm

    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        if batchnorm_mode == "freeze":
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        t_epoch = time.time()
        order = torch.randperm(n_train, generator=gen)
        losses = []
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{args.epochs}",
            leave=False,
            disable=not args.progress,
            mininterval=5,
        )
        for step in bar:
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            x = cache["train"][idx].float().div(255).unsqueeze(1)
            x = augment_batch(x, aug, gen)
            x = model_batch(x, config).to(device)
            y = labels["train"][idx].to(device)
            if device == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    logits = model(x)
            else:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, weight=class_weights, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        val_logits = predict_logits(model, cache["val"], config, device)
        val_y = labels["val"].numpy()
        val_loss = float(F.cross_entropy(torch.as_tensor(val_logits), labels["val"]))
        val_auc = float(roc_auc_score(val_y, softmax_positive(val_logits)))
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_loss": val_loss,
            "val_roc_auc": val_auc,
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(time.time() - t_epoch, 1),
        }
        history.append(row)
        print(json.dumps(row), flush=True)
        with open(run / "epochs.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        improved = val_auc > best_auc + 1e-5
        if improved:
            best_auc, stale = val_auc, 0
            torch.save({k: v.cpu() for k, v in model.state_dict().items()}, run / "best.pt")
        else:
            stale += 1
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "best_auc": best_auc,
                "stale": stale,
            },
            run / "last.pt",
        )
        (run / "history.json").write_text(json.dumps(history, indent=1))
        if args.patience and stale >= args.patience:
            stop_reason = f"early stop: validation ROC-AUC has not improved for {stale} epochs"
        elif deadline and epoch < args.epochs and time.time() + row["seconds"] > deadline:
            # another epoch would overrun: keep the best checkpoint so far (its schedule was cut short)
            stop_reason = (
                f"time budget: stopped after epoch {epoch} of {args.epochs} (--max-minutes {args.max_minutes})"
            )
        if stop_reason:
            print(stop_reason, flush=True)
            break

    from .plots import learning_curves

    learning_curves(history, run / "learning_curves.png")
    model.load_state_dict(torch.load(run / "best.pt", map_location=device, weights_only=True))
    val_logits = predict_logits(model, cache["val"], config, device)
    temperature = fit_temperature(val_logits, labels["val"].numpy())
    val_probs = softmax_positive(val_logits, temperature)
    threshold = choose_threshold(val_probs, labels["val"].numpy(), args.min_sensitivity)
    band = threshold_band(val_probs, labels["val"].numpy(), threshold, args.min_sensitivity)
    test_probs = softmax_positive(predict_logits(model, cache["test"], config, device), temperature)
    best_epoch = max(history, key=lambda h: h["val_roc_auc"])["epoch"]
    summary = {
        "architecture": args.arch,
        "init": provenance,
        "batchnorm": batchnorm_mode if not folded else f"folded ImageNet BatchNorm: {args.batchnorm}",
        "preprocess": config.to_dict(),
        "augmentation": asdict(aug),
        "class_names": list(CLASS_NAMES),
        "temperature": temperature,
        "threshold": threshold,
        "threshold_rule": f"highest threshold with validation sensitivity >= {args.min_sensitivity}",
        "indeterminate_band": band,
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "stop_reason": stop_reason,
        "split_counts": counts,
        "hyperparameters": {k: v for k, v in vars(args).items() if k not in ("func",)},
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "train_seconds": round(sum(h["seconds"] for h in history), 1),
        "validation": compute_metrics(labels["val"].numpy(), val_probs, threshold, n_boot=0),
        "internal_test": compute_metrics(labels["test"].numpy(), test_probs, threshold, n_boot=1000, seed=args.seed),
    }
    (run / "run.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    it = summary["internal_test"]
    print(
        f"best epoch {best_epoch}: T={temperature:.3f} threshold={threshold:.4f}; internal test "
        f"AUC {it['roc_auc']:.4f} acc {it['accuracy']:.4f} sens {it['sensitivity']:.4f} "
        f"spec {it['specificity']:.4f}",
        flush=True,
    )
    return run
