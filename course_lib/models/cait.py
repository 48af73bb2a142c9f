"""CaiT, "Going deeper with image transformers" (Touvron et al., 2021), as timm builds it.

Two stages:

1. **self-attention stage** on the patch tokens only (no class token yet): ``depth`` blocks with
   LayerScale (``gamma_1``, ``gamma_2``: one learned weight per channel on each residual branch,
   initialised small) and talking-heads attention;
2. **class-attention stage**: the class token enters late and ``depth_token_only`` blocks update
   only it; its query attends to ``[cls; patches]``, the patches are left as they are.

``final norm -> class token -> linear head``. Parameter names equal timm's ``Cait``
(``blocks.*.attn.proj_l``, ``blocks_token_only.*.attn.q``, ``gamma_1``, ...).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_lib.models.layers import (
    Attention,
    AttentionPaths,
    DropPath,
    Mlp,
    PatchEmbed,
    check_image_batch,
    head_sizes,
    merge_heads,
    parameter_dtype,
    split_heads,
)
from course_lib.models.registry import CIFAR, register_model
from course_lib.models.state_dict import CourseModel


class TalkingHeadAttention(Attention):
    """Self-attention whose heads talk to each other (Shazeer et al., 2020): ``(B, N, D) ->
    (B, N, D)``.

    Ordinary multi-head attention computes ``H`` score maps ``S_h = q_h k_h^T / sqrt(d)`` and
    softmaxes each on its own. Talking heads mix the maps across heads twice, with learned
    ``H x H`` matrices applied at every query-key pair: ``proj_l`` before the softmax (each new
    map's logits are a weighted sum of all heads' logits) and ``proj_w`` after it. With both
    mixings the identity (and zero bias) this is ordinary attention. The mixed maps are formed
    explicitly, so there is no fused path; ``store_attention`` keeps the final (mixed) weights
    ``(B, H, N, N)`` in ``self.attention`` and the softmax's output before ``proj_w`` (every row
    a distribution over the keys) in ``self.attention_softmax``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.proj_l = nn.Linear(num_heads, num_heads)  # mixes the heads' logits
        self.proj_w = nn.Linear(num_heads, num_heads)  # mixes the heads' attention weights
        self.fused = False  # the mixed maps are always formed: there is no fused kernel for them
        self.attention_softmax: torch.Tensor | None = None

    @staticmethod
    def mix_heads(maps: torch.Tensor, mixing: nn.Linear) -> torch.Tensor:
        """Apply an ``H x H`` linear map across the head axis: ``(B, H, N, M) -> (B, H, N, M)``."""
        return mixing(maps.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, H, N, d)
        logits = (q * self.scale) @ k.transpose(-2, -1)  # (B, H, N, N)
        softmax = self.mix_heads(logits, self.proj_l).softmax(dim=-1)
        weights = self.mix_heads(softmax, self.proj_w)
        if self.store_attention:
            self.attention, self.attention_softmax = weights.detach(), softmax.detach()
        out = self.attn_drop(weights) @ v  # (B, H, N, d)
        return self.proj_drop(self.proj(merge_heads(out)))


