"""The course CaiT equals timm's; class attention and talking heads are what they claim."""

import pytest
import timm
import torch

from course_lib.analysis.attention import capture_attention, class_attention_maps, storing_attention
from course_lib.models import create_model
from course_lib.models.cait import CaiT, ClassAttention, TalkingHeadAttention
from course_lib.models.layers import explicit_attention, merge_heads, split_heads


def test_s24_shape_and_parameter_counts():
    small = create_model("cait_s24_224")
    reference = timm.create_model("cait_s24_224", pretrained=False)
    assert small.state_dict().keys() == reference.state_dict().keys()
    count = sum(p.numel() for p in small.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert round(count / 1e6) == 47


def test_class_attention_is_row_zero_of_full_attention_and_leaves_patches_alone():
    torch.manual_seed(0)
    dim, heads = 32, 4
    ca = ClassAttention(dim, heads, qkv_bias=True).eval()
    tokens = torch.randn(2, 1 + 16, dim)
    with torch.no_grad():
        q, k, v = ca.q(tokens), ca.k(tokens), ca.v(tokens)
        full, _ = explicit_attention(
            split_heads(q, heads), split_heads(k, heads), split_heads(v, heads)
        )
        row0 = ca.proj(merge_heads(full))[:, :1]
        torch.testing.assert_close(ca(tokens), row0)
    block = create_model("cait_cifar_nano").blocks_token_only[0]
    patches, cls = torch.randn(2, 64, 64), torch.randn(2, 1, 64)
    before = patches.clone()
    assert block(patches, cls).shape == (2, 1, 64)
    assert torch.equal(patches, before)


def test_talking_heads_with_identity_mixing_is_ordinary_attention():
    torch.manual_seed(0)
    th = TalkingHeadAttention(32, 4, qkv_bias=True).eval()
    with torch.no_grad():
        for mix in (th.proj_l, th.proj_w):
            mix.weight.copy_(torch.eye(4))
            mix.bias.zero_()
        x = torch.randn(2, 10, 32)
        q, k, v = (split_heads(t, 4) for t in th.qkv(x).chunk(3, dim=-1))
        out, _ = explicit_attention(q, k, v)
        torch.testing.assert_close(th(x), th.proj(merge_heads(out)))


def test_talking_heads_keep_the_softmax_and_the_mixed_weights():
    torch.manual_seed(0)
    th = TalkingHeadAttention(32, 4, qkv_bias=True).eval()
    th.store_attention = True
    with torch.no_grad():
        th(torch.randn(2, 10, 32))
    softmax, mixed = th.attention_softmax, th.attention
    assert softmax.shape == mixed.shape == (2, 4, 10, 10)
    torch.testing.assert_close(softmax.sum(-1), torch.ones(2, 4, 10))  # distributions
    torch.testing.assert_close(mixed, TalkingHeadAttention.mix_heads(softmax, th.proj_w))
    with storing_attention(th):
        pass
    assert th.attention is None and th.attention_softmax is None  # released on exit


def test_attention_maps_of_both_stages():
    model = create_model("cait_cifar_nano").eval()
    x = torch.randn(2, 3, 32, 32)
    maps = capture_attention(model, x)
    assert [tuple(m.shape) for m in maps] == [(2, 2, 64, 64)] * 4 + [(2, 2, 1, 65)] * 2
    cls_maps = class_attention_maps(model, x)
    assert cls_maps.shape == (2, 2, 64)
    torch.testing.assert_close(cls_maps.sum(-1), torch.ones(2, 2))
    with pytest.raises(ValueError, match="no class-attention blocks"):
        class_attention_maps(create_model("vit_cifar_nano"), x)


def test_late_class_token_with_self_attention_stage():
    model = create_model(
        "cait_cifar_nano", token_stage="self_attention", depth=2, depth_token_only=3
    ).eval()
    assert len(model.blocks) == 2 and len(model.blocks_token_only) == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_bad_configurations_fail_clearly():
    with pytest.raises(ValueError, match="depth_token_only must be >= 1"):
        CaiT(img_size=32, patch_size=4, depth_token_only=0)
    with pytest.raises(ValueError, match="token_stage"):
        CaiT(img_size=32, patch_size=4, token_stage="late")
    with pytest.raises(ValueError, match="Expected 32x32 images"):
        create_model("cait_cifar_nano")(torch.randn(1, 3, 64, 64))
