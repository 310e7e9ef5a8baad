"""Sets larger than memory: a manifest CSV instead of the Kermany layout, streamed and disk-cached images."""

from __future__ import annotations

import csv
import os

import pytest
import torch

from trainer.data import read_manifest, scan_images, scan_training_pool
from trainer.streaming import EpochBatches, MemmapImages, StreamImages, build_disk_cache, loader
from trainer.tensors import load_cache

from .conftest import KERMANY


@pytest.fixture(scope="module")
def films():
    records = scan_images(KERMANY / "val")  # 16 films
    return records + scan_images(KERMANY / "train" / "NORMAL")[:8] + scan_images(KERMANY / "train" / "PNEUMONIA")[:8]


def test_manifest_csv_gives_the_records_of_the_folder_scan(tmp_path, films):
    manifest = tmp_path / "sets" / "manifest.csv"
    manifest.parent.mkdir()
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "patient_id", "view", "age"])
        for i, r in enumerate(films):
            label = r.class_name.lower() if i % 2 else str(r.label)  # names (any case) or indices
            w.writerow([os.path.relpath(r.path, manifest.parent), label, r.patient, "AP", "" if i % 3 else "4.5"])
    records = scan_training_pool(manifest)
    assert len(records) == len(films)
    assert {(r.path.resolve(), r.label, r.patient) for r in records} == {
        (r.path.resolve(), r.label, r.patient) for r in films
    }
    assert [str(r.path) for r in records] == sorted(str(r.path) for r in records)
    assert {r.label for r in records} == {0, 1} and {r.view for r in records} == {"AP"}
    assert {r.age for r in records} == {None, 4.5}
    assert all(r.path.is_file() for r in records)

    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nx.jpeg,NORMAL\n")
    with pytest.raises(ValueError, match="patient_id"):
        read_manifest(bad)
    bad.write_text("path,label,patient_id\nx.jpeg,COVID,p1\n")
    with pytest.raises(ValueError, match="line 2"):
        read_manifest(bad)


def test_streamed_and_disk_cached_batches_equal_the_ram_cache(tmp_path, films):
    size = 32
    ram = load_cache(films, size)
    order = torch.randperm(len(films), generator=torch.Generator().manual_seed(0))
    batches = [order[i : i + 8].tolist() for i in range(0, len(order), 8)]

    stream = StreamImages(films, size, workers=2)
    got = list(loader(stream, EpochBatches(batches)))
    assert [idx.tolist() for _, idx in got] == batches
    for (images, _), idx in zip(got, batches):
        assert images.dtype == torch.uint8 and torch.equal(images, ram[idx])

    path = build_disk_cache(films, size, tmp_path / "cache", workers=2, log=lambda *a: None)
    disk = MemmapImages(path, workers=1)
    assert disk.shape == tuple(ram.shape)
    for idx in batches:
        assert torch.equal(disk[idx], ram[idx])
    for (images, _), idx in zip(loader(disk, batches), batches):  # DataLoader workers reopen the memory map
        assert torch.equal(images, ram[idx])
    assert torch.equal(torch.cat(list(disk.batches(10))), ram)

    # a split of the pool, and one rank's shard of it, read the same pixels
    part = stream.subset(list(range(4, 20))).subset([0, 2, 4])
    assert torch.equal(torch.cat(list(part.batches(2))), ram[[4, 6, 8]])

    again = build_disk_cache(films, size, tmp_path / "cache", workers=2, log=lambda *a: None)
    assert again == path and len(list((tmp_path / "cache").glob("*.npy"))) == 1  # written once
    assert build_disk_cache(films[:-1], size, tmp_path / "cache", workers=0, log=lambda *a: None) != path
