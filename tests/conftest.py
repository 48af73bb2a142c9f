"""Shared fixtures: the offline CIFAR-10 copy (skipped when absent) and tiny on-disk copies in
both layouts, made in a temporary folder."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.data import cifar10, default_data_root

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture(autouse=True)
def _clean_course_env(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.delenv("COURSE_COMPILE", raising=False)
    monkeypatch.delenv("COURSE_AMP", raising=False)


@pytest.fixture(scope="session")
def cifar_jpeg_dir() -> Path:
    """The unpacked offline copy (``<data root>/cifar10-jpeg``), or skip."""
    found = cifar10.find_local(default_data_root())
    if found is None or found[0] != "jpeg":
        pytest.skip(
            f"The offline CIFAR-10 copy is not under {default_data_root()} (set COURSE_DATA_DIR "
            "to a folder holding cifar10-jpeg/; .ci/run does this)."
        )
    return found[1]


@pytest.fixture(scope="session")
def cifar10_data(cifar_jpeg_dir):
    """The offline CIFAR-10 copy loaded as an ImageDataset (from the decode cache), or skip."""
    from course_lib.data import load_dataset

    return load_dataset("cifar10", root=cifar_jpeg_dir.parent, download=False, verbose=False)


@pytest.fixture()
def tiny_jpeg_root(tmp_path, cifar_jpeg_dir) -> Path:
    """A data root holding a 3-per-class train / 1-per-class test JPEG copy."""
    root = tmp_path / "root"
    for split, count in (("train", 3), ("test", 1)):
        for name in CLASSES:
            dest = root / "cifar10-jpeg" / split / name
            dest.mkdir(parents=True)
            for src in sorted((cifar_jpeg_dir / split / name).glob("*.jpg"))[:count]:
                shutil.copy(src, dest / src.name)
    return root


def write_torchvision_layout(root: Path, per_batch: int = 4, seed: int = 0) -> dict:
    """Write a tiny ``cifar-10-batches-py`` (5 train batches + test batch) and return what was
    written, to compare against."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {"train": [], "test": []}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels, "batch_label": name}, f)
        written["test" if name == "test_batch" else "train"].append((data, labels))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": per_batch}, f)
    return written


@pytest.fixture()
def tiny_torchvision_root(tmp_path) -> tuple[Path, dict]:
    root = tmp_path / "tvroot"
    return root, write_torchvision_layout(root)


def assert_valid_images(images: torch.Tensor, labels: torch.Tensor, n: int, size: int = 32):
    assert images.shape == (n, 3, size, size)
    assert images.dtype == torch.uint8
    assert labels.shape == (n,)
    assert labels.dtype == torch.int64
