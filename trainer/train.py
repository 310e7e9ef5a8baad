"""`python -m trainer train`: fine-tune or train a backbone on a patient-disjoint split."""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from cxrviewer.core import PreprocessConfig

from .augment import AugmentConfig, augment_batch, cutmix_batch
from .backbones import init_model, reestimate_folded_batchnorm
from .calibration import choose_threshold, fit_temperature
from .cell_evidence import TopCellPooled
from .data import CLASS_NAMES, scan_training_pool
from .distributed import DistContext, setup, sync_batchnorm, teardown
from .guidance import POSITIVE, attach_map, evidence_loss, outside_lung_swap, same_class_mosaic
from .metrics import compute_metrics
from .operating_band import threshold_band
from .splits import patient_split, read_splits, write_splits
from .streaming import split_sources
from .tensors import load_cache, model_batch, predict_logits, seed_everything, softmax_positive
from .tissue_composites import composite_loss


def train(args) -> Path:
    """One process as always; under torchrun, one rank of a DistributedDataParallel run (docs/scaling.md)."""
    ctx = setup(args.device)
    try:
        return _train(args, ctx)
    finally:
        teardown(ctx)


def _train(args, ctx: DistContext) -> Path:
    run = Path(args.out)
    if ctx.is_main:
        run.mkdir(parents=True, exist_ok=True)
    log = print if ctx.is_main else (lambda *a, **k: None)
    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    if device == "cuda" and getattr(args, "dtype", "float32") == "float64":
        raise SystemExit("--dtype float64 is a CPU reference mode (CUDA trains in bfloat16 autocast)")
    world = ctx.world_size
    if args.batch_size % world:
        raise SystemExit(
            f"--batch-size {args.batch_size} (the global batch) must be a multiple of the world size {world}"
        )
    rank_batch = args.batch_size // world
    cache_mode = getattr(args, "cache", "ram")
    augment = not getattr(args, "no_augment", False)
    cutmix = float(getattr(args, "cutmix", 0.0) or 0.0)
    mosaic = float(getattr(args, "mosaic", 0.0) or 0.0)
    lung_prior = float(getattr(args, "lung_prior", 0.0) or 0.0)
    evidence = (float(getattr(args, "evidence_weight", 0) or 0), float(getattr(args, "necessity_weight", 0) or 0))
    tissue = float(getattr(args, "tissue_composites", 0.0) or 0.0)
    if (cutmix or mosaic or lung_prior or any(evidence) or tissue) and ctx.distributed:
        raise SystemExit("trainer train: batch-mixing augmentations and evidence losses do not run under torchrun")
    max_steps = getattr(args, "max_steps", 0) or 0

    # the patient split is made once, on rank 0, and shared with every rank
    splits_path = run / "splits.csv"
    splits = None
    if ctx.is_main:
        if args.resume and splits_path.exists():
            splits = read_splits(splits_path)
        else:
            records = scan_training_pool(args.data)
            if args.limit:
                rng = random.Random(args.seed)
                records = sorted(rng.sample(records, min(args.limit, len(records))), key=lambda r: str(r.path))
            splits = patient_split(records, args.val_fraction, args.test_fraction, args.seed)
            write_splits(splits, splits_path)
    splits = ctx.broadcast(splits)
    counts = {s: [sum(r.label == c for r in recs) for c in range(2)] for s, recs in splits.items()}
    log(f"split (NORMAL, PNEUMONIA) images: {counts}", flush=True)

    model, (mean, std), provenance, folded = init_model(args.arch, args.init, len(CLASS_NAMES), args.imagenet_weights)
    if getattr(args, "no_dropout", False):
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
    config = PreprocessConfig(args.image_size, tuple(mean), tuple(std), args.intensity)
    aug = AugmentConfig(
        blur_p=args.blur_p, noise_std=args.noise_std, aspect=args.aspect_jitter, scale=tuple(args.scale_range)
    )

    t0 = time.time()
    cache: dict
    if ctx.distributed or cache_mode != "ram":
        cache = split_sources(splits, args, ctx, log)
    else:
        cache = {s: load_cache(recs, args.image_size) for s, recs in splits.items()}
    labels = {s: torch.tensor([r.label for r in recs]) for s, recs in splits.items()}
    if cache_mode == "ram":
        log(
            f"loaded {sum(len(v) for v in splits.values())} images at {args.image_size}px in {time.time() - t0:.0f}s",
            flush=True,
        )
    else:
        log(f"streaming {sum(len(v) for v in splits.values())} images ({cache_mode} cache)", flush=True)

    batchnorm_mode = args.batchnorm if folded else "train"
    if folded and args.batchnorm == "reestimate" and not args.resume:
        idx = torch.randperm(len(cache["train"]))[:512]
        if ctx.is_main:  # DistributedDataParallel gives every rank rank 0's weights and buffers
            n = reestimate_folded_batchnorm(
                model, [model_batch(cache["train"][idx[i : i + 64]], config) for i in range(0, len(idx), 64)]
            )
            log(f"re-estimated {n} folded BatchNorm layers on 512 training images", flush=True)
        batchnorm_mode = "train"
    if ctx.distributed:  # the weights are rank 0's (DistributedDataParallel); dropout masks differ per rank
        torch.manual_seed(args.seed + ctx.rank)
    sync_bn = ctx.distributed and world > 1 and batchnorm_mode == "train" and getattr(args, "sync_bn", True)
    if sync_bn:
        model = sync_batchnorm(model, device)
    model.to(device)
    dtype = torch.float64 if getattr(args, "dtype", "float32") == "float64" else torch.float32
    if dtype != torch.float32:
        model.to(dtype)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
        if cache_mode == "ram":
            # the whole cache fits on the GPU (5,232 images at 224 px are 262 MB), so augmentation runs there too
            cache = {s: v.to(device) for s, v in cache.items()}
    net = model  # the module itself; under torchrun `model` becomes its DistributedDataParallel wrapper
    capture, head = attach_map(net, args.arch) if any(evidence) else (None, None)
    if tissue and not isinstance(net, TopCellPooled):
        raise SystemExit(f"--tissue-composites needs a top-cell architecture, not {args.arch}")

    def to_input(grey: torch.Tensor) -> torch.Tensor:
        return model_batch(grey, config).to(device, dtype)

    n_train = len(cache["train"])
    steps_per_epoch = max(1, n_train // args.batch_size)
    class_counts = torch.bincount(labels["train"], minlength=2).float()
    class_weights = (class_counts.sum() / (2 * class_counts.clamp_min(1))).to(device, dtype)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.15
    )
    history: list[dict] = []
    best_auc, start_epoch, stale = -1.0, 1, 0
    if ctx.distributed:
        # rank 0 reads the checkpoint and sends it (no shared folder needed); any world size may resume it,
        # since --batch-size is the global batch: the schedule's steps do not depend on the world size
        ck = None
        if ctx.is_main and args.resume and (run / "last.pt").exists():
            ck = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
            ck["history"] = json.loads((run / "history.json").read_text())
        ck = ctx.broadcast(ck)
    else:
        ck = None
        if args.resume and (run / "last.pt").exists():
            ck = torch.load(run / "last.pt", map_location=device, weights_only=True)
            ck["history"] = json.loads((run / "history.json").read_text())
    if ck is not None:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        history = ck["history"]
        best_auc, start_epoch, stale = ck["best_auc"], ck["epoch"] + 1, ck["stale"]
        was = ck.get("world_size", 1)
        log(
            f"resumed after epoch {ck['epoch']}"
            + (f" (written by {was} processes, now {world})" if was != world else ""),
            flush=True,
        )
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[ctx.local_rank] if device == "cuda" else None)

    # augmentation draws differ per rank; rank 0 (and a single process) keeps the historical seed
    gen = torch.Generator().manual_seed(args.seed + ctx.rank)
    sampler: Any = None
    if ctx.distributed:
        from torch.utils.data import DistributedSampler

        positions: Any = range(n_train)  # the sampler needs only len()
        sampler = DistributedSampler(positions, num_replicas=world, rank=ctx.rank, shuffle=True, seed=args.seed)
    train_loader = None
    if cache_mode != "ram":
        from .streaming import EpochBatches, loader

        epoch_batches = EpochBatches()
        train_loader = loader(cache["train"], epoch_batches, pin_memory=device == "cuda", persistent=True)
    deadline = time.time() + args.max_minutes * 60 if args.max_minutes else None
    stop_reason = None
    from tqdm import tqdm

    def split_logits(split: str) -> np.ndarray:
        """Logits of a whole split: each rank scores its shard, then all of them are gathered in order."""
        local = predict_logits(net, cache[split], config, device)
        if not ctx.distributed:
            return local
        return ctx.gather_strided(torch.from_numpy(local), len(splits[split])).numpy()

    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        if batchnorm_mode == "freeze":
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        t_epoch = time.time()
        if sampler is not None:
            sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
            mine = torch.tensor(list(sampler))
            # rank r's k-th batch holds global positions k*B + r, k*B + r + W, ...: together the ranks see
            # the same global batches as one process (and as any other world size) would
            steps = [mine[k * rank_batch : (k + 1) * rank_batch] for k in range(steps_per_epoch)]
        else:
            order = torch.randperm(n_train, generator=gen)
            steps = [order[k * args.batch_size : (k + 1) * args.batch_size] for k in range(steps_per_epoch)]
        if train_loader is not None:
            epoch_batches.batches = [b.tolist() for b in steps]
            batch_iter = iter(train_loader)
        losses = []
        t_steps, n_steps = time.time(), 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{args.epochs}",
            leave=False,
            disable=not args.progress or not ctx.is_main,
            mininterval=5,
        )
        for step in bar:
            idx = steps[step]
            if train_loader is None:
                x = cache["train"][idx]
            else:
                x, got = next(batch_iter)
                assert torch.equal(got, idx)
                x = x.to(device, non_blocking=True)
            x = x.float().div(255).unsqueeze(1)
            if augment:
                x = augment_batch(x, aug, gen)
            soft = None
            if cutmix:  # soft targets: the area-weighted labels of the two films
                x, soft = cutmix_batch(x, labels["train"][idx], len(CLASS_NAMES), cutmix, gen)
                soft = soft.to(device, dtype)
            if mosaic:
                x = same_class_mosaic(x, labels["train"][idx], mosaic, gen)
            if lung_prior:
                x = outside_lung_swap(x, lung_prior, gen)
            grey = x
            x = model_batch(x, config).to(device)
            if dtype != torch.float32:
                x = x.to(dtype)
            y = labels["train"][idx].to(device)
            # a top-cell model trained on composites also gives its cells' log-odds (same forward pass)
            forward = net.forward_with_cells if isinstance(net, TopCellPooled) and tissue else model
            if device == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    out = forward(x)
            else:
                out = forward(x)
            logits, cells = out if isinstance(out, tuple) else (out, None)
            logits = logits.float() if dtype == torch.float32 else logits
            if ctx.distributed:
                # the weighted mean over the global batch: this rank's share of the weighted sum over the
                # global sum of weights, times W because DistributedDataParallel averages gradients
                denominator = ctx.all_reduce_sum(class_weights[y].sum().detach().clone())
                share = (
                    F.cross_entropy(
                        logits, y, weight=class_weights, label_smoothing=args.label_smoothing, reduction="sum"
                    )
                    / denominator
                )
                loss = share * world
            else:
                target = y if soft is None else soft
                loss = F.cross_entropy(logits, target, weight=class_weights, label_smoothing=args.label_smoothing)
                if cells is not None:  # --tissue-composites: composites of this batch, scored in a second pass
                    loss = loss + composite_loss(
                        net,
                        grey,
                        labels["train"][idx],
                        cells,
                        to_input,
                        gen,
                        tissue,
                        POSITIVE,
                        class_weights,
                        (args.cell_weight, args.context_weight),
                    )
                if capture is not None and head is not None:  # an evidence loss is on
                    loss = loss + evidence_loss(
                        model, capture, head, grey, labels["train"][idx], POSITIVE, to_input, gen, evidence
                    )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(share.detach()) if ctx.distributed else float(loss.detach()))
            n_steps += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]) * (world if ctx.distributed else 1):.4f}")
            if max_steps and scheduler.last_epoch >= max_steps:
                break
        step_seconds = (time.time() - t_steps) / max(1, n_steps)
        train_loss = float(np.mean(losses))
        if ctx.distributed:  # the global batch's loss is the sum of the ranks' shares
            train_loss = float(ctx.all_reduce_sum(torch.tensor(float(np.sum(losses)), dtype=torch.float64))) / len(
                losses
            )
        val_logits = split_logits("val")
        val_y = labels["val"].numpy()
        val_loss = float(F.cross_entropy(torch.as_tensor(val_logits), labels["val"]))
        val_auc = float(roc_auc_score(val_y, softmax_positive(val_logits)))
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_roc_auc": val_auc,
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(time.time() - t_epoch, 1),
            "step_seconds": round(step_seconds, 4),
        }
        history.append(row)
        improved = val_auc > best_auc + 1e-5
        if improved:
            best_auc, stale = val_auc, 0
        else:
            stale += 1
        if ctx.is_main:
            print(json.dumps(row), flush=True)
            with open(run / "epochs.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")
            if improved:
                torch.save({k: v.cpu() for k, v in net.state_dict().items()}, run / "best.pt")
            torch.save(
                {
                    "model": net.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "best_auc": best_auc,
                    "stale": stale,
                    "world_size": world,
                },
                run / "last.pt",
            )
            (run / "history.json").write_text(json.dumps(history, indent=1))
        if args.patience and stale >= args.patience:
            stop_reason = f"early stop: validation ROC-AUC has not improved for {stale} epochs"
        elif max_steps and scheduler.last_epoch >= max_steps and epoch < args.epochs:
            stop_reason = f"step budget: stopped after {scheduler.last_epoch} optimizer steps (--max-steps {max_steps})"
        elif deadline and epoch < args.epochs and time.time() + row["seconds"] > deadline:
            # another epoch would overrun: keep the best checkpoint so far (its schedule was cut short)
            stop_reason = (
                f"time budget: stopped after epoch {epoch} of {args.epochs} (--max-minutes {args.max_minutes})"
            )
        stop_reason = ctx.broadcast(stop_reason)  # clocks differ: rank 0 decides for all
        if stop_reason:
            log(stop_reason, flush=True)
            break

    if ctx.distributed:
        ctx.barrier()
        best = torch.load(run / "best.pt", map_location="cpu", weights_only=True) if ctx.is_main else None
        net.load_state_dict(ctx.broadcast(best))
    else:
        net.load_state_dict(torch.load(run / "best.pt", map_location=device, weights_only=True))
    val_logits = split_logits("val")
    test_logits = split_logits("test")
    if not ctx.is_main:
        return run
    from .plots import learning_curves

    learning_curves(history, run / "learning_curves.png")
    temperature = fit_temperature(val_logits, labels["val"].numpy())
    val_probs = softmax_positive(val_logits, temperature)
    threshold = choose_threshold(val_probs, labels["val"].numpy(), args.min_sensitivity)
    band = threshold_band(val_probs, labels["val"].numpy(), threshold, args.min_sensitivity)
    test_probs = softmax_positive(test_logits, temperature)
    best_epoch = max(history, key=lambda h: h["val_roc_auc"])["epoch"]
    summary = {
        "architecture": args.arch,
        "init": provenance,
        "batchnorm": batchnorm_mode if not folded else f"folded ImageNet BatchNorm: {args.batchnorm}",
        "preprocess": config.to_dict(),
        "augmentation": asdict(aug) if augment else dict(asdict(aug), enabled=False),
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
        "world_size": world,
        "distributed": {
            "launcher": "torchrun" if ctx.distributed else None,
            "backend": ctx.backend or None,
            "global_batch_size": args.batch_size,
            "per_rank_batch_size": rank_batch,
            "sync_batchnorm": sync_bn,
            "data_cache": cache_mode,
        },
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
