"""The checkpoint folder is checked before any training, a full disk says so, a killed save's
temporary files are cleared, and an empty split is named as such (issue 17's edges)."""

import errno
from collections import namedtuple

import pytest
import torch

import course_lib.train.checkpoint as checkpoint
from course_lib.data import DeviceLoader, ImageSplit, load_dataset, make_loaders, make_shapes
from course_lib.models import create_model
from course_lib.train import CheckpointError, fit, save_checkpoint

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def loader():
    x, y = make_shapes(32, seed=0)
    return DeviceLoader(x, y, batch_size=16, mean=MEAN, std=STD, num_classes=10, seed=0)


def run(loader, folder, **kwargs):
    epochs = []
    fit(
        create_model("resnet_cifar_nano"),
        loader,
        epochs=1,
        checkpoint_dir=folder,
        progress=False,
        verbose=False,
        on_epoch_end=lambda m, r: epochs.append(r),
        **kwargs,
    )
    return epochs


def test_a_file_as_checkpoint_dir_is_refused_before_training(tmp_path, loader):
    (tmp_path / "ckpt").write_text("not a folder")
    with pytest.raises(CheckpointError, match="is a file, not a folder"):
        run(loader, tmp_path / "ckpt")


def test_an_unwritable_checkpoint_dir_is_refused_before_training(tmp_path, loader, monkeypatch):
    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(checkpoint.tempfile, "TemporaryFile", read_only)
    with pytest.raises(CheckpointError, match="not writable.*Permission denied"):
        run(loader, tmp_path / "ckpt")


def test_too_little_space_is_refused_before_training(tmp_path, loader, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    with pytest.raises(CheckpointError, match=r"has 0 MB free; checkpoints of this model need"):
        run(loader, tmp_path / "ckpt")


def test_a_full_disk_during_a_save_says_so_and_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"epoch": 1})

    def full(path, write):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . file write failed")

    monkeypatch.setattr(checkpoint, "atomic_write", full)
    with pytest.raises(CheckpointError, match="no space left on the disk.*previous checkpoint"):
        save_checkpoint(path, {"epoch": 2})
    assert checkpoint.load_checkpoint(path)["epoch"] == 1


def test_a_killed_saves_temporary_file_is_removed(tmp_path, loader):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    orphan = folder / ".last.pt.abc123.tmp"
    orphan.write_bytes(b"half a checkpoint")
    assert len(run(loader, folder)) == 1
    assert not orphan.exists() and (folder / "last.pt").is_file()


def test_resume_without_a_checkpoint_says_it_starts_fresh(tmp_path, loader, capsys):
    fit(
        create_model("resnet_cifar_nano"),
        loader,
        epochs=1,
        checkpoint_dir=tmp_path / "new",
        resume=True,
        progress=False,
    )
    assert "No checkpoint at" in capsys.readouterr().out


def test_an_empty_split_is_named():
    data = load_dataset("shapes", n_train=20, n_test=10, seed=0)
    empty = ImageSplit(
        torch.zeros(0, 3, 32, 32, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    )
    with pytest.raises(ValueError, match="The training split of 'shapes' is empty"):
        make_loaders(data, batch_size=8, train=empty)
    with pytest.raises(ValueError, match="The test split of 'shapes' is empty"):
        make_loaders(data, batch_size=8, test=empty)


def test_no_space_error_keeps_other_errors_as_they_are(tmp_path, monkeypatch):
    def other(path, write):
        raise RuntimeError("something else")

    monkeypatch.setattr(checkpoint, "atomic_write", other)
    with pytest.raises(RuntimeError, match="something else"):
        save_checkpoint(tmp_path / "x.pt", {})


def test_a_data_root_that_is_a_file_is_named(tmp_path, monkeypatch):
    afile = tmp_path / "cifar.tar.gz"
    afile.write_bytes(b"an archive, not a folder")
    monkeypatch.setenv("COURSE_DATA_DIR", str(afile))
    with pytest.raises(NotADirectoryError, match=r"cifar.tar.gz \(COURSE_DATA_DIR.*is a file"):
        load_dataset("cifar10", download=False)


def test_the_download_cannot_hang(tmp_path, monkeypatch):
    """A silent proxy: every socket operation of the download times out instead of waiting."""
    import socket

    import torchvision.datasets

    from course_lib.data import cifar10

    seen = []

    def silent_proxy(root, train, download):
        seen.append(socket.getdefaulttimeout())
        raise TimeoutError("timed out")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", silent_proxy)
    assert cifar10._download(tmp_path, verbose=False) is None
    assert seen == [cifar10.DOWNLOAD_TIMEOUT_S] and socket.getdefaulttimeout() is None
