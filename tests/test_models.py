import pytest
import torch

from course_lib.models import CIFAR_SIZES, create_model, list_models, model_entry


def test_registry_lists_the_resnets():
    assert {"resnet_cifar_nano", "resnet_cifar_mini", "resnet_cifar_tiny"} <= set(list_models())


def test_one_naming_ladder_across_families():
    """A CIFAR model's name says its size, and the sizes mean the same order in every family:
    ``*_cifar_nano`` < ``*_cifar_mini`` < ``*_cifar_tiny`` in parameters."""
    for family in sorted({model_entry(n).family for n in list_models("*_cifar_*")}):
        sized = {}
        for name in list_models("*_cifar_*", family=family):
            size = model_entry(name).size
            assert f"_cifar_{size}" in name, (name, size)
            sized[CIFAR_SIZES.index(size)] = sum(p.numel() for p in create_model(name).parameters())
        counts = [sized[i] for i in sorted(sized)]
        assert counts == sorted(counts), (family, counts)


@pytest.mark.parametrize("name", ["resnet_cifar_nano", "resnet_cifar_mini", "resnet_cifar_tiny"])
def test_resnet_forward_shapes(name):
    model = create_model(name, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
        assert model.forward_features(torch.randn(2, 3, 32, 32)).shape[-2:] == (8, 8)


def test_resnet_parameter_counts():
    counts = {n: sum(p.numel() for p in create_model(n).parameters()) for n in list_models()}
    assert counts["resnet_cifar_nano"] == 78_042
    assert counts["resnet_cifar_mini"] == 308_650
    assert counts["resnet_cifar_tiny"] == 2_777_674


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(
        KeyError,
        match=r"Unknown model 'resnet_cifar_mnni'.*Did you mean.*"
        r"'resnet_cifar_mini'.*Available models",
    ):
        create_model("resnet_cifar_mnni")


@pytest.mark.parametrize(
    "old, new", [("resnet_cifar_small", "resnet_cifar_mini"), ("resnet_cifar", "resnet_cifar_tiny")]
)
def test_an_old_name_says_what_it_is_called_now(old, new):
    with pytest.raises(KeyError, match=f"It was renamed to '{new}'"):
        create_model(old)


def test_bad_override_names_the_model():
    with pytest.raises(TypeError, match="Cannot build 'resnet_cifar_nano'"):
        create_model("resnet_cifar_nano", colour=3)


def test_wrong_channel_count_is_a_clear_error():
    model = create_model("resnet_cifar_nano")
    with pytest.raises(ValueError, match="Expected 3 channels"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"batch of images \(B, C, H, W\)"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="Expected float inputs"):
        model(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
