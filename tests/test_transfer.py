"""Upstream/downstream splits of one dataset and carrying a pre-trained body to a new head."""

import pytest
import torch

from course_lib.data import load_dataset, subset
from course_lib.models import create_model
from course_lib.transfer import CIFAR10_ANIMALS, CIFAR10_VEHICLES, class_subset, transfer_weights


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes", n_train=300, n_test=100, seed=0)


def test_a_class_subset_keeps_those_classes_relabelled_in_the_order_given(shapes):
    part = class_subset(shapes, [3, 1])
    assert part.classes == (shapes.classes[3], shapes.classes[1])
    for split, whole in ((part.train, shapes.train), (part.test, shapes.test)):
        assert set(split.labels.tolist()) == {0, 1}
        assert (split.labels == 0).sum() == (whole.labels == 3).sum()
        assert torch.equal(split.images[split.labels == 1], whole.images[whole.labels == 1])
    assert sorted(CIFAR10_ANIMALS + CIFAR10_VEHICLES) == list(range(10))


def test_a_class_subset_refuses_unknown_or_repeated_classes(shapes):
    with pytest.raises(ValueError, match="do not exist.*10"):
        class_subset(shapes, [2, 12])
    with pytest.raises(ValueError, match="each class once"):
        class_subset(shapes, [2, 2])


def test_more_shots_than_a_class_has_is_refused_with_the_count(shapes):
    part = class_subset(shapes, [0, 1])
    have = int((part.train.labels == 0).sum())
    assert len(subset(part.train, per_class=have, seed=0)) == 2 * have
    with pytest.raises(ValueError, match=f"per_class={have + 1} but class 0 has only {have}"):
        subset(part.train, per_class=have + 1, seed=0)


def test_transfer_copies_the_body_and_keeps_the_new_head():
    torch.manual_seed(0)
    upstream = create_model("vit_cifar_nano", num_classes=6)
    downstream = create_model("vit_cifar_nano", num_classes=4)
    fresh_head = downstream.head.weight.clone()
    transfer_weights(upstream, downstream)
    source, target = upstream.state_dict(), downstream.state_dict()
    assert all(torch.equal(source[k], target[k]) for k in source if not k.startswith("head"))
    assert torch.equal(downstream.head.weight, fresh_head)
    assert downstream.head.weight.shape == (4, 64)


@pytest.mark.parametrize(
    ("target", "overrides", "named"),
    [("resnet_cifar_nano", {}, "resnet_cifar_nano"), ("vit_cifar_nano", {"depth": 2}, "depth=2")],
)
def test_transfer_between_other_architectures_names_both(target, overrides, named):
    upstream = create_model("vit_cifar_nano", num_classes=6)
    downstream = create_model(target, num_classes=4, **overrides)
    with pytest.raises(ValueError, match="pre-trained model is vit_cifar_nano") as error:
        transfer_weights(upstream, downstream)
    assert named in str(error.value).split("but the target is")[1]
