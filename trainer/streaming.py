"""Image sources for sets larger than memory: decode on demand in DataLoader workers, or read a
memory-mapped uint8 cache of resized images written once to disk.

Every source yields exactly the pixels of the in-RAM cache (``trainer.tensors.load_cache``): the same
core loader, the same resize, the same rounding to uint8. A source is indexed by position in its record
list: ``source[indices]`` -> uint8 tensor (len(indices), S, S), and ``source.batches(bs)`` walks it in
order with worker processes decoding ahead.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .data import ImageRecord

CACHE_FORMAT = 1


def decode_resized(path: Path, size: int) -> np.ndarray:
    """One film at the model's input size as uint8 (S, S): what the in-RAM cache stores."""
    from cxrviewer.core import load_study, resize_to_input

    return np.round(resize_to_input(load_study(path).pixels, size) * 255).astype(np.uint8)


class StreamImages:
    """Decodes each image when asked (no cache): RAM holds only the batches in flight."""

    def __init__(self, records: Sequence[ImageRecord], size: int, workers: int = 2):
        self.paths = [r.path for r in records]
        self.size, self.workers = size, workers

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        return decode_resized(self.paths[i], self.size)

    def __getitem__(self, idx) -> torch.Tensor:
        idx = _as_list(idx, len(self))
        return torch.from_numpy(np.stack([self.image(i) for i in idx])) if idx else self._empty()

    def _empty(self) -> torch.Tensor:
        return torch.empty((0, self.size, self.size), dtype=torch.uint8)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        n = len(self)
        for images, _ in loader(self, [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]):
            yield images

    def subset(self, indices: Sequence[int]) -> Subset:
        return Subset(self, indices)


class MemmapImages:
    """Images of a cache file written by :func:`build_disk_cache`, read through a memory map.

    The page cache, not the process, holds what has been read: ranks on one machine share it, and the
    kernel drops it under pressure, so RAM stays flat whatever the set's size.
    """

    def __init__(self, path: str | os.PathLike, workers: int = 2):
        self.path, self.workers = Path(path), workers
        header = np.load(self.path, mmap_mode="r")
        self.shape = header.shape
        self.size = header.shape[-1]
        self._array: np.ndarray | None = None
        del header

    def __getstate__(self):  # DataLoader workers reopen the map instead of pickling it
        return {**self.__dict__, "_array": None}

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __len__(self) -> int:
        return self.shape[0]

    def image(self, i: int) -> np.ndarray:
        return np.array(self.array[i])  # a copy: the map is read-only

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, slice):
            return torch.from_numpy(np.array(self.array[idx]))
        idx = _as_list(idx, len(self))
        return (
            torch.from_numpy(np.array(self.array[idx]))
            if idx
            else torch.empty((0, self.size, self.size), dtype=torch.uint8)
        )

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        for i in range(0, len(self), batch_size):
            yield self[i : i + batch_size]

    def subset(self, indices: Sequence[int]) -> Subset:
        return Subset(self, indices)


class Subset:
    """Some positions of a source (a split of the pool, one rank's shard), itself a source."""

    def __init__(self, source, indices: Sequence[int]):
        self.source, self.indices = source, list(indices)
        self.size, self.workers = source.size, source.workers

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        return self.source.image(self.indices[i])

    def __getitem__(self, idx) -> torch.Tensor:
        return self.source[[self.indices[i] for i in _as_list(idx, len(self))]]

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        n = len(self)
        batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
        if isinstance(_root(self), MemmapImages):
            for b in batches:
                yield self[b]
            return
        for images, _ in loader(self, batches):
            yield images

    def subset(self, indices: Sequence[int]) -> Subset:
        return Subset(self.source, [self.indices[i] for i in indices])


def _root(source):
    while isinstance(source, Subset):
        source = source.source
    return source


def _as_list(idx, n: int) -> list[int]:
    if isinstance(idx, slice):
        return list(range(n))[idx]
    if isinstance(idx, torch.Tensor | np.ndarray):
        return [int(i) for i in idx.reshape(-1).tolist()]
    return [int(i) for i in idx]


class _Items(Dataset):
    """(uint8 image tensor (S, S), index) per position: what the DataLoader's workers produce."""

    def __init__(self, source, labels: Sequence[int] | None = None):
        self.source, self.labels = source, labels

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        return torch.from_numpy(np.ascontiguousarray(self.source.image(i))), i


