"""What attention does inside a trained model: per-layer maps, rollout, attention distance.

Every function works on the ``(B, H, N, N)`` attention weights of each layer (rows: queries,
columns: keys; each row sums to 1), as :func:`capture_attention` records them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from course_lib.measure import eval_mode


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The model's attention layers in forward order: modules that can store their weights."""
    return [m for m in model.modules() if hasattr(m, "store_attention")]


@contextlib.contextmanager
def storing_attention(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Inside the block, every attention layer takes its explicit path and keeps its weights in
    ``.attention``; on exit the fused path returns and the stored maps are released."""
    layers = attention_modules(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no attention layers to capture.")
    for layer in layers:
        layer.store_attention = True
    try:
        yield layers
    finally:
        for layer in layers:
            layer.store_attention = False
            layer.attention = None
            if hasattr(layer, "attention_softmax"):  # talking heads keep their softmax too
                layer.attention_softmax = None


@torch.no_grad()
def capture_attention(model: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Run ``model`` on ``images`` ``(B, C, H, W)`` (eval mode) and return one attention tensor
    ``(B, heads, N, N)`` per layer, on the CPU, in float32."""
    with eval_mode(model), storing_attention(model) as layers:
        model(images)
        maps = [layer.attention.float().cpu() for layer in layers]
    return maps


def attention_rollout(maps: list[torch.Tensor], residual_weight: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much each output token draws on each input
    token through all layers.

    Each layer's map is averaged over heads, mixed with the identity to account for the residual
    connection (``w * A + (1 - w) * I`` with ``w = residual_weight``), renormalised, and the
    layers are multiplied: ``R = A'_L ... A'_2 A'_1``. Returns ``(B, N, N)``; row 0 of a model
    with a class token is what the class token "sees".
    """
    rollout = None
    for layer_map in maps:
        a = layer_map.float().mean(dim=1)  # (B, N, N)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = residual_weight * a + (1 - residual_weight) * eye
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    if rollout is None:
        raise ValueError("No attention maps given.")
    return rollout


def patch_distances(grid_size: int, patch_size: int) -> torch.Tensor:
    """Euclidean distance in pixels between the centres of every pair of patches on a
    ``grid_size x grid_size`` grid: ``(g*g, g*g)``."""
    ys, xs = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    centres = torch.stack([ys.flatten(), xs.flatten()], dim=1).float() * patch_size
    return torch.cdist(centres, centres)


def mean_attention_distance(
    maps: list[torch.Tensor], grid_size: int, patch_size: int, num_prefix_tokens: int = 1
) -> torch.Tensor:
    """Mean attention distance per layer and head, in pixels: ``(L, H)``.

    For a query patch ``i``, the attention distance is ``sum_j A_ij * d(i, j)``: the distance to
    each key patch ``j`` weighted by how much ``i`` attends to it, with the weights renormalised
    over patch keys (attention to the class token has no position). It is averaged over query
    patches and images. Small values: local heads (like a convolution); values near the mean
    distance between two random patches: heads that look everywhere.
    """
    distances = patch_distances(grid_size, patch_size)
    p = num_prefix_tokens
    result = []
    for layer_map in maps:
        a = layer_map.float()[:, :, p:, p:]  # (B, H, N, N) over patches only
        a = a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        per_query = (a * distances.to(a.device)).sum(dim=-1)  # (B, H, N)
        result.append(per_query.mean(dim=(0, 2)))
    return torch.stack(result)


@torch.no_grad()
def class_attention_maps(model: nn.Module, images: torch.Tensor, block: int = -1) -> torch.Tensor:
    """Where a CaiT's class token looks: the attention of its query over the patch tokens in the
    class-attention block ``block`` (default: the last). Returns ``(B, H, N)`` on the CPU, float32;
    each head's row is renormalised over the patches (the weight on the class token itself is
    dropped). Reshape to ``(B, H, g, g)`` to draw it over the image."""
    token_blocks = getattr(model, "blocks_token_only", None)
    if token_blocks is None or not hasattr(token_blocks[block].attn, "q"):
        raise ValueError(f"{type(model).__name__} has no class-attention blocks.")
    layer = token_blocks[block].attn
    layer.store_attention = True
    try:
        with eval_mode(model):
            model(images)
        weights = layer.attention.float().cpu()[:, :, 0, 1:]  # (B, H, N)
    finally:
        layer.store_attention = False
        layer.attention = None
    return weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def gate_values(model: nn.Module) -> torch.Tensor:
    """ConViT: each GPSA head's weight on its positional map, ``sigmoid(lambda_h)``, as
    ``(L_gpsa, H)`` (1: purely positional, i.e. convolution-like; 0: purely content)."""
    return torch.stack(
        [torch.sigmoid(m.gating_param.detach().float().cpu()) for m in _gated_layers(model)]
    )


def _gated_layers(model: nn.Module) -> list[nn.Module]:
    """The GPSA layers of ``model`` (those with a ``gating_param``), in order."""
    layers = [m for m in model.modules() if hasattr(m, "gating_param")]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no GPSA layers.")
    return layers


@torch.no_grad()
def nonlocality(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """ConViT: the mean attention distance (pixels) of every GPSA head, ``(L_gpsa, H)``, from
    the mixed (content + positional) attention on ``images``: how far each head looks."""
    maps = capture_attention(model, images)
    gpsa = [m for m in maps if m.shape[-1] == m.shape[-2] == model.patch_embed.num_patches]
    gpsa = gpsa[: model.local_up_to_layer]
    return mean_attention_distance(gpsa, model.grid_size, model.patch_embed.patch_size, 0)


class GateAndLocalityMonitor:
    """An ``on_epoch_end`` callback for ``fit``: after every epoch it adds each GPSA head's gate
    (``gate_l{l}_h{h}``) and nonlocality in pixels (``nonlocality_l{l}_h{h}``, measured on the
    fixed ``images``) to the epoch's record, so they end up in the training history."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __call__(self, model: nn.Module, record: dict[str, float]) -> None:
        gates = gate_values(model)
        distances = nonlocality(model, self.images.to(next(model.parameters()).device))
        for (layer, head), value in zip(_indices(gates.shape), gates.flatten().tolist()):
            record[f"gate_l{layer}_h{head}"] = value
        for (layer, head), value in zip(_indices(distances.shape), distances.flatten().tolist()):
            record[f"nonlocality_l{layer}_h{head}"] = value


class GateGradients:
    """ConViT: records ``d loss / d lambda_h`` of every GPSA head at every backward pass, to
    say which way training pushes the gates and how steadily.

    Use it as a context manager around training; afterwards ``mean`` is the mean gradient per
    step, ``(L_gpsa, H)`` (negative: the loss falls as the gate opens towards *position*, since
    the optimizer steps against the gradient), and ``steadiness`` is ``|mean| / mean(|g|)`` per
    head, in [0, 1]: 1 when every step pushed the same way, near 0 when the pushes cancel. Adam
    moves a parameter by at most about the learning rate per step, and by much less when its
    gradient's sign keeps flipping, so a low steadiness means a gate that hardly moves.
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = _gated_layers(model)
        shape = (len(self.layers), self.layers[0].gating_param.numel())
        self.total = torch.zeros(shape, dtype=torch.float64)
        self.total_abs = torch.zeros(shape, dtype=torch.float64)
        self.steps = torch.zeros(len(self.layers), dtype=torch.int64)
        self._hooks: list = []

    def _record(self, index: int, grad: torch.Tensor) -> None:
        g = grad.detach().double().cpu()
        self.total[index] += g
        self.total_abs[index] += g.abs()
        self.steps[index] += 1

    def __enter__(self) -> GateGradients:
        for index, layer in enumerate(self.layers):
            hook = layer.gating_param.register_hook(lambda g, i=index: self._record(i, g))
            self._hooks.append(hook)
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks.clear()

    @property
    def mean(self) -> torch.Tensor:
        """Mean gradient per backward pass, ``(L_gpsa, H)``."""
        return (self.total / self.steps.clamp_min(1)[:, None]).float()

    @property
    def steadiness(self) -> torch.Tensor:
        """``|sum of gradients| / sum of |gradients|`` per head, ``(L_gpsa, H)``, in [0, 1]."""
        return (self.total.abs() / self.total_abs.clamp_min(1e-30)).float()


def _indices(shape: torch.Size) -> list[tuple[int, int]]:
    return [(layer, head) for layer in range(shape[0]) for head in range(shape[1])]


def history_grid(history, name: str) -> torch.Tensor:
    """Collect ``{name}_l{l}_h{h}`` columns of a training history into ``(epochs, L, H)``."""
    records = history.records if hasattr(history, "records") else history
    keys = [k for k in records[0] if k.startswith(f"{name}_l")]
    if not keys:
        raise ValueError(f"The history has no {name!r} columns; train with GateAndLocalityMonitor.")
    layers = 1 + max(int(k.split("_l")[1].split("_h")[0]) for k in keys)
    heads = 1 + max(int(k.split("_h")[-1]) for k in keys)
    grid = torch.zeros(len(records), layers, heads)
    for e, record in enumerate(records):
        for layer in range(layers):
            for head in range(heads):
                grid[e, layer, head] = record[f"{name}_l{layer}_h{head}"]
    return grid
