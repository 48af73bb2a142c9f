"""Bad inputs at the edges (issue 17): each gives an error that names what to fix."""

import pytest
import torch

from course_lib.device import get_device, should_compile
from course_lib.models import create_model


@pytest.mark.parametrize("value", ["CPU", " cpu", "Cpu\n"])
def test_course_device_ignores_case_and_spaces(monkeypatch, value):
    monkeypatch.setenv("COURSE_DEVICE", value)
    assert get_device() == torch.device("cpu")


def test_a_course_device_typo_names_the_variable(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpux")
    with pytest.raises(ValueError, match=r"COURSE_DEVICE is 'cpux', which is not a device"):
        get_device()
    with pytest.raises(ValueError, match=r"the device argument is 'gpu'"):
        get_device("gpu")


def test_a_device_without_data_is_refused_at_once(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "meta")
    with pytest.raises(ValueError, match=r"COURSE_DEVICE is 'meta'.*'cpu', 'cuda', 'mps' only"):
        get_device()


def test_course_compile_accepts_yes_and_no_words_and_refuses_the_rest(monkeypatch):
    for value, expected in (
        ("1", True),
        ("On", True),
        (" yes ", True),
        ("0", False),
        ("off", False),
    ):
        monkeypatch.setenv("COURSE_COMPILE", value)
        assert should_compile("cpu") is expected
    monkeypatch.setenv("COURSE_COMPILE", "")  # empty: the default
    assert should_compile("cpu") is False
    monkeypatch.setenv("COURSE_COMPILE", "maybe")
    with pytest.raises(ValueError, match=r"COURSE_COMPILE is 'maybe'; use 1 .* or 0"):
        should_compile("cpu")


@pytest.mark.parametrize("name", [123, None, ["vit_cifar_nano"]])
def test_a_model_name_that_is_not_a_string_is_a_clear_error(name):
    with pytest.raises(TypeError, match=r"The model name must be a string"):
        create_model(name)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"depth": -1}, r"VisionTransformer: depth must be an integer >= 0, got -1"),
        ({"patch_size": 0}, r"PatchEmbed: patch_size must be a positive integer, got 0"),
        ({"num_heads": 0}, r"VisionTransformer: num_heads must be a positive integer, got 0"),
        ({"embed_dim": -8}, r"VisionTransformer: embed_dim must be a positive integer, got -8"),
        ({"in_chans": 0}, r"VisionTransformer: in_chans must be a positive integer, got 0"),
        ({"embed_dim": 64.0}, r"embed_dim must be a positive integer, got 64.0"),
    ],
)
def test_impossible_sizes_are_refused_with_the_argument_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        create_model("vit_cifar_nano", **overrides)


def test_a_depth_of_zero_is_a_valid_if_empty_transformer():
    model = create_model("vit_cifar_nano", depth=0).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    "name", ["vit_cifar_nano", "resnet_cifar_nano", "cait_cifar_nano", "convit_cifar_nano"]
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_inputs_in_another_precision_than_the_weights_are_explained(name, dtype):
    model = create_model(name).eval()
    with pytest.raises(ValueError, match=rf"inputs are {dtype} but the model's weights are "):
        model(torch.randn(1, 3, 32, 32, dtype=dtype))
    double = create_model(name).double().eval()  # the same precision on both sides is fine
    assert double(torch.randn(1, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64