class ClassAttention(AttentionPaths):
    """Attention in which only the class token asks: ``(B, 1 + N, D) -> (B, 1, D)``.

    The query comes from the class token ``x[:, 0]`` alone; keys and values come from all of
    ``[cls; patches]``. The result is row 0 of full self-attention over the same tokens (notebook
    08 checks it) at ``1/(1 + N)`` of the cost, and nothing is computed for the patches, which
    stay unchanged. ``store_attention`` keeps the weights ``(B, H, 1, 1 + N)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim, self.scale = head_sizes("ClassAttention", dim, num_heads)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.fused = True
        self.store_attention = False
        self.attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.num_heads
        q = split_heads(self.q(x[:, :1]), h)  # (B, H, 1, d): the class token's query only
        k, v = split_heads(self.k(x), h), split_heads(self.v(x), h)  # (B, H, 1 + N, d)
        return self.proj_drop(self.proj(merge_heads(self._attend(q, k, v))))  # (B, 1, D)


class _LayerScaleResidual(nn.Module):
    """Shared parts of the two CaiT blocks: norms, MLP, drop path and the LayerScale weights
    ``gamma_1`` (attention branch) and ``gamma_2`` (MLP branch), each ``(D,)``."""

    def __init__(
        self,
        dim: int,
        attn: nn.Module,
        mlp_ratio: float,
        proj_drop: float,
        drop_path: float,
        init_values: float,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = attn
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)
        self.gamma_1 = nn.Parameter(init_values * torch.ones(dim))
        self.gamma_2 = nn.Parameter(init_values * torch.ones(dim))

    def mlp_branch(self, x: torch.Tensor) -> torch.Tensor:
        """``gamma_2 * MLP(LN(x))``: what the MLP branch adds to the residual stream."""
        return self.gamma_2 * self.mlp(self.norm2(x))


class LayerScaleBlock(_LayerScaleResidual):
    """A self-attention block of CaiT's first stage: ``x + gamma_1 * Attn(LN(x))``, then
    ``x + gamma_2 * MLP(LN(x))``. ``(B, N, D) -> (B, N, D)``. ``talking_heads=False`` uses
    ordinary multi-head attention (same parameter names, no ``proj_l`` / ``proj_w``)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        init_values: float = 1e-4,
        talking_heads: bool = True,
    ) -> None:
        kind = TalkingHeadAttention if talking_heads else Attention
        attn = kind(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        super().__init__(dim, attn, mlp_ratio, proj_drop, drop_path, init_values)

    def attn_branch(self, x: torch.Tensor) -> torch.Tensor:
        """``gamma_1 * Attn(LN(x))``: what the attention branch adds to the residual stream."""
        return self.gamma_1 * self.attn(self.norm1(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn_branch(x))
        x = x + self.drop_path(self.mlp_branch(x))
        return x


class LayerScaleBlockClassAttention(_LayerScaleResidual):
    """A block of CaiT's class-attention stage: only the class token is updated.

    ``forward(x, cls)``: patches ``x`` ``(B, N, D)`` and class token ``cls`` ``(B, 1, D)`` ->
    the new class token ``(B, 1, D)``: ``cls + gamma_1 * CA(LN([cls; x]))``, then
    ``cls + gamma_2 * MLP(LN(cls))``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        init_values: float = 1e-4,
    ) -> None:
        attn = ClassAttention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        super().__init__(dim, attn, mlp_ratio, proj_drop, drop_path, init_values)

    def forward(self, x: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        u = torch.cat([cls, x], dim=1)  # (B, 1 + N, D)
        cls = cls + self.drop_path(self.gamma_1 * self.attn(self.norm1(u)))
        cls = cls + self.drop_path(self.mlp_branch(cls))
        return cls


class CaiT(CourseModel):
    """CaiT classifier. ``forward``: images ``(B, C, img_size, img_size)`` -> logits ``(B, K)``.

    - ``depth`` self-attention blocks on the ``N`` patch tokens, then ``depth_token_only``
      class-attention blocks on the class token (``>= 1``).
    - ``init_values``: LayerScale's initial ``gamma`` (CaiT: 0.1 up to depth 18, 1e-5 at 24,
      1e-6 deeper).
    - ``talking_heads``: talking-heads attention in the first stage (``False``: ordinary MSA).
    - ``token_stage``: ``"class_attention"`` (CaiT) or ``"self_attention"``: the class token is
      appended to the patches after the first stage and ``depth_token_only`` ordinary LayerScale
      blocks update all tokens (a ViT whose class token is inserted late; notebook 08 compares).
    - ``global_pool``: ``"token"`` reads the class token, ``"avg"`` averages the patch tokens.
    - ``drop_path_rate``: stochastic depth, the same rate in every first-stage block (as timm).
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "token",
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        init_values: float = 1e-4,
        depth_token_only: int = 2,
        mlp_ratio_token_only: float = 4.0,
        talking_heads: bool = True,
        token_stage: str = "class_attention",
    ) -> None:
        super().__init__()
        if depth_token_only < 1:
            raise ValueError(
                f"depth_token_only must be >= 1, got {depth_token_only}: the class token enters "
                "only in the class-attention stage, so without it nothing would ever read the "
                "patches. Use depth_token_only=2 (CaiT's choice), or a VisionTransformer for a "
                "model without that stage."
            )
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
        if token_stage not in ("class_attention", "self_attention"):
            raise ValueError(
                f"token_stage must be 'class_attention' or 'self_attention', got {token_stage!r}."
            )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.token_stage = token_stage
        self.embed_dim = self.num_features = embed_dim
        self.num_prefix_tokens = 1
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dim))  # patches only
        self.pos_drop = nn.Dropout(drop_rate)
        common = dict(qkv_bias=qkv_bias, proj_drop=drop_rate, attn_drop=attn_drop_rate)
        self.blocks = nn.Sequential(
            *[
                LayerScaleBlock(
                    embed_dim,
                    num_heads,
                    mlp_ratio,
                    drop_path=drop_path_rate,
                    init_values=init_values,
                    talking_heads=talking_heads,
                    **common,
                )
                for _ in range(depth)
            ]
        )
        if token_stage == "class_attention":
            token_blocks = [
                LayerScaleBlockClassAttention(  # no dropout in this stage (as timm)
                    embed_dim, num_heads, mlp_ratio_token_only, qkv_bias, init_values=init_values
                )
                for _ in range(depth_token_only)
            ]
        else:
            token_blocks = [
                LayerScaleBlock(
                    embed_dim,
                    num_heads,
                    mlp_ratio_token_only,
                    qkv_bias,
                    init_values=init_values,
                    talking_heads=talking_heads,
                )
                for _ in range(depth_token_only)
            ]
        self.blocks_token_only = nn.ModuleList(token_blocks)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def img_size(self) -> int:
        return self.patch_embed.img_size

    @property
    def grid_size(self) -> int:
        return self.patch_embed.grid_size

    def no_weight_decay(self) -> set[str]:
        """Parameter names the optimiser should not decay (used by ``course_lib.train``)."""
        return {"pos_embed", "cls_token"}

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> patch tokens with position embeddings ``(B, N, D)`` (the
        first stage's input: no class token)."""
        check_image_batch(x, self.patch_embed.in_chans, self.img_size, dtype=parameter_dtype(self))
        return self.pos_drop(self.patch_embed(x) + self.pos_embed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> normalised final tokens ``(B, 1 + N, D)``, the class token first."""
        x = self.blocks(self.tokens(x))  # (B, N, D): patches only
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        if self.token_stage == "class_attention":
            for block in self.blocks_token_only:
                cls = block(x, cls)  # (B, 1, D); the patches stay as the first stage left them
            x = torch.cat([cls, x], dim=1)
        else:
            x = torch.cat([cls, x], dim=1)
            for block in self.blocks_token_only:
                x = block(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Final tokens ``(B, 1 + N, D)`` -> logits ``(B, K)`` (or pooled features ``(B, D)``)."""
        x = x[:, 1:].mean(dim=1) if self.global_pool == "avg" else x[:, 0]
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cait(defaults: dict[str, Any], overrides: dict[str, Any]) -> CaiT:
    return CaiT(**{**defaults, **overrides})


# The configurations; timm's Cait takes the same arguments, so each is also its twin's.
NANO = dict(CIFAR, embed_dim=64, depth=4, num_heads=2, init_values=0.1)
MINI = dict(CIFAR, embed_dim=128, depth=6, num_heads=4, init_values=0.1)
TINY = dict(CIFAR, embed_dim=192, depth=12, num_heads=4, init_values=0.1)
TWIN = "cait_xxs24_224"  # timm's Cait class with the arguments above


@register_model(family="cait", size="nano", timm=TWIN, timm_args=NANO)
def cait_cifar_nano(**overrides) -> CaiT:
    """Width 64, 4 self-attention + 2 class-attention blocks, 2 heads, patch 4 on 32x32."""
    return _cait(NANO, overrides)


@register_model(family="cait", size="mini", timm=TWIN, timm_args=MINI)
def cait_cifar_mini(**overrides) -> CaiT:
    """Width 128, 6 self-attention + 2 class-attention blocks, 4 heads, patch 4 on 32x32."""
    return _cait(MINI, overrides)


@register_model(family="cait", size="tiny", timm=TWIN, timm_args=TINY)
def cait_cifar_tiny(**overrides) -> CaiT:
    """Width 192, 12 self-attention + 2 class-attention blocks, 4 heads, patch 4 on 32x32."""
    return _cait(TINY, overrides)


@register_model(family="cait", size="xxs", timm="cait_xxs24_224")
def cait_xxs24_224(**overrides) -> CaiT:
    """CaiT-XXS-24: width 192, 24 + 2 blocks, 4 heads, 224x224 images (12M parameters)."""
    return _cait(dict(embed_dim=192, depth=24, num_heads=4, init_values=1e-5), overrides)


@register_model(family="cait", size="small", timm="cait_s24_224")
def cait_s24_224(**overrides) -> CaiT:
    """CaiT-S-24: width 384, 24 + 2 blocks, 8 heads, 224x224 images (47M parameters)."""
    return _cait(dict(embed_dim=384, depth=24, num_heads=8, init_values=1e-5), overrides)
