"""The building blocks of a Vision Transformer, one module per idea.

Parameter names follow timm (``patch_embed.proj``, ``attn.qkv``, ``mlp.fc1``, ``ls1.gamma``, ...)
so that a timm state dict loads into the course's models without any renaming.

Shapes: ``B`` batch, ``N`` tokens, ``D`` embedding width, ``H`` heads, ``d = D / H`` head width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention written out: ``A = softmax(q k^T * scale)``, output ``A v``.

    ``q``: ``(..., N_q, d)``, ``k``: ``(..., N_k, d)``, ``v``: ``(..., N_k, d_v)``. ``scale``
    defaults to ``1 / sqrt(d)``. Returns the output ``(..., N_q, d_v)`` and the attention weights
    ``A`` of shape ``(..., N_q, N_k)``, whose rows sum to 1.
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    weights = (q * scale) @ k.transpose(-2, -1)
    weights = weights.softmax(dim=-1)
    return weights @ v, weights


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(B, N, D) -> (B, H, N, D / H)``: each head gets its own slice of the channels."""
    b, n, d = x.shape
    return x.reshape(b, n, num_heads, d // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(B, H, N, d) -> (B, N, H * d)``: the inverse of :func:`split_heads`."""
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def check_image_batch(
    x: torch.Tensor,
    in_chans: int,
    img_size: int | None = None,
    resize_hint: str = "",
    dtype: torch.dtype | None = None,
) -> None:
    """Raise a clear error unless ``x`` is a float batch ``(B, in_chans, H, W)`` (and, when
    ``img_size`` is given, ``H == W == img_size``; when ``dtype`` is given, the model's weights'
    dtype, unless autocast is on). ``resize_hint`` is added to the size error."""
    if x.ndim != 4:
        raise ValueError(
            f"Expected a batch of images (B, C, H, W), got shape {tuple(x.shape)}. "
            "For a single image use x.unsqueeze(0)."
        )
    if x.shape[1] != in_chans:
        raise ValueError(
            f"Expected {in_chans} channels in dimension 1, got shape {tuple(x.shape)}. "
            "Convert grayscale with x.expand(-1, 3, -1, -1), or channels-last data with "
            "x.permute(0, 3, 1, 2)."
        )
    if img_size is not None and tuple(x.shape[-2:]) != (img_size, img_size):
        raise ValueError(
            f"Expected {img_size}x{img_size} images, got {x.shape[-2]}x{x.shape[-1]}. Resize with "
            f"torch.nn.functional.interpolate(x, size={img_size}) or build the model for your size"
            f"{resize_hint}."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"Expected float inputs, got {x.dtype}: normalise uint8 images first "
            "(course_lib.data.normalize)."
        )
    if dtype is not None and x.dtype != dtype and not _autocast_on(x):
        raise ValueError(
            f"The inputs are {x.dtype} but the model's weights are {dtype}: convert the inputs "
            f"with x.to({dtype}) (or the model with model.to({x.dtype}) to compute in that "
            "precision; for mixed precision use torch.autocast)."
        )


def _autocast_on(x: torch.Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type)


def parameter_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of ``module``'s first parameter (float32 for a module without any)."""
    return next((p.dtype for p in module.parameters()), torch.float32)


def check_sizes(owner: str, minimum: int = 1, **sizes: int) -> None:
    """Raise a ValueError naming ``owner`` and the argument unless every one of ``sizes`` is an
    integer of at least ``minimum`` (``check_sizes("ViT", depth=-1, minimum=0)``)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            need = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise ValueError(f"{owner}: {name} must be {need}, got {value!r}.")


def head_sizes(owner: str, dim: int, num_heads: int) -> tuple[int, float]:
    """Check that ``dim`` splits into ``num_heads`` heads; return the head width ``d = D / H``
    and the attention scale ``1 / sqrt(d)``."""
    check_sizes(owner, dim=dim, num_heads=num_heads)
    if dim % num_heads:
        raise ValueError(
            f"{owner}: width {dim} must be divisible by the number of heads {num_heads}."
        )
    head_dim = dim // num_heads
    return head_dim, head_dim**-0.5


class PatchEmbed(nn.Module):
    """Cut an image into ``P x P`` patches and map each one linearly to ``D`` numbers.

    A convolution with kernel = stride = ``P`` is exactly "flatten each patch, multiply by one
    shared matrix" (notebook 01 checks this). ``(B, C, H, W) -> (B, N, D)`` with
    ``N = (H / P) * (W / P)``.
    """

    def __init__(
        self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768
    ) -> None:
        super().__init__()
        check_sizes(
            "PatchEmbed",
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_chans,
            embed_dim=embed_dim,
        )
        if img_size % patch_size:
            raise ValueError(
                f"Image size {img_size} is not divisible by the patch size {patch_size}; choose "
                f"a patch size that divides it (e.g. {_divisors_hint(img_size)})."
            )
        self.img_size = img_size
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), patches in raster order


def _divisors_hint(n: int) -> str:
    return ", ".join(str(p) for p in (2, 4, 8, 16, 32) if n % p == 0) or "1"


class AttentionPaths(nn.Module):
    """What every course attention layer shares: a fused path for training and an explicit one
    for looking inside.

    A subclass sets ``scale``, ``attn_drop`` (an ``nn.Dropout``), ``fused = True``,
    ``store_attention = False`` and ``attention = None`` in its ``__init__`` and calls
    :meth:`_attend` with its queries, keys and values.
    """

    fused: bool
    store_attention: bool
    attention: torch.Tensor | None
    scale: float
    attn_drop: nn.Dropout

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``softmax(q k^T * scale) v`` for ``q`` ``(B, H, N_q, d)``, ``k`` and ``v``
        ``(B, H, N_k, d)``: fused (``F.scaled_dot_product_attention``) unless ``fused`` is off or
        ``store_attention`` is on; the explicit path keeps the ``(B, H, N_q, N_k)`` weights in
        ``self.attention`` when storing. Attention dropout acts in training on either path."""
        if self.fused and not self.store_attention:
            p = self.attn_drop.p if self.training else 0.0
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        out, weights = explicit_attention(q, k, v, self.scale)
        if self.store_attention:
            self.attention = weights.detach()
        return self.attn_drop(weights) @ v if self.training and self.attn_drop.p else out


class Attention(AttentionPaths):
    """Multi-head self-attention: ``(B, N, D) -> (B, N, D)``.

    One linear map ``qkv`` makes queries, keys and values for all heads at once; each head attends
    with ``softmax(q k^T / sqrt(d)) v``; ``proj`` mixes the heads' outputs.

    Two paths compute the same numbers:

    - fused (default): ``F.scaled_dot_product_attention``, memory-efficient and fast, but it never
      materialises the attention matrix;
    - explicit (``fused = False``, or ``store_attention = True``): :func:`explicit_attention`,
      which forms the ``(B, H, N, N)`` weights. With ``store_attention`` they are kept in
      ``self.attention`` for visualisation; the explicit path also supports double backward
      (Hessian-vector products).
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
        self.head_dim, self.scale = head_sizes("Attention", dim, num_heads)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.fused = True
        self.store_attention = False
        self.attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, H, N, d)
        return self.proj_drop(self.proj(merge_heads(self._attend(q, k, v))))


class Mlp(nn.Module):
    """The position-wise feed-forward network: ``Linear(D, hidden) -> GELU -> Linear(hidden, D)``
    applied to every token separately. ``(B, N, D) -> (B, N, D)``."""

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Stochastic depth: zero the whole residual branch for a random subset of samples and scale
    the survivors by ``1 / (1 - drop_prob)`` so the expected value is unchanged."""
    if drop_prob == 0.0 or not training:
        return x
    keep = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class DropPath(nn.Module):
    """Module form of :func:`drop_path` (identity in eval mode)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class LayerScale(nn.Module):
    """CaiT's LayerScale: multiply each channel of a residual branch by a learned weight,
    ``diag(gamma) x``, with ``gamma`` initialised to a small ``init_values``. ``(..., D)``."""

    def __init__(self, dim: int, init_values: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """A pre-norm transformer block: ``x + MSA(LN(x))``, then ``x + MLP(LN(x))``.

    ``init_values`` switches LayerScale on (``None``: off, as in the original ViT);
    ``drop_path`` is the stochastic-depth probability of both branches. ``(B, N, D) -> (B, N, D)``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        proj_drop: float = 0.0,
        attn_drop: float = 0.0,
        init_values: float | None = None,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, proj_drop)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def attn_branch(self, x: torch.Tensor) -> torch.Tensor:
        """What the attention branch adds to the residual stream: ``ls1(MSA(LN(x)))``."""
        return self.ls1(self.attn(self.norm1(x)))

    def mlp_branch(self, x: torch.Tensor) -> torch.Tensor:
        """What the MLP branch adds to the residual stream: ``ls2(MLP(LN(x)))``."""
        return self.ls2(self.mlp(self.norm2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.attn_branch(x))
        x = x + self.drop_path2(self.mlp_branch(x))
        return x


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping ``P x P`` patches and flatten each one.

    ``(B, C, H, W) -> (B, N, P * P * C)`` with ``N = (H / P) * (W / P)``. Patches come in raster
    order (left to right, then top to bottom); each patch vector lists its pixels row by row,
    with the ``C`` channel values of a pixel side by side (the ``(P, P, C)`` layout). Works for
    any dtype (uint8 images too): it only moves numbers. :func:`unpatchify` inverts it.
    """
    if images.ndim != 4:
        raise ValueError(f"Expected images (B, C, H, W), got shape {tuple(images.shape)}.")
    b, c, h, w = images.shape
    p = patch_size
    if h % p or w % p:
        raise ValueError(
            f"Image size {h}x{w} is not divisible by the patch size {p}; choose a patch size "
            f"that divides both sides (e.g. {_divisors_hint(math.gcd(h, w))})."
        )
    x = images.reshape(b, c, h // p, p, w // p, p)  # (B, C, rows, P, cols, P)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (B, rows, cols, P, P, C)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(
    patches: torch.Tensor, patch_size: int, grid_size: tuple[int, int] | None = None
) -> torch.Tensor:
    """The inverse of :func:`patchify`: ``(B, N, P * P * C) -> (B, C, H, W)``.

    ``grid_size`` is ``(rows, cols)`` of patches, ``H = rows * P``, ``W = cols * P``; by default
    the grid is square, ``rows = cols = sqrt(N)``.
    """
    if patches.ndim != 3:
        raise ValueError(f"Expected patches (B, N, P*P*C), got shape {tuple(patches.shape)}.")
    b, n, dim = patches.shape
    p = patch_size
    if dim % (p * p):
        raise ValueError(f"A patch vector of {dim} numbers is not P*P*C for P={p}.")
    c = dim // (p * p)
    if grid_size is None:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"{n} patches do not form a square grid; pass grid_size=(rows, cols).")
        grid_size = (side, side)
    rows, cols = grid_size
    if rows * cols != n:
        raise ValueError(f"grid_size {grid_size} holds {rows * cols} patches, got {n}.")
    x = patches.reshape(b, rows, cols, p, p, c)  # (B, rows, cols, P, P, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, rows, P, cols, P)
    return x.reshape(b, c, rows * p, cols * p)
