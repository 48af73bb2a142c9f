import pytest
import torch
import torch.nn.functional as F

from course_lib.data import (
    AugmentConfig,
    BatchAugment,
    DeviceLoader,
    denormalize,
    load_dataset,
    make_loaders,
    make_shapes,
    normalize,
)
from course_lib.data.augment import apply_policy, random_crop_flip

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def images():
    return make_shapes(64, seed=0)


def loader(x, y, **kwargs):
    defaults = dict(batch_size=16, mean=MEAN, std=STD, num_classes=10)
    return DeviceLoader(x, y, **{**defaults, **kwargs})


def test_loader_yields_normalised_batches(images):
    x, y = images
    batches = list(loader(x, y))
    assert len(batches) == 4
    inputs, targets = batches[0]
    assert inputs.shape == (16, 3, 32, 32) and inputs.dtype == torch.float32
    assert torch.equal(targets, y[:16])
    torch.testing.assert_close(denormalize(inputs, MEAN, STD), x[:16].float() / 255)


def test_loader_drop_last_and_lengths(images):
    x, y = images
    assert len(loader(x[:50], y[:50], batch_size=16)) == 4
    dropping = loader(x[:50], y[:50], batch_size=16, drop_last=True)
    assert len(dropping) == 3 and dropping.num_images == 48
    assert sum(b[0].shape[0] for b in dropping) == 48


def test_shuffle_depends_on_seed_and_epoch_only(images):
    x, y = images
    a = loader(x, y, shuffle=True, seed=1)
    first = torch.cat([t for _, t in a])
    second = torch.cat([t for _, t in a])  # epoch advanced by itself
    assert not torch.equal(first, second)
    a.set_epoch(0)
    assert torch.equal(first, torch.cat([t for _, t in a]))
    assert sorted(first.tolist()) == sorted(y.tolist())


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(8, 3, 32, 32), r"uint8 tensor of shape \(N, C, H, W\)"),
        (torch.zeros(8, 32, 32, 3, dtype=torch.uint8), "permute"),
        (torch.zeros(8, 32, 32, dtype=torch.uint8), r"uint8 tensor of shape \(N, C, H, W\)"),
    ],
)
def test_loader_rejects_wrong_images(bad, message):
    with pytest.raises(ValueError, match=message):
        loader(bad, torch.zeros(8, dtype=torch.int64))


def test_loader_rejects_mismatched_labels_and_stats(images):
    x, y = images
    with pytest.raises(ValueError, match="64 images but 10 labels"):
        loader(x, y[:10])
    with pytest.raises(ValueError, match="integer tensor"):
        loader(x, y.float())
    with pytest.raises(ValueError, match="one value per channel"):
        loader(x, y, mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="even batch_size"):
        loader(x, y, batch_size=15, augment=AugmentConfig(mixup_alpha=0.8))


def test_crop_flip_keeps_shape_dtype_and_pixels(images):
    x, _ = images
    out = random_crop_flip(x, padding=4, flip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert not torch.equal(out, x)
    # Every output pixel is an input pixel or zero padding.
    assert set(out.unique().tolist()) <= set(x.unique().tolist()) | {0}


def test_flip_only_gives_the_image_or_its_mirror(images):
    x, _ = images
    out = random_crop_flip(x, padding=0, flip=True, generator=torch.Generator().manual_seed(0))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and mirrored.any() and same.any()


def test_crop_matches_a_reference_shift(images):
    x, _ = images
    gen = torch.Generator().manual_seed(3)
    out = random_crop_flip(x[:1], padding=2, flip=False, generator=gen)
    gen = torch.Generator().manual_seed(3)
    dy = int(torch.randint(0, 5, (1,), generator=gen))
    dx = int(torch.randint(0, 5, (1,), generator=gen))
    expected = F.pad(x[:1], (2, 2, 2, 2))[:, :, dy : dy + 32, dx : dx + 32]
    assert torch.equal(out, expected)


@pytest.mark.parametrize("policy", ["trivialaugment", "randaugment"])
def test_policies_run_batched_on_uint8(images, policy):
    x, _ = images
    out = apply_policy(x, policy, groups=8, seed=0)
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert torch.equal(out, apply_policy(x, policy, groups=8, seed=0))


def test_full_augmentation_and_mixup_targets(images):
    x, y = images
    config = AugmentConfig(
        policy="trivialaugment", mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1
    )
    augment = BatchAugment(config, MEAN, STD, num_classes=10)
    inputs, targets = augment(x[:16], y[:16], seed=7)
    assert inputs.shape == (16, 3, 32, 32) and inputs.dtype == torch.float32
    assert inputs.min() >= (0 - 0.5) / 0.25 - 1e-5 and inputs.max() <= (1 - 0.5) / 0.25 + 1e-5
    assert targets.shape == (16, 10)
    torch.testing.assert_close(targets.sum(1), torch.ones(16))
    again = augment(x[:16], y[:16], seed=7)
    assert torch.equal(inputs, again[0]) and torch.equal(targets, again[1])


def test_unknown_policy():
    with pytest.raises(ValueError, match="Unknown augmentation policy"):
        AugmentConfig(policy="autoaugment-xl")


def test_make_loaders_uses_dataset_statistics():
    data = load_dataset("shapes", n_train=64, n_test=32)
    train, test = make_loaders(data, batch_size=16, augment=AugmentConfig(flip=False))
    assert len(train) == 4 and len(test) == 1
    inputs, _ = next(iter(test))
    torch.testing.assert_close(inputs, normalize(data.test.images, *data.mean_std))
