"""The shapes dataset is cached like CIFAR-10 (best effort), and cache files honour the umask."""

import os
import stat

import pytest
import torch

from course_lib.atomic import atomic_write
from course_lib.data import datasets, load_dataset
from course_lib.data.cache import cached_tensors


def test_cached_tensors_make_once_then_read(tmp_path):
    calls = []

    def make():
        calls.append(1)
        return {"x": torch.arange(6).view(2, 3)}

    path = tmp_path / "cache" / "t.pt"
    first, how = cached_tensors(path, make)
    assert how.startswith("made and cached") and path.is_file()
    second, how = cached_tensors(path, make)
    assert how.startswith("cached at") and len(calls) == 1
    assert torch.equal(first["x"], second["x"])
    path.write_bytes(b"not a tensor file")  # damaged: made again, with a warning
    with pytest.warns(UserWarning, match="cannot be read"):
        third, how = cached_tensors(path, make)
    assert how.startswith("made and cached") and len(calls) == 2
    assert torch.equal(third["x"], first["x"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_cached_tensors_on_a_read_only_folder_warn_and_go_on(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.warns(UserWarning, match="Could not write the cache"):
            tensors, how = cached_tensors(folder / "t.pt", lambda: {"x": torch.ones(2)})
    finally:
        folder.chmod(0o755)
    assert how == "not cached" and torch.equal(tensors["x"], torch.ones(2))


def test_cached_tensors_when_the_write_fails(tmp_path, monkeypatch):
    import course_lib.data.cache as cache

    def no_space(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "atomic_write", no_space)
    with pytest.warns(UserWarning, match="No space left on device"):
        tensors, how = cached_tensors(tmp_path / "t.pt", lambda: {"x": torch.ones(2)})
    assert how == "not cached"


def test_large_shapes_datasets_are_cached_small_ones_are_not(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SHAPES_CACHE_MIN_IMAGES", 30)
    small = load_dataset("shapes", root=tmp_path, n_train=10, n_test=10, seed=3)
    assert not (tmp_path / "cache").exists() and "cached" not in small.source
    first = load_dataset("shapes", root=tmp_path, n_train=20, n_test=10, seed=3)
    assert "made and cached" in first.source
    again = load_dataset("shapes", root=tmp_path, n_train=20, n_test=10, seed=3)
    assert "cached at" in again.source and "made" not in again.source
    assert torch.equal(first.train.images, again.train.images)
    assert torch.equal(first.test.labels, again.test.labels)
    assert torch.equal(first.train.images[:10], small.train.images)  # the same generator


def test_atomic_files_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "shared.bin", lambda f: f.write(b"x"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by the group and others
        os.umask(0o077)
        path = atomic_write(tmp_path / "private.bin", lambda f: f.write(b"x"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_cifar_cache_goes_to_course_cache_dir(tiny_torchvision_root, tmp_path, monkeypatch):
    from course_lib.data import cifar10

    root, _ = tiny_torchvision_root
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "elsewhere"))
    arrays, how = cifar10.load(root, download=False, verbose=False)
    assert list((tmp_path / "elsewhere").glob("cifar10-*.npz")) and not (root / "cache").exists()
    again, how = cifar10.load(root, download=False, verbose=False)
    assert "cached decode" in how and torch.equal(again.x_train, arrays.x_train)


def test_cifar_loads_when_its_cache_cannot_be_written(tiny_torchvision_root, monkeypatch):
    from course_lib.data import cifar10

    def read_only(path, arrays):
        raise OSError(30, "Read-only file system")

    root, _ = tiny_torchvision_root
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    monkeypatch.setattr(cifar10, "write_cache", read_only)
    with pytest.warns(UserWarning, match="Could not write the CIFAR-10 cache.*Read-only"):
        arrays, how = cifar10.load(root, download=False, verbose=False)
    assert how.endswith("(not cached)") and arrays.x_train.shape[0] == 20


def test_an_unreadable_cache_is_not_called_corrupt(tiny_torchvision_root, monkeypatch):
    from course_lib.data import cifar10

    root, _ = tiny_torchvision_root
    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    first, _ = cifar10.load(root, download=False, verbose=False)  # writes the cache

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cifar10, "read_cache", denied)
    with pytest.warns(UserWarning, match="permission denied.*COURSE_CACHE_DIR"):
        arrays, how = cifar10.load(root, download=False, verbose=False)
    assert torch.equal(arrays.x_train, first.x_train)


def test_a_read_only_data_root_caches_in_the_user_folder(tmp_path, monkeypatch):
    from course_lib.data import cache

    monkeypatch.delenv("COURSE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    writable = tmp_path / "data"
    assert cache.cache_file(writable, "a.npz") == writable / "cache" / "a.npz"
    monkeypatch.setattr(cache.os, "access", lambda path, mode: False)  # as on a read-only mount
    assert cache.cache_file(tmp_path / "ro", "a.npz") == tmp_path / "xdg" / "course_lib" / "a.npz"
    (writable / "cache" / "b.npz").write_bytes(b"x")  # a cache already beside the data is read
    assert cache.cache_file(writable, "b.npz") == writable / "cache" / "b.npz"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache.cache_file(writable, "b.npz") == tmp_path / "chosen" / "b.npz"
