"""Training for a budget of images seen (course_lib.train.budget)."""

import math

import pytest
import torch

from course_lib.data import load_dataset, subset
from course_lib.models import create_model
from course_lib.train import NonFiniteLossError, repeat_to_batches, seeded, train_for_images


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", n_train=600, n_test=100, seed=0)


def test_repeat_to_batches(shapes):
    small = subset(shapes.train, per_class=5, seed=0)  # 50 images
    repeated = repeat_to_batches(small, batch_size=25, min_batches=10)
    assert len(repeated) == 250  # 5 whole copies: ten batches of 25
    torch.testing.assert_close(repeated.images[50:100], small.images)
    assert repeat_to_batches(shapes.train, batch_size=50, min_batches=10) is shapes.train
    with pytest.raises(ValueError):
        repeat_to_batches(small, batch_size=0)


def test_the_budget_sets_the_epochs_and_the_seed_the_result(shapes):
    small = subset(shapes.train, per_class=6, seed=0)  # 60 images
    runs = [
        train_for_images(
            seeded(lambda: create_model("resnet_cifar_nano", num_classes=10), seed),
            shapes,
            small,
            images_seen=1200,
            batch_size=64,
            device="cpu",
            seed=seed,
        )
        for seed in (3, 3, 4)
    ]
    first = runs[0]
    # batch: half the split (30); 5 copies give 10 batches per epoch (300 images); 4 epochs
    assert first.epochs == 4 and first.images_seen == 1200
    assert 0.0 <= first.test_acc <= 1.0 and first.history is not None
    assert first.test_acc == runs[1].test_acc  # same seed, same numbers on the CPU
    # one entry per test image, in the split's order, and the accuracy is their mean
    assert first.test_correct.shape == (len(shapes.test),)
    assert first.test_correct.float().mean().item() == pytest.approx(first.test_acc)
    w0, w2 = (next(r.model.parameters()).detach() for r in (runs[0], runs[2]))
    assert not torch.equal(w0, w2)  # another seed, another run


def test_divergence_raises_or_gives_nan(shapes):
    split = subset(shapes.train, per_class=10, seed=0)

    def exploding():
        model = create_model("resnet_cifar_nano", num_classes=10)
        with torch.no_grad():
            model.head.bias.fill_(float("nan"))
        return model

    with pytest.raises(NonFiniteLossError):
        train_for_images(exploding(), shapes, split, images_seen=100, batch_size=50, device="cpu")
    run = train_for_images(
        exploding(),
        shapes,
        split,
        images_seen=100,
        batch_size=50,
        device="cpu",
        on_divergence="nan",
    )
    assert run.history is None and math.isnan(run.test_acc) and run.test_correct is None


def test_with_an_ema_both_the_last_and_the_averaged_weights_are_scored(shapes):
    small = subset(shapes.train, per_class=6, seed=0)
    run = train_for_images(
        seeded(lambda: create_model("vit_cifar_nano", num_classes=10, patch_size=8), 0),
        shapes,
        small,
        images_seen=600,
        batch_size=64,
        device="cpu",
        ema_decay=0.9,
        decay_groups=False,
        min_lr_ratio=1.0,
    )
    assert run.ema_test_correct.shape == run.test_correct.shape == (len(shapes.test),)
    assert run.ema_test_correct.float().mean().item() == pytest.approx(run.ema_test_acc)
    plain = train_for_images(
        seeded(lambda: create_model("resnet_cifar_nano", num_classes=10), 0),
        shapes,
        small,
        images_seen=300,
        batch_size=64,
        device="cpu",
    )
    assert plain.ema_test_correct is None and math.isnan(plain.ema_test_acc)
