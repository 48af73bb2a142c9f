"""The attention pieces notebook 02 uses: ``explicit_attention`` equals PyTorch's fused kernel, its
weights are row-stochastic and not symmetric; the ``Attention`` layer's fused and explicit paths
agree with each other and with ``nn.MultiheadAttention``; the explicit path has second
derivatives."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from course_lib.models.layers import Attention, explicit_attention, merge_heads, split_heads

SHAPES = [(5, 16), (2, 3, 7, 8), (1, 4, 65, 32), (3, 2, 10, 4)]


def _qkv(*shape: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(3)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("scale", [None, 0.3, 2.0])
def test_explicit_attention_equals_scaled_dot_product_attention(shape, scale):
    q, k, v = _qkv(*shape)
    out, weights = explicit_attention(q, k, v, scale)
    expected = F.scaled_dot_product_attention(q, k, v, scale=scale)
    assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert weights.shape == (*shape[:-1], shape[-2])


def test_explicit_attention_with_different_query_and_value_sizes():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 5, 8, generator=g)  # 5 queries
    k = torch.randn(2, 7, 8, generator=g)  # 7 keys
    v = torch.randn(2, 7, 3, generator=g)  # values of width 3
    out, weights = explicit_attention(q, k, v)
    assert out.shape == (2, 5, 3) and weights.shape == (2, 5, 7)
    assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


def test_default_scale_is_one_over_sqrt_of_the_key_width():
    q, k, v = _qkv(6, 9)
    _, weights = explicit_attention(q, k, v)
    assert_close(weights, (q @ k.T / math.sqrt(9)).softmax(dim=-1))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_weights_are_positive_and_rows_sum_to_one(shape):
    q, k, v = _qkv(*shape, seed=2)
    _, weights = explicit_attention(q, k, v)
    assert (weights > 0).all()
    assert_close(weights.sum(dim=-1), torch.ones(shape[:-1]))


def test_weights_are_not_symmetric_for_different_queries_and_keys():
    q, k, v = _qkv(2, 4, 16, 8, seed=3)
    scores = q @ k.transpose(-2, -1)
    assert not torch.allclose(scores, scores.transpose(-2, -1))
    _, weights = explicit_attention(q, k, v)
    assert not torch.allclose(weights, weights.transpose(-2, -1))


def test_row_softmax_breaks_symmetry_even_when_queries_equal_keys():
    q, _, v = _qkv(16, 8, seed=4)
    scores = q @ q.T
    assert_close(scores, scores.T)  # W_Q = W_K: symmetric scores
    _, weights = explicit_attention(q, q, v)
    assert not torch.allclose(weights, weights.T)  # each row has its own normaliser
    normalisers = (scores / math.sqrt(8)).exp().sum(dim=-1, keepdim=True)
    assert_close(weights * normalisers, (weights * normalisers).T)


def test_split_and_merge_heads_slice_the_channels_and_invert_each_other():
    x = torch.randn(2, 10, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 10, 4)
    for h in range(3):
        assert_close(heads[:, h], x[..., 4 * h : 4 * (h + 1)])
    assert_close(merge_heads(heads), x)


def _attention_pair(dim: int = 32, heads: int = 4) -> tuple[Attention, nn.MultiheadAttention]:
    """A course ``Attention`` and an ``nn.MultiheadAttention`` holding the same weights."""
    torch.manual_seed(0)
    ours = Attention(dim, heads, qkv_bias=True).eval()
    theirs = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.qkv.weight)
        theirs.in_proj_bias.copy_(ours.qkv.bias)
        theirs.out_proj.weight.copy_(ours.proj.weight)
        theirs.out_proj.bias.copy_(ours.proj.bias)
    return ours, theirs


def test_attention_fused_path_equals_explicit_path_and_stores_weights():
    ours, _ = _attention_pair()
    x = torch.randn(3, 17, 32)
    with torch.no_grad():
        fused = ours(x)
        assert ours.attention is None  # the fused path never forms the weights
        ours.fused = False
        explicit = ours(x)
        ours.fused, ours.store_attention = True, True
        stored = ours(x)
    assert_close(explicit, fused, atol=1e-5, rtol=1e-5)
    assert_close(stored, fused, atol=1e-5, rtol=1e-5)
    assert ours.attention.shape == (3, 4, 17, 17)  # (B, H, N, N)
    assert_close(ours.attention.sum(dim=-1), torch.ones(3, 4, 17))


def test_attention_layer_equals_multihead_attention_on_both_paths():
    ours, theirs = _attention_pair()
    x = torch.randn(2, 17, 32)
    with torch.no_grad():
        expected, expected_weights = theirs(x, x, x, average_attn_weights=False)
        assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        ours.fused = False
        assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        ours.store_attention = True
        ours(x)
    assert_close(ours.attention, expected_weights, atol=1e-5, rtol=1e-5)


def test_explicit_path_supports_double_backward():
    ours, _ = _attention_pair()
    ours.fused = False
    x = torch.randn(2, 9, 32, requires_grad=True)
    params = list(ours.parameters())
    loss = ours(x).pow(2).mean()
    # first derivatives, kept differentiable
    grads = torch.autograd.grad(loss, [x, *params], create_graph=True)
    # second derivatives: a Hessian-vector product in the direction of the gradient itself
    dot = sum((g * g.detach()).sum() for g in grads)
    second = torch.autograd.grad(dot, [x, *params], create_graph=True)
    assert all(torch.isfinite(s).all() for s in second)
    assert sum(s.abs().sum() for s in second) > 0


def test_width_must_split_into_heads():
    with pytest.raises(ValueError, match="divisible by the number of heads"):
        Attention(30, num_heads=4)
