"""Every course model with a timm twin loads the twin's state dict strictly and computes the same
outputs (CPU fp32, atol 1e-5), on the fused and on the explicit attention path; the catalogue
itself (names, families, sizes, patterns) is consistent."""

from __future__ import annotations

import pytest
import torch

from course_lib.measure import input_size
from course_lib.models import (
    CIFAR_SIZES,
    create_model,
    create_timm_twin,
    find_model,
    list_models,
    model_entry,
)

TWINS = [name for name in list_models() if model_entry(name).timm_name]
# The ImageNet-size models take seconds each on two cores: run them in `make test` only.
LARGE = {"vit_base_patch16_224", "vit_small_patch16_224", "cait_s24_224", "convit_small"}
# Variants of the anchor configurations that timm spells the same way.
VARIANTS = [
    ("vit_cifar_tiny", {"global_pool": "avg"}),
    ("vit_tiny_patch16_224", {"global_pool": "avg"}),
    ("cait_cifar_nano", {"global_pool": "avg"}),
    ("convit_cifar_tiny", {"global_pool": "avg"}),
]


def _cases():
    for name in TWINS:
        marks = [pytest.mark.slow] if name in LARGE else []
        yield pytest.param(name, {}, id=name, marks=marks)
    for name, overrides in VARIANTS:
        label = ",".join(f"{k}={v}" for k, v in overrides.items())
        yield pytest.param(name, overrides, id=f"{name}[{label}]")


def _image_size(model: torch.nn.Module) -> int:
    return input_size(model)[0]


@pytest.mark.parametrize(("name", "overrides"), list(_cases()))
def test_course_model_equals_its_timm_twin(name, overrides):
    torch.manual_seed(0)
    reference = create_timm_twin(name, **overrides).eval()
    with torch.no_grad():  # move every weight off its init (LayerScale, gates, zero tokens)
        for p in reference.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model = create_model(name, **overrides).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    size = _image_size(model)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)
        for module in model.modules():
            if hasattr(module, "fused"):
                module.fused = False
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=0)


def test_every_transformer_family_has_a_twin_at_every_cifar_size():
    for family in ("vit", "deit", "cait", "convit"):
        for size in CIFAR_SIZES:
            assert model_entry(find_model(family, size)).timm_name, (family, size)


def test_catalogue_names_families_and_patterns():
    assert list_models("vit_cifar_*") == ["vit_cifar_mini", "vit_cifar_nano", "vit_cifar_tiny"]
    assert list_models(family="resnet") == [
        "resnet_cifar_mini",
        "resnet_cifar_nano",
        "resnet_cifar_tiny",
    ]
    assert find_model("deit", "nano") == "deit_cifar_nano_distilled"
    assert find_model("resnet", "mini") == "resnet_cifar_mini"
    entry = model_entry("convit_cifar_nano")
    assert (entry.family, entry.size, entry.timm_name) == ("convit", "nano", "convit_tiny")
    assert entry.timm_args["embed_dim"] == 16  # timm counts ConViT's width per head
    assert entry.summary.startswith("Width 64")
    for name in list_models():
        assert model_entry(name).builder.__name__ == name


def test_catalogue_errors_name_what_exists():
    with pytest.raises(KeyError, match="has no timm twin.*Models with one: cait_cifar_mini"):
        create_timm_twin("resnet_cifar_nano")
    with pytest.raises(KeyError, match="Expected one 'vit' model of size 'huge'.*CIFAR sizes"):
        find_model("vit", "huge")
    with pytest.raises(KeyError, match="Did you mean 'vit_cifar_nano'"):
        model_entry("vit_cifar_nanoo")