class EpochBatches:
    """A batch sampler whose batches are set per epoch (so persistent DataLoader workers can be kept)."""

    def __init__(self, batches: list[list[int]] | None = None):
        self.batches = batches or []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def loader(source, batches, workers: int | None = None, pin_memory: bool = False, persistent: bool = False):
    """A DataLoader over ``source`` yielding (uint8 (B, S, S), indices (B,)) for each list in ``batches``."""
    workers = source.workers if workers is None else workers
    sampler = batches if isinstance(batches, EpochBatches) else EpochBatches(list(batches))
    return DataLoader(
        _Items(source),
        batch_sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=persistent and workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )


# --- the on-disk cache ------------------------------------------------------------------------------
def cache_key(records: Sequence[ImageRecord], size: int) -> str:
    """Changes when any file (path, byte size, mtime), their order or the input size changes."""
    h = hashlib.sha256(f"cxr-cache-v{CACHE_FORMAT}:{size}\n".encode())
    for r in records:
        st = os.stat(r.path)
        h.update(f"{r.path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def disk_cache_path(cache_dir: str | os.PathLike, records: Sequence[ImageRecord], size: int) -> Path:
    return Path(cache_dir) / f"images-{size}px-{len(records)}-{cache_key(records, size)}.npy"


def build_disk_cache(
    records: Sequence[ImageRecord], size: int, cache_dir: str | os.PathLike, workers: int = 2, log=print
) -> Path:
    """Write (once) every image resized to ``size`` as one uint8 .npy array (N, S, S); return its path.

    Decoding runs in ``workers`` DataLoader processes and rows go straight to the file in order, so memory
    stays at a few batches. The file appears under its final name only when complete (atomic rename), and
    its name holds a key of the files' paths, sizes and mtimes: a stale cache is never read.
    """
    path = disk_cache_path(cache_dir, records, size)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    n = len(records)
    stream = StreamImages(records, size, workers)
    with open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": (n, size, size)})
        done = 0
        for images, idx in loader(stream, [list(range(i, min(i + 64, n))) for i in range(0, n, 64)]):
            assert int(idx[0]) == done
            fh.write(images.numpy().tobytes())
            done += images.shape[0]
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    meta = {"format": CACHE_FORMAT, "images": n, "size": size, "first": str(records[0].path) if n else None}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    log(f"wrote the image cache {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def split_sources(split_records, args, ctx, log) -> dict:
    """Per split, the images this rank reads: a uint8 tensor in RAM or a streaming source
    (trainer.streaming); the whole train split, and this rank's strided shard of validation and test."""
    from .tensors import load_cache

    mode, size = getattr(args, "cache", "ram"), args.image_size
    workers = getattr(args, "workers", 0) or min(4, os.cpu_count() or 1)
    shards = {s: ctx.shard(len(recs)) if s != "train" else list(range(len(recs))) for s, recs in split_records.items()}
    if mode == "ram":
        out: dict = {}
        for s, recs in split_records.items():
            if s == "train" and ctx.distributed:
                # every rank draws from the whole train split: each decodes 1/W of it, then all gather
                mine = load_cache([recs[i] for i in ctx.shard(len(recs))], size)
                out[s] = ctx.gather_strided(mine, len(recs))
            else:
                out[s] = load_cache([recs[i] for i in shards[s]], size)
        return out
    # one pool for all splits, sorted by path: a new split (seed, fractions) reuses the same cache
    pool = sorted({r.path: r for recs in split_records.values() for r in recs}.values(), key=lambda r: str(r.path))
    position = {r.path: i for i, r in enumerate(pool)}
    if mode == "disk":
        cache_dir = getattr(args, "cache_dir", None) or Path(args.out) / "cache"
        if ctx.is_main:
            build_disk_cache(pool, size, cache_dir, workers, log)
        ctx.barrier()
        if ctx.is_local_main and ctx.distributed:  # a node whose cache folder is not shared with rank 0's
            build_disk_cache(pool, size, cache_dir, workers, log)
        ctx.barrier()
        root: MemmapImages | StreamImages = MemmapImages(disk_cache_path(cache_dir, pool, size), workers)
    else:
        root = StreamImages(pool, size, workers)
    return {s: root.subset([position[recs[i].path] for i in shards[s]]) for s, recs in split_records.items()}
