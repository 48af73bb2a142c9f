"""Damaged or odd dataset files give errors (or warnings) that name the file (issue 17)."""

import pickle

import numpy as np
import pytest
from PIL import Image

from course_lib.data import CorruptDataError, DatasetNotFoundError, cifar10

from .conftest import write_torchvision_layout


def write_jpeg_copy(root, classes=("cat", "dog"), per_class=2, suffix=".jpg", test_classes=None):
    """A tiny ImageFolder copy: root/{train,test}/<class>/<i><suffix>."""
    rng = np.random.default_rng(0)
    for split, names in (("train", classes), ("test", test_classes or classes)):
        for name in names:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}{suffix}")
    return root


def test_jpeg_png_and_upper_case_suffixes_are_loaded(tmp_path):
    root = write_jpeg_copy(tmp_path / "copy", suffix=".JPG")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "train" / "cat" / "x.png")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "train" / "dog" / "y.jpeg")
    arrays = cifar10.read_jpeg_folder(root)
    assert arrays.x_train.shape == (6, 3, 32, 32) and arrays.x_test.shape == (4, 3, 32, 32)


def test_files_that_are_not_images_are_reported(tmp_path):
    root = write_jpeg_copy(tmp_path / "copy")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match=r"1 files in .*train are not images.*cat/notes.txt"):
        cifar10.read_jpeg_folder(root)


def test_class_folders_must_agree_between_splits(tmp_path):
    root = write_jpeg_copy(tmp_path / "copy", test_classes=("cat", "bird"))
    with pytest.raises(DatasetNotFoundError, match=r"lacks \['dog'\] and has extra \['bird'\]"):
        cifar10.read_jpeg_folder(root)


def test_a_truncated_jpeg_is_named(tmp_path):
    root = write_jpeg_copy(tmp_path / "copy")
    broken = root / "train" / "dog" / "1.jpg"
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(CorruptDataError, match=r"dog/1.jpg cannot be decoded.*truncated"):
        cifar10.read_jpeg_folder(root)


def test_a_truncated_torchvision_batch_is_named(tmp_path):
    write_torchvision_layout(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(CorruptDataError, match=r"data_batch_3 cannot be read.*download it again"):
        cifar10.read_torchvision_layout(tmp_path / "cifar-10-batches-py")


def test_a_batch_of_the_wrong_shape_is_named(tmp_path):
    write_torchvision_layout(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    with open(batch, "wb") as f:
        pickle.dump({"data": np.zeros((4, 1000), np.uint8), "labels": [0, 1, 2, 3]}, f)
    with pytest.raises(CorruptDataError, match=r"test_batch holds data of shape \(4, 1000\)"):
        cifar10.read_torchvision_layout(tmp_path / "cifar-10-batches-py")
