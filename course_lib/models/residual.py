"""Four ways to write a residual block, for notebook 07's depth experiment (CaiT, figure 1).

Every block computes ``x_{l+1} = x_l + s(R_l(n(x_l)))`` for its two branches (attention, MLP),
where ``n`` is a normalisation (or none) and ``s`` scales the branch's output:

- ``"prenorm"``: ``n`` = LayerNorm, no scaling (the original ViT / DeiT block);
- ``"rezero"``: no normalisation, one learned scalar ``alpha`` initialised to 0 (ReZero; Fixup
  and SkipInit are close relatives);
- ``"fixup"``: no normalisation, a scalar ``alpha`` initialised to 1;
- ``"norm_alpha"``: LayerNorm and a scalar ``alpha`` initialised to ``init`` (figure 1c);
- ``"layerscale"``: LayerNorm and one learned weight per channel, ``diag(gamma)``, initialised
  to ``init`` (CaiT's LayerScale, figure 1d).

LayerScale leaves the normalisation alone; it rescales what each branch adds to the residual
stream, channel by channel.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from course_lib.models.layers import LayerScale
from course_lib.models.registry import create_model
from course_lib.models.vit import VisionTransformer

RESIDUAL_VARIANTS = ("prenorm", "rezero", "fixup", "norm_alpha", "layerscale")


class ScalarScale(nn.Module):
    """Multiply a residual branch by one learned number ``alpha``. ``(..., D) -> (..., D)``."""

    def __init__(self, init_value: float) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.alpha


def layerscale_init(depth: int) -> float:
    """CaiT's rule for LayerScale's initial value: 0.1 up to depth 18, 1e-5 up to 24, 1e-6
    deeper (the deeper the network, the closer each block starts to the identity)."""
    if depth <= 18:
        return 0.1
    if depth <= 24:
        return 1e-5
    return 1e-6


def default_init(variant: str, depth: int) -> float | None:
    """The initial branch scale a variant starts from (``None``: the variant has no scale)."""
    return {
        "prenorm": None,
        "rezero": 0.0,
        "fixup": 1.0,
        "norm_alpha": layerscale_init(depth),
        "layerscale": layerscale_init(depth),
    }[variant]


def apply_residual_variant(
    model: VisionTransformer, variant: str, init: float | None = None
) -> VisionTransformer:
    """Rewrite every block of ``model`` in place to the residual ``variant`` (see the module
    docstring); ``init`` overrides the variant's default initial scale. Returns the model."""
    if variant not in RESIDUAL_VARIANTS:
        raise ValueError(
            f"Unknown residual variant {variant!r}; choose one of {', '.join(RESIDUAL_VARIANTS)}."
        )
    depth = len(model.blocks)
    init = default_init(variant, depth) if init is None else init
    for block in model.blocks:
        dim = block.norm1.normalized_shape[0]
        if variant in ("rezero", "fixup"):
            block.norm1, block.norm2 = nn.Identity(), nn.Identity()
        if variant == "prenorm":
            block.ls1, block.ls2 = nn.Identity(), nn.Identity()
        elif variant == "layerscale":
            block.ls1, block.ls2 = LayerScale(dim, init), LayerScale(dim, init)
        else:
            block.ls1, block.ls2 = ScalarScale(init), ScalarScale(init)
    return model


def residual_variant_vit(
    variant: str,
    depth: int,
    base: str = "vit_cifar_nano",
    init: float | None = None,
    **overrides: Any,
) -> VisionTransformer:
    """A registered ViT (``base``) at ``depth`` blocks with the residual ``variant``:
    ``residual_variant_vit("layerscale", depth=12)``. ``overrides`` go to ``create_model``."""
    model = create_model(base, depth=depth, **overrides)
    if not isinstance(model, VisionTransformer):
        raise TypeError(f"{base!r} is not a VisionTransformer.")
    return apply_residual_variant(model, variant, init)
