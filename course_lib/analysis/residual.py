"""How much each residual branch changes the stream it is added to (notebook 07).

A block computes ``x + R(x)`` twice (attention branch, then MLP branch). The ratio
``||R(x)|| / ||x||`` says how far a block moves its input: near 0 the block is almost the
identity, near 1 or above it rewrites the representation. Deep networks train well when the
early ratios are small (CaiT's LayerScale makes them so at initialisation).
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.measure import eval_mode


@torch.no_grad()
def residual_branch_ratios(model: nn.Module, images: torch.Tensor) -> dict[str, list[float]]:
    """Per block of ``model.blocks``: ``||branch output|| / ||branch input||`` for the attention
    and the MLP branch, each norm taken over a whole sample's tokens ``(N, D)`` and the ratio
    averaged over the batch.

    Works for any model with ``tokens(images) -> (B, N, D)`` (the first block's input) and blocks
    with ``attn_branch`` / ``mlp_branch`` (the course's ViT, its residual variants and CaiT's
    self-attention stage). Returns ``{"attn": [L floats], "mlp": [L floats]}``.
    """
    ratios: dict[str, list[float]] = {"attn": [], "mlp": []}
    with eval_mode(model):
        x = model.tokens(images)
        for block in model.blocks:
            for name, branch in (("attn", block.attn_branch), ("mlp", block.mlp_branch)):
                out = branch(x)
                ratio = out.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1).clamp_min(1e-12)
                ratios[name].append(ratio.mean().item())
                x = x + out
    return ratios
