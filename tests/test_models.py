import pytest
import torch

from course_lib.models import create_model, list_models


def test_registry_lists_the_resnets():
    assert {"resnet_cifar_tiny", "resnet_cifar_small", "resnet_cifar"} <= set(list_models())


@pytest.mark.parametrize("name", ["resnet_cifar_tiny", "resnet_cifar_small", "resnet_cifar"])
def test_resnet_forward_shapes(name):
    model = create_model(name, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
        assert model.forward_features(torch.randn(2, 3, 32, 32)).shape[-2:] == (8, 8)


def test_resnet_parameter_counts():
    counts = {n: sum(p.numel() for p in create_model(n).parameters()) for n in list_models()}
    assert counts["resnet_cifar_tiny"] == 78_042
    assert counts["resnet_cifar_small"] == 308_650
    assert counts["resnet_cifar"] == 2_777_674


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(
        KeyError,
        match=r"Unknown model 'resnet_cifar_smal'.*Did you mean.*"
        r"'resnet_cifar_small'.*Available models",
    ):
        create_model("resnet_cifar_smal")


def test_bad_override_names_the_model():
    with pytest.raises(TypeError, match="Cannot build 'resnet_cifar_tiny'"):
        create_model("resnet_cifar_tiny", colour=3)


def test_wrong_channel_count_is_a_clear_error():
    model = create_model("resnet_cifar_tiny")
    with pytest.raises(ValueError, match="Expected 3 channels"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"batch of images \(B, C, H, W\)"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="Expected float inputs"):
        model(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
