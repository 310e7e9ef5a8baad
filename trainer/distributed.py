"""Multi-process training on PyTorch's own engine (torchrun + DistributedDataParallel).

``torchrun --nproc_per_node N [--nnodes M ...] -m trainer train ...`` sets RANK / WORLD_SIZE /
LOCAL_RANK / MASTER_ADDR / MASTER_PORT; :func:`setup` reads them and joins the process group (gloo on
CPU, nccl on CUDA). Without those variables nothing is initialised and :class:`DistContext` describes a
single process, so every helper here is a no-op and the trainer behaves exactly as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    distributed: bool = False  # launched by torchrun (even with one process): the DDP path
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_local_main(self) -> bool:
        return self.local_rank == 0

    # --- collectives (identity for one process) -------------------------------------------------------
    def barrier(self) -> None:
        if self.distributed:
            if self.backend == "nccl":
                dist.barrier(device_ids=[torch.cuda.current_device()])
            else:
                dist.barrier()

    def broadcast(self, obj, src: int = 0):
        """``obj`` from rank ``src`` on every rank (pickled: for small objects, splits, checkpoints)."""
        if not self.distributed:
            return obj
        box = [obj if self.rank == src else None]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def all_gather_objects(self, obj) -> list:
        if not self.distributed:
            return [obj]
        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (in place and returned); not differentiable, for counts and logged losses."""
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def shard(self, n: int) -> list[int]:
        """This rank's strided share of ``range(n)`` (rank, rank + W, ...): the layout gather_strided undoes."""
        return list(range(self.rank, n, self.world_size))

    def gather_strided(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Rows computed on each rank's :meth:`shard` of ``range(n)`` -> all ``n`` rows in order, on every rank."""
        if not self.distributed:
            return local
        per_rank = -(-n // self.world_size)
        padded = local.new_zeros((per_rank, *local.shape[1:]))
        padded[: local.shape[0]] = local
        if self.backend == "nccl":
            padded = padded.cuda()
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        out = local.new_empty((n, *local.shape[1:]))
        for r, part in enumerate(parts):
            count = len(range(r, n, self.world_size))
            out[r :: self.world_size] = part[:count].to(out.device)
        return out


def setup(device: str) -> DistContext:
    """Join the torchrun process group when launched by torchrun; else a one-process context."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return DistContext()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is available")
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        # a generous timeout: rank 0 may build the on-disk image cache while the others wait at a barrier
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=60))
    return DistContext(rank, world, local_rank, local_world, True, backend)


def teardown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


class SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) that autograd differentiates: the gradient of the sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        out = t.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.contiguous().clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch (all ranks), on any device.

    ``nn.SyncBatchNorm`` only runs on accelerators; this does the same on CPU (gloo). Each rank computes
    its shard's (count, mean, variance) with the ordinary stable kernel, one differentiable all-reduce
    gathers them, and they are merged exactly (the parallel-variance formula), so N processes compute
    the forward and the gradients of one process holding the whole batch. Eval mode is plain BatchNorm2d;
    state-dict keys are BatchNorm2d's, so checkpoints load into the ordinary model.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c, world, rank = x.shape[1], dist.get_world_size(), dist.get_rank()
        var_local, mean_local = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
        count = torch.full((1,), x.numel() // c, dtype=torch.float64, device=x.device)
        mine = torch.cat([count, mean_local.double(), var_local.double()])
        table = torch.zeros((world, 1 + 2 * c), dtype=torch.float64, device=x.device)
        table = table.index_copy(0, torch.tensor([rank], device=x.device), mine[None])
        table = SumOverRanks.apply(table)  # every rank's (count, mean, var): an all-gather autograd can follow
        counts, means, variances = table[:, :1], table[:, 1 : 1 + c], table[:, 1 + c :]
        n = counts.sum()
        mean = (counts * means).sum(0) / n
        var = (counts * (variances + (means - mean) ** 2)).sum(0) / n
        tracked = self.num_batches_tracked
        if self.running_mean is not None and self.running_var is not None and tracked is not None:
            with torch.no_grad():
                tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.mul_(1 - m).add_(unbiased.to(self.running_var.dtype), alpha=m)
        shape = (1, c, 1, 1)
        scale = torch.rsqrt(var + self.eps).to(x.dtype)
        shift = mean.to(x.dtype)
        if self.affine:
            scale = scale * self.weight
            shift = self.bias - shift * scale
            return x * scale.view(shape) + shift.view(shape)
        return (x - shift.view(shape)) * scale.view(shape)


def convert_global_batchnorm(module: nn.Module) -> nn.Module:
    """Every plain BatchNorm2d in ``module`` becomes a :class:`GlobalBatchNorm2d` sharing its tensors."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            new = GlobalBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_global_batchnorm(child)
    return module


def sync_batchnorm(model: nn.Module, device: str) -> nn.Module:
    """BatchNorm over the global batch: nn.SyncBatchNorm on CUDA, :class:`GlobalBatchNorm2d` on CPU."""
    if device == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return convert_global_batchnorm(model)


def bench_allreduce(megabytes: float, repeats: int = 20) -> dict:
    """Median seconds of one all-reduce of ``megabytes`` float32 (the gradient size) over the process group."""
    import time

    import numpy as np

    ctx = setup("cuda" if torch.cuda.is_available() and os.environ.get("BENCH_DEVICE") == "cuda" else "cpu")
    try:
        t = torch.ones(int(megabytes * 2**20 / 4))
        if ctx.backend == "nccl":
            t = t.cuda()
        times = []
        for _ in range(repeats + 3):
            ctx.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            if ctx.backend == "nccl":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times[3:]))
        return {"world_size": ctx.world_size, "backend": ctx.backend, "megabytes": megabytes, "seconds": seconds}
    finally:
        teardown(ctx)


if __name__ == "__main__":  # torchrun --standalone --nproc_per_node 2 -m trainer.distributed 8.5
    import json
    import sys

    result = bench_allreduce(float(sys.argv[1]) if len(sys.argv) > 1 else 8.5)
    if int(os.environ.get("RANK", 0)) == 0:
        print(json.dumps(result))
