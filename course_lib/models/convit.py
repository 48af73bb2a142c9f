"""ConViT (d'Ascoli et al., 2021): a ViT whose first layers can start out as convolutions.

Gated positional self-attention (GPSA) mixes two attention maps per head ``h``:

- a **content** map, ``softmax(q_i k_j^T / sqrt(d))``, as in any transformer;
- a **positional** map, ``softmax(v_pos_h . r_ij)``, which depends only on the relative position
  ``r_ij = (dx, dy, dx^2 + dy^2)`` of key patch ``j`` seen from query patch ``i``;

``A_h = (1 - sigmoid(lambda_h)) * content + sigmoid(lambda_h) * positional``, renormalised, with
one learned gate ``lambda_h`` per head. With ``local_init`` each head's positional map starts
as a Gaussian-like bump around one offset of a ``sqrt(H) x sqrt(H)`` grid, so the heads together
act like a convolution; training may then open the gates toward content.

ConViT = patch embedding + position embedding -> ``local_up_to_layer`` GPSA blocks on the patch
tokens -> the class token is appended -> ordinary self-attention blocks -> norm -> head.
Parameter names equal timm's ``ConVit`` (``attn.qk``, ``attn.v``, ``attn.pos_proj``,
``attn.gating_param``, ...). Unlike timm, ``embed_dim`` is the model's whole width (timm's is
the width per head).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models.layers import (
    Attention,
    DropPath,
    Mlp,
    PatchEmbed,
    check_image_batch,
    head_sizes,
    merge_heads,
    parameter_dtype,
)
from course_lib.models.registry import CIFAR, register_model
from course_lib.models.state_dict import CourseModel


def relative_indices(rows: int, cols: int) -> torch.Tensor:
    """Relative positions of every (query, key) pair of patches on a ``rows x cols`` grid, in
    raster order: ``(N, N, 3)`` with ``N = rows * cols`` and entries ``(dx, dy, dx^2 + dy^2)``,
    ``dx = x_key - x_query`` (columns), ``dy = y_key - y_query`` (rows)."""
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    xs, ys = xs.flatten().float(), ys.flatten().float()
    dx = xs[None, :] - xs[:, None]
    dy = ys[None, :] - ys[:, None]
    return torch.stack([dx, dy, dx**2 + dy**2], dim=-1)


def square_grid(num_tokens: int) -> tuple[int, int]:
    """``(g, g)`` for ``g * g == num_tokens``; a clear error for a non-square count."""
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(
            f"GPSA got {num_tokens} tokens, which is not a square grid of patches. Pass "
            "grid_size=(rows, cols) to GPSA for a rectangular grid, and make sure the class token "
            "is not in the sequence (ConViT appends it only after the GPSA blocks)."
        )
    return side, side


class GPSA(nn.Module):
    """Gated positional self-attention: ``(B, N, D) -> (B, N, D)`` over ``N`` patch tokens.

    - ``qk``: queries and keys of the content map; ``v``: values; ``proj``: output projection;
    - ``pos_proj``: ``Linear(3, H)``, one vector ``v_pos_h`` per head scoring ``r_ij``;
    - ``gating_param``: ``lambda_h`` (initialised to 1: ``sigmoid(1) = 0.73`` positional);
    - ``rel_indices``: ``(N, N, 3)`` relative positions, a non-persistent buffer rebuilt when the
      grid changes; ``grid_size`` fixes a rectangular grid (default: square, from ``N``);
    - ``gating=False`` drops the gate: one softmax over content + positional scores.

    Two paths compute the same numbers: the fused one (``F.scaled_dot_product_attention`` for
    the content part, the input-independent positional map computed once per call, not per
    image) and the explicit one (``fused = False`` or ``store_attention``), which forms the
    mixed ``(B, H, N, N)`` map and, with ``store_attention``, keeps it in ``self.attention``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        locality_strength: float = 1.0,
        grid_size: tuple[int, int] | None = None,
        gating: bool = True,
    ) -> None:
        super().__init__()
        head_dim, scale = head_sizes("GPSA", dim, num_heads)
        if locality_strength <= 0:
            raise ValueError(
                f"locality_strength must be > 0, got {locality_strength}: it sharpens each head's "
                "positional bump (1 is ConViT's default; larger is more local)."
            )
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim, self.scale = head_dim, scale
        self.locality_strength = locality_strength
        self.grid_size = grid_size
        self.gating = gating
        self.qk = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.pos_proj = nn.Linear(3, num_heads)
        self.proj_drop = nn.Dropout(proj_drop)
        self.gating_param = nn.Parameter(torch.ones(num_heads))
        grid = grid_size or (1, 1)
        self.register_buffer("rel_indices", relative_indices(*grid), persistent=False)
        self.fused = True
        self.store_attention = False
        self.attention: torch.Tensor | None = None

    @torch.no_grad()
    def local_init(self) -> None:
        """Make the layer start as a convolution: values are the identity, and head
        ``h = h1 + k * h2`` of the first ``k * k`` heads (``k = floor(sqrt(H))``) scores
        ``-alpha * ||r - delta_h||^2`` (up to a constant), a bump centred on the offset
        ``delta_h = (h2 - c, h1 - c)`` with ``c`` the kernel's centre (a corner's half-step for
        even ``k``). Leftover heads keep their random init, as in timm."""
        self.v.weight.copy_(torch.eye(self.dim))
        kernel = math.isqrt(self.num_heads)
        centre = (kernel - 1) / 2 if kernel % 2 == 0 else kernel // 2
        weight = self.pos_proj.weight  # (H, 3): columns for dx, dy, dx^2 + dy^2
        for h1 in range(kernel):
            for h2 in range(kernel):
                head = h1 + kernel * h2
                weight[head, 2] = -1
                weight[head, 1] = 2 * (h1 - centre)
                weight[head, 0] = 2 * (h2 - centre)
        weight.mul_(self.locality_strength)

    def _indices(self, num_tokens: int, like: torch.Tensor) -> torch.Tensor:
        if self.rel_indices.shape[0] != num_tokens:
            grid = self.grid_size or square_grid(num_tokens)
            if grid[0] * grid[1] != num_tokens:
                raise ValueError(
                    f"grid_size {grid} holds {grid[0] * grid[1]} patches, got {num_tokens} tokens."
                )
            self.rel_indices = relative_indices(*grid).to(like.device)
        return self.rel_indices.to(like.dtype)

    def positional_scores(self, num_tokens: int, like: torch.Tensor) -> torch.Tensor:
        """``v_pos_h . r_ij`` for every head and pair: ``(H, N, N)`` (before the softmax)."""
        return self.pos_proj(self._indices(num_tokens, like)).permute(2, 0, 1)

    def gate(self) -> torch.Tensor:
        """``sigmoid(lambda_h)``: each head's weight on its positional map, ``(H,)``."""
        return torch.sigmoid(self.gating_param)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qk = self.qk(x).reshape(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = qk.unbind(0)  # each (B, H, N, d)
        v = self.v(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        pos = self.positional_scores(n, q)  # (H, N, N)
        dropping = self.training and self.attn_drop.p > 0
        if self.fused and not self.store_attention and not dropping:
            if self.gating:
                g = self.gate().to(q.dtype).view(-1, 1, 1)
                content = F.scaled_dot_product_attention(q, k, v)
                out = (1 - g) * content + g * (pos.softmax(dim=-1) @ v)
            else:
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=pos.unsqueeze(0))
        else:
            weights = self.attention_map(q, k, pos)
            if self.store_attention:
                self.attention = weights.detach()
            out = self.attn_drop(weights) @ v
        return self.proj_drop(self.proj(merge_heads(out)))

    def attention_map(self, q: torch.Tensor, k: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """The mixed attention weights ``(B, H, N, N)`` from queries and keys ``(B, H, N, d)``
        and positional scores ``(H, N, N)``; rows sum to 1."""
        scores = (q * self.scale) @ k.transpose(-2, -1)
        if not self.gating:
            return (scores + pos).softmax(dim=-1)
        g = self.gate().to(q.dtype).view(1, -1, 1, 1)
        weights = (1 - g) * scores.softmax(dim=-1) + g * pos.softmax(dim=-1)
        return weights / weights.sum(dim=-1, keepdim=True)


class ConViTBlock(nn.Module):
    """A pre-norm block whose attention is GPSA (``use_gpsa``) or ordinary multi-head
    self-attention: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``. ``(B, N, D) -> (B, N, D)``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        use_gpsa: bool = True,
        locality_strength: float = 1.0,
        grid_size: tuple[int, int] | None = None,
        gating: bool = True,
    ) -> None:
        super().__init__()
        self.use_gpsa = use_gpsa
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        if use_gpsa:
            self.attn: nn.Module = GPSA(
                dim, num_heads, qkv_bias, attn_drop, proj_drop, locality_strength, grid_size, gating
            )
        else:
            self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)

    def attn_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.norm1(x))

    def mlp_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.norm2(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn_branch(x))
        x = x + self.drop_path(self.mlp_branch(x))
        return x


class ConViT(CourseModel):
    """ConViT classifier. ``forward``: images ``(B, C, img_size, img_size)`` -> logits ``(B, K)``.

    - ``embed_dim``: the width ``D`` (the whole width; timm's argument is the width per head);
    - ``local_up_to_layer``: the number of GPSA blocks; the class token is appended before block
      ``local_up_to_layer`` (it has no position, so it only joins where attention is content-only);
    - ``locality_strength``: ``alpha`` of the local init (> 0); ``local_init=False`` keeps the
      GPSA layers' random init (an ablation); ``gating=False``: GPSA without gates (one softmax
      over content + positional scores);
    - ``use_pos_embed``: absolute position embeddings on the patches (as ConViT and timm).
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
        qkv_bias: bool = False,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        local_up_to_layer: int = 10,
        locality_strength: float = 1.0,
        local_init: bool = True,
        gating: bool = True,
        use_pos_embed: bool = True,
    ) -> None:
        super().__init__()
        if global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {global_pool!r}.")
        last = depth - 1 if global_pool == "token" else depth
        if not 0 <= local_up_to_layer <= last:
            raise ValueError(
                f"local_up_to_layer={local_up_to_layer} with depth={depth} and global_pool="
                f"{global_pool!r}: it must lie in [0, {last}] (the class token is appended before "
                f"block local_up_to_layer, so at least one ordinary block must follow to read it)."
            )
        if locality_strength <= 0:
            raise ValueError(f"locality_strength must be > 0, got {locality_strength}.")
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.local_up_to_layer = local_up_to_layer
        self.embed_dim = self.num_features = embed_dim
        self.num_prefix_tokens = 1
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        grid = (self.patch_embed.grid_size, self.patch_embed.grid_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed: nn.Parameter | None = None
        if use_pos_embed:
            self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList(
            [
                ConViTBlock(
                    embed_dim,
                    num_heads,
                    mlp_ratio,
                    qkv_bias,
                    drop_rate,
                    attn_drop_rate,
                    rates[i],
                    use_gpsa=i < local_up_to_layer,
                    locality_strength=locality_strength,
                    grid_size=grid,
                    gating=gating,
                )
                for i in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(local_init)

    def _init_weights(self, local_init: bool) -> None:
        if self.pos_embed is not None:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        if local_init:
            for layer in self.gpsa_layers():
                layer.local_init()

    def gpsa_layers(self) -> list[GPSA]:
        """The GPSA modules, first block first."""
        return [block.attn for block in self.blocks if block.use_gpsa]

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
        """Images ``(B, C, H, W)`` -> patch tokens with position embeddings ``(B, N, D)``."""
        check_image_batch(x, self.patch_embed.in_chans, self.img_size, dtype=parameter_dtype(self))
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        return self.pos_drop(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> normalised final tokens ``(B, 1 + N, D)``, the class token first."""
        x = self.tokens(x)
        for i, block in enumerate(self.blocks):
            if i == self.local_up_to_layer:
                x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            x = block(x)
        if self.local_up_to_layer == len(self.blocks):  # avg pooling, GPSA everywhere
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Final tokens ``(B, 1 + N, D)`` -> logits ``(B, K)`` (or pooled features ``(B, D)``)."""
        x = x[:, 1:].mean(dim=1) if self.global_pool == "avg" else x[:, 0]
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def freeze_local_attention(model: ConViT, maps_only: bool = True) -> list[str]:
    """Freeze the attention of every GPSA block at its current (e.g. convolutional) init.

    ``maps_only=True`` freezes what decides *where* a head looks (``qk``, ``pos_proj``,
    ``gating_param``): with the local init each GPSA layer then stays a convolution whose
    filters (``v``, ``proj``) still learn. ``maps_only=False`` freezes the whole attention module.
    Norms, MLPs, the later blocks and the head always train. Returns the frozen parameter names.
    """
    parts = (".attn.qk.", ".attn.pos_proj.", ".attn.gating_param") if maps_only else (".attn.",)
    frozen = []
    for name, param in model.named_parameters():
        if not name.startswith("blocks.") or int(name.split(".")[1]) >= model.local_up_to_layer:
            continue
        if any(part in name for part in parts):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def _convit(defaults: dict[str, Any], overrides: dict[str, Any]) -> ConViT:
    return ConViT(**{**defaults, **overrides})


NANO = dict(CIFAR, embed_dim=64, depth=4, num_heads=4, local_up_to_layer=3)
MINI = dict(CIFAR, embed_dim=128, depth=6, num_heads=4, local_up_to_layer=4)
TINY = dict(CIFAR, embed_dim=192, depth=9, num_heads=4, local_up_to_layer=7)
TWIN = "convit_tiny"  # timm's ConVit class


def _twin(config: dict[str, Any]) -> dict[str, Any]:
    """timm's arguments for ``config``: its ``embed_dim`` is the width of one head."""
    return {**config, "embed_dim": config["embed_dim"] // config["num_heads"]}


@register_model(family="convit", size="nano", timm=TWIN, timm_args=_twin(NANO))
def convit_cifar_nano(**overrides) -> ConViT:
    """Width 64 (4 heads of 16), 3 GPSA + 1 self-attention blocks, patch 4 on 32x32."""
    return _convit(NANO, overrides)


@register_model(family="convit", size="mini", timm=TWIN, timm_args=_twin(MINI))
def convit_cifar_mini(**overrides) -> ConViT:
    """Width 128 (4 heads of 32), 4 GPSA + 2 self-attention blocks, patch 4 on 32x32."""
    return _convit(MINI, overrides)


@register_model(family="convit", size="tiny", timm=TWIN, timm_args=_twin(TINY))
def convit_cifar_tiny(**overrides) -> ConViT:
    """Width 192 (4 heads of 48), 7 GPSA + 2 self-attention blocks, patch 4 on 32x32: the same
    width and depth as ``vit_cifar_tiny``."""
    return _convit(TINY, overrides)


@register_model(family="convit", size="tiny", timm="convit_tiny")
def convit_tiny(**overrides) -> ConViT:
    """ConViT-Ti: 4 heads of 48 (width 192), 10 GPSA + 2 self-attention blocks, 224x224."""
    return _convit(dict(embed_dim=192, depth=12, num_heads=4, local_up_to_layer=10), overrides)


@register_model(family="convit", size="small", timm="convit_small")
def convit_small(**overrides) -> ConViT:
    """ConViT-S: 9 heads of 48 (width 432), 10 GPSA + 2 self-attention blocks, 224x224."""
    return _convit(dict(embed_dim=432, depth=12, num_heads=9, local_up_to_layer=10), overrides)
