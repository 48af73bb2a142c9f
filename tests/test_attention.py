"""Attention from the package functions notebook 02 uses: the explicit formula, PyTorch's fused
kernel, nn.MultiheadAttention and the course's Attention layer agree."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.layers import Attention, explicit_attention, merge_heads, split_heads


@pytest.mark.parametrize("shape", [(5, 16), (2, 3, 7, 8), (1, 4, 65, 32)])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_explicit_attention_equals_pytorch(shape, scale):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(*shape, generator=g) for _ in range(3))
    out, weights = explicit_attention(q, k, v, scale)
    expected = F.scaled_dot_product_attention(q[None], k[None], v[None], scale=scale)[0]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(shape[:-1]))
    assert not torch.allclose(weights, weights.transpose(-2, -1))


def test_default_scale_is_one_over_sqrt_d():
    q, k, v = torch.randn(3, 6, 9).unbind(0)
    _, weights = explicit_attention(q, k, v)
    torch.testing.assert_close(weights, (q @ k.T / math.sqrt(9)).softmax(-1))


def test_split_and_merge_heads_are_inverse():
    x = torch.randn(2, 10, 12)
    assert split_heads(x, 3).shape == (2, 3, 10, 4)
    torch.testing.assert_close(merge_heads(split_heads(x, 3)), x)


def _pair(dim=32, heads=4):
    torch.manual_seed(0)
    ours = Attention(dim, heads, qkv_bias=True).eval()
    theirs = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.qkv.weight)
        theirs.in_proj_bias.copy_(ours.qkv.bias)
        theirs.out_proj.weight.copy_(ours.proj.weight)
        theirs.out_proj.bias.copy_(ours.proj.bias)
    return ours, theirs


def test_attention_layer_equals_multihead_attention_on_both_paths():
    ours, theirs = _pair()
    x = torch.randn(2, 17, 32)
    with torch.no_grad():
        expected, expected_weights = theirs(x, x, x, average_attn_weights=False)
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        ours.fused = False
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        ours.store_attention = True
        ours(x)
    assert ours.attention.shape == (2, 4, 17, 17)
    torch.testing.assert_close(ours.attention, expected_weights, atol=1e-5, rtol=1e-5)


def test_explicit_path_supports_double_backward():
    ours, _ = _pair()
    ours.fused = False
    x = torch.randn(1, 9, 32, requires_grad=True)
    loss = ours(x).pow(2).sum()
    (grad,) = torch.autograd.grad(loss, x, create_graph=True)
    (second,) = torch.autograd.grad(grad.pow(2).sum(), x)
    assert torch.isfinite(second).all() and second.abs().sum() > 0


def test_width_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible by the number of heads"):
        Attention(30, num_heads=4)
