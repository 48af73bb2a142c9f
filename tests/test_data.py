from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.data import (
    SHAPES_CLASSES,
    CorruptCacheError,
    DatasetNotFoundError,
    ImageSplit,
    load_dataset,
    make_shapes,
    subset,
    subset_indices,
)
from course_lib.data import cifar10 as cifar10_module
from tests.conftest import CLASSES, assert_valid_images


# --- shapes -------------------------------------------------------------------------------------
def test_shapes_is_deterministic_and_balanced():
    x1, y1 = make_shapes(300, seed=5)
    x2, y2 = make_shapes(300, seed=5)
    assert_valid_images(x1, y1, 300)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    counts = torch.bincount(y1, minlength=10)
    assert counts.min() == 30 and counts.max() == 30
    x3, _ = make_shapes(300, seed=6)
    assert not torch.equal(x1, x3)
    assert len(SHAPES_CLASSES) == 10 and len(set(SHAPES_CLASSES)) == 10


def test_shapes_images_are_not_trivial():
    x, y = make_shapes(200, seed=0)
    # Images of one class differ from each other (position, colour, clutter vary) ...
    same = x[y == 0].float()
    assert (same[1:] - same[:1]).abs().mean() > 20
    # ... and use most of the value range.
    assert x.float().std() > 40


def test_load_shapes_dataset():
    data = load_dataset("shapes", n_train=100, n_test=50, seed=1)
    assert data.name == "shapes" and data.num_classes == 10
    assert_valid_images(data.train.images, data.train.labels, 100)
    assert_valid_images(data.test.images, data.test.labels, 50)
    assert data.flip_safe is False
    assert not torch.equal(data.train.images[:50], data.test.images)
    mean, std = data.mean_std
    assert len(mean) == 3 and all(0 < s < 1 for s in std)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnist'.*'cifar10', 'shapes', 'auto'"):
        load_dataset("mnist")


def test_cifar10_rejects_shapes_sizes(tmp_path):
    with pytest.raises(ValueError, match="subset"):
        load_dataset("cifar10", root=tmp_path, n_train=10)


# --- CIFAR-10 -----------------------------------------------------------------------------------
def test_cifar10_absent_offline_names_both_ways(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(err.value)
    assert "cifar-10-batches-py" in message and "cifar10-jpeg" in message
    assert "download=True" in message and "COURSE_DATA_DIR" in message


def test_failed_download_is_reported_without_network(tmp_path, monkeypatch):
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise OSError("no network here")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        load_dataset("cifar10", root=tmp_path, download=True, verbose=False)


def test_auto_falls_back_to_shapes(tmp_path, capsys):
    data = load_dataset("auto", root=tmp_path, download=False)
    assert data.name == "shapes"
    assert "Using the embedded 'shapes' dataset" in capsys.readouterr().out


def test_cifar10_torchvision_layout(tiny_torchvision_root):
    root, written = tiny_torchvision_root
    data = load_dataset("cifar10", root=root, download=False)
    assert data.classes == CLASSES
    assert_valid_images(data.train.images, data.train.labels, 20)
    assert_valid_images(data.test.images, data.test.labels, 4)
    first_data, first_labels = written["train"][0]
    assert np.array_equal(data.train.images[:4].reshape(4, -1).numpy(), first_data)
    assert data.train.labels[:4].tolist() == first_labels
    assert "torchvision layout" in data.source
    again = load_dataset("cifar10", root=root, download=False)
    assert "cached" in again.source and torch.equal(again.train.images, data.train.images)


def test_cifar10_jpeg_layout_and_cache(tiny_jpeg_root):
    data = load_dataset("cifar10", root=tiny_jpeg_root, download=False)
    assert data.classes == CLASSES
    assert_valid_images(data.train.images, data.train.labels, 30)
    assert data.train.class_counts(10).tolist() == [3] * 10
    assert data.test.class_counts(10).tolist() == [1] * 10
    assert data.train.images.float().mean() > 30  # real pixels, not zeros
    cached = load_dataset("cifar10", root=tiny_jpeg_root, download=False)
    assert "cached" in cached.source
    assert torch.equal(cached.train.images, data.train.images)


def _cache_file(root: Path) -> Path:
    (path,) = (root / "cache").glob("cifar10-*.npz")
    return path


def test_truncated_cache_is_a_clear_error(tiny_jpeg_root):
    load_dataset("cifar10", root=tiny_jpeg_root, download=False)
    path = _cache_file(tiny_jpeg_root)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptCacheError, match=r"cannot be read.*Delete it"):
        load_dataset("cifar10", root=tiny_jpeg_root, download=False)


def test_tampered_cache_fails_its_checksum(tiny_torchvision_root):
    root, _ = tiny_torchvision_root
    load_dataset("cifar10", root=root, download=False)
    path = _cache_file(root)
    arrays = cifar10_module.read_cache(path)
    arrays.x_train[0, 0, 0, 0] ^= 0xFF
    data = {k: getattr(arrays, k).numpy() for k in ("x_train", "y_train", "x_test", "y_test")}
    with open(path, "rb") as f:
        stored = str(np.load(f)["sha256"])
    with open(path, "wb") as f:
        np.savez(f, **data, classes=np.array(arrays.classes), sha256=np.array(stored))
    with pytest.raises(CorruptCacheError, match=r"fails its checksum.*Delete it"):
        load_dataset("cifar10", root=root, download=False)


def test_full_offline_copy(cifar_jpeg_dir):
    data = load_dataset("cifar10", root=cifar_jpeg_dir.parent, download=False)
    assert data.classes == CLASSES
    assert_valid_images(data.train.images, data.train.labels, 50_000)
    assert_valid_images(data.test.images, data.test.labels, 10_000)
    assert data.train.class_counts(10).tolist() == [5000] * 10
    assert data.test.class_counts(10).tolist() == [1000] * 10
    mean, _ = data.mean_std
    assert mean == pytest.approx((0.49, 0.48, 0.45), abs=0.02)  # CIFAR-10's known channel means


# --- subsets ------------------------------------------------------------------------------------
def test_subsets_are_stratified_nested_and_deterministic():
    labels = torch.arange(1000) % 10
    small = subset_indices(labels, fraction=0.05, seed=3)
    large = subset_indices(labels, fraction=0.25, seed=3)
    assert torch.bincount(labels[small], minlength=10).tolist() == [5] * 10
    assert torch.bincount(labels[large], minlength=10).tolist() == [25] * 10
    assert set(small.tolist()) <= set(large.tolist())
    assert torch.equal(small, subset_indices(labels, fraction=0.05, seed=3))
    assert not torch.equal(small, subset_indices(labels, fraction=0.05, seed=4))
    per = subset_indices(labels, per_class=7)
    assert torch.bincount(labels[per], minlength=10).tolist() == [7] * 10


def test_subset_of_a_split():
    x, y = make_shapes(100, seed=0)
    part = subset(ImageSplit(x, y), per_class=2)
    assert len(part) == 20 and part.images.shape == (20, 3, 32, 32)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "exactly one"),
        ({"fraction": 0.1, "per_class": 3}, "exactly one"),
        ({"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        ({"per_class": 0}, "at least 1"),
        ({"per_class": 500}, "has only 100"),
    ],
)
def test_subset_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        subset_indices(torch.arange(1000) % 10, **kwargs)
