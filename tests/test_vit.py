"""The course ViT equals timm's: same parameter names, same outputs; and its errors are clear."""

import pytest
import torch

from course_lib.models import VisionTransformer, create_model
from course_lib.models.vit import resample_pos_embed, sincos_pos_embed_2d


def test_parameter_counts_match_the_papers():
    counts = {
        name: sum(p.numel() for p in create_model(name).parameters())
        for name in ("vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224")
    }
    assert round(counts["vit_tiny_patch16_224"] / 1e6, 1) == 5.7
    assert round(counts["vit_small_patch16_224"] / 1e6) == 22
    assert round(counts["vit_base_patch16_224"] / 1e6) == 87  # 86.6M: "86M" in the papers
    assert 3.9e6 < sum(p.numel() for p in create_model("vit_cifar_tiny").parameters()) < 4.1e6


def test_stored_attention_has_one_map_per_head():
    model = create_model("vit_cifar_nano").eval()
    for block in model.blocks:
        block.attn.store_attention = True
    with torch.no_grad():
        model(torch.randn(3, 3, 32, 32))
    maps = model.blocks[0].attn.attention
    assert maps.shape == (3, 2, 65, 65)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, 65))


def test_wrong_image_size_says_how_to_fix():
    model = create_model("vit_cifar_nano")
    with pytest.raises(ValueError, match=r"Expected 32x32 images, got 64x64.*resize_pos_embed"):
        model(torch.randn(1, 3, 64, 64))


def test_wrong_channel_count_says_how_to_fix():
    model = create_model("vit_cifar_nano")
    with pytest.raises(ValueError, match=r"Expected 3 channels.*grayscale"):
        model(torch.randn(1, 1, 32, 32))


def test_state_dict_of_another_architecture_lists_keys():
    model = create_model("vit_cifar_nano")
    resnet = create_model("resnet_cifar_nano")
    with pytest.raises(ValueError, match=r"(?s)missing: cls_token, pos_embed.*unexpected: stem\.0"):
        model.load_state_dict(resnet.state_dict())
    wider = create_model("vit_cifar_mini")
    with pytest.raises(ValueError, match=r"wrong shape: cls_token: checkpoint \(1, 1, 128\)"):
        model.load_state_dict(wider.state_dict())


def test_unknown_config_name_suggests_close_matches():
    with pytest.raises(KeyError, match=r"Unknown model 'vit_cifar_tiney'.*vit_cifar_tiny"):
        create_model("vit_cifar_tiney")


def test_resize_pos_embed_identity_and_new_size():
    torch.manual_seed(0)
    model = create_model("vit_cifar_nano").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        model.resize_pos_embed(32)
        torch.testing.assert_close(model(x), before)
        model.resize_pos_embed(48)
        assert model.pos_embed.shape == (1, 1 + 12 * 12, 64)
        assert model(torch.randn(2, 3, 48, 48)).shape == (2, 10)


def test_resize_matches_timm_resampling():
    from timm.layers import resample_abs_pos_embed

    pos = torch.randn(1, 1 + 64, 32)
    expected = resample_abs_pos_embed(pos, new_size=(12, 12), old_size=(8, 8), num_prefix_tokens=1)
    torch.testing.assert_close(resample_pos_embed(pos, 12, 1), expected)


def test_resize_to_indivisible_size_is_refused():
    model = create_model("vit_cifar_nano")
    with pytest.raises(ValueError, match=r"not divisible by the patch size 4.*e\.g\. 36 or 40"):
        model.resize_pos_embed(38)


def test_sincos_and_no_position_embedding_variants():
    grid = sincos_pos_embed_2d(8, 64)
    assert grid.shape == (64, 64)
    assert torch.allclose(grid.norm(dim=1), torch.full((64,), 32**0.5), atol=1e-5)
    for kind in ("sincos", "none"):
        model = VisionTransformer(
            img_size=32,
            patch_size=4,
            num_classes=10,
            embed_dim=32,
            depth=1,
            num_heads=2,
            pos_embed=kind,
        )
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
        assert "pos_embed" not in model.state_dict()


def test_invalid_configurations_are_refused():
    with pytest.raises(ValueError, match="needs class_token=True"):
        VisionTransformer(class_token=False, global_pool="token")
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        VisionTransformer(img_size=30, patch_size=4)
    with pytest.raises(ValueError, match="stem must be"):
        VisionTransformer(img_size=32, patch_size=4, stem="unet")
