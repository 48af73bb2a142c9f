"""Convolutional stems for the ViT (``ConvPatchEmbed``, ``VisionTransformer(stem=...)``): they give
the same tokens as the patch stem, say clearly what they cannot do, and have the parameter counts
of their closed-form formulas."""

import pytest
import torch
from torch import nn

from course_lib.models import create_model
from course_lib.models.cnn import ConvPatchEmbed
from course_lib.models.layers import PatchEmbed


def conv_stem_parameters(patch: int, in_chans: int, dim: int, width: int = 32) -> int:
    """``log2(patch)`` stages of (3x3 conv without bias + batch norm), then a 1x1 projection."""
    total, chans = 0, in_chans
    for i in range(patch.bit_length() - 1):
        out = width * 2**i
        total += chans * out * 9 + 2 * out
        chans = out
    return total + chans * dim + dim


def resnet_stem_parameters(patch: int, in_chans: int, dim: int, width: int = 32) -> int:
    """A 3x3 conv + BN, then one stride-2 BasicBlock per stage (two 3x3 convs + BN each, and a
    1x1 conv + BN shortcut), then a 1x1 projection."""
    total, chans = in_chans * width * 9 + 2 * width, width
    for i in range(patch.bit_length() - 1):
        out = width * 2**i
        total += chans * out * 9 + 2 * out + out * out * 9 + 2 * out + chans * out + 2 * out
        chans = out
    return total + chans * dim + dim


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("kind", ["conv", "resnet"])
@pytest.mark.parametrize(("img_size", "patch"), [(32, 2), (32, 4), (32, 8), (64, 16)])
def test_conv_stem_gives_the_patch_stems_tokens(kind, img_size, patch):
    x = torch.randn(2, 3, img_size, img_size)
    reference = PatchEmbed(img_size, patch, 3, 48)
    stem = ConvPatchEmbed(img_size, patch, 3, 48, kind=kind)
    tokens = stem(x)
    assert tokens.shape == reference(x).shape == (2, (img_size // patch) ** 2, 48)
    assert stem.num_patches == reference.num_patches
    assert stem.grid_size == reference.grid_size == img_size // patch
    assert torch.isfinite(tokens).all()


@pytest.mark.parametrize("patch", [2, 4, 8])
def test_stem_parameter_counts_match_the_formulas(patch):
    assert count(ConvPatchEmbed(32, patch, 3, 64, kind="conv")) == conv_stem_parameters(
        patch, 3, 64
    )
    assert count(ConvPatchEmbed(32, patch, 3, 64, kind="resnet")) == resnet_stem_parameters(
        patch, 3, 64
    )


def test_nano_stem_parameter_counts():
    patch_model = create_model("vit_cifar_nano")
    assert count(patch_model.patch_embed) == 3 * 4 * 4 * 64 + 64 == 3_136
    encoder = count(patch_model) - count(patch_model.patch_embed)
    for stem, formula in (("conv", conv_stem_parameters), ("resnet", resnet_stem_parameters)):
        model = create_model("vit_cifar_nano", stem=stem)
        assert isinstance(model.patch_embed, ConvPatchEmbed)
        assert count(model.patch_embed) == formula(4, 3, 64)
        assert count(model) == encoder + formula(4, 3, 64)
    assert count(create_model("vit_cifar_nano", stem="conv").patch_embed) == 23_648
    assert count(create_model("vit_cifar_nano", stem="resnet").patch_embed) == 82_464


@pytest.mark.parametrize("stem", ["patch", "conv", "resnet"])
def test_vit_with_each_stem_classifies(stem):
    model = create_model("vit_cifar_nano", stem=stem, num_classes=7).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        tokens = model.tokens(x)
        logits = model(x)
    assert tokens.shape == (3, 1 + 64, 64)  # (B, 1 + N, D): class token + 8x8 patches
    assert logits.shape == (3, 7)
    assert model.pos_embed.shape == (1, 65, 64)


def test_conv_stem_vit_trains():
    torch.manual_seed(0)
    model = create_model("vit_cifar_nano", stem="conv", num_classes=10)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad for p in model.patch_embed.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_hand_built_conv_stem_equals_course_lib():
    torch.manual_seed(0)
    stem = ConvPatchEmbed(32, 4, 3, 64, kind="conv").eval()
    by_hand = nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Conv2d(64, 64, 1),
    ).eval()
    by_hand.load_state_dict(
        {k.replace("stem.", "").replace("proj.", "6."): v for k, v in stem.state_dict().items()}
    )
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(by_hand(x).flatten(2).transpose(1, 2), stem(x))


def test_conv_stem_vit_resizes():
    model = create_model("vit_cifar_nano", stem="conv").eval()
    model.resize_pos_embed(64)
    with torch.no_grad():
        assert model.tokens(torch.randn(1, 3, 64, 64)).shape == (1, 1 + 256, 64)


@pytest.mark.parametrize(("img_size", "patch"), [(36, 6), (36, 3), (48, 12)])
def test_non_power_of_two_patch_is_a_clear_error(img_size, patch):
    with pytest.raises(ValueError, match="power-of-two patch size"):
        ConvPatchEmbed(img_size, patch, 3, 64)
    with pytest.raises(ValueError, match="power-of-two patch size"):
        create_model("vit_cifar_nano", stem="conv", img_size=img_size, patch_size=patch)


def test_patch_that_does_not_divide_the_image_is_an_error():
    with pytest.raises(ValueError, match="divides the image size"):
        ConvPatchEmbed(36, 8, 3, 64, kind="resnet")


def test_unknown_stem_is_an_error():
    with pytest.raises(ValueError, match="Unknown stem kind"):
        ConvPatchEmbed(32, 4, 3, 64, kind="vgg")
    with pytest.raises(ValueError, match="stem must be"):
        create_model("vit_cifar_nano", stem="vgg")
