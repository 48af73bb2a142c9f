"""The curvature of the loss around a model's weights (notebook 10, Park & Kim, 2022).

The Hessian ``H`` of the loss w.r.t. all ``P`` parameters is ``P x P``: far too big to form. But
its product with any vector ``v`` costs about two backward passes (Pearlmutter's trick): build
the gradient ``g`` with ``create_graph=True`` and differentiate ``g . v`` once more,
``H v = d(g . v) / dw``. From Hessian-vector products alone:

- power iteration finds the largest eigenvalues (the sharpness of the minimum);
- stochastic Lanczos quadrature (SLQ) estimates the density of the whole spectrum;
- for a micro model (a few thousand parameters) ``P`` products give the whole Hessian, one column
  each (:func:`exact_hessian`), and its exact spectrum (:func:`hessian_spectrum`,
  :func:`negative_eigenvalues`) checks the estimates.

Park & Kim's point: the loss of a vision transformer has many negative eigenvalues (it is not
convex around the weights) early in training and when data are scarce; convolutions and more
data make it convex. Every function runs the model in eval mode (no dropout, no DropPath) with
batch norm, by default, normalising with each batch's own statistics (``batchnorm="batch"``, as
in training, :func:`course_lib.analysis.landscape.loss_mode`): the Hessian is that of the loss
training minimised. ``batchnorm="eval"`` uses the running statistics instead, the loss the model
computes at evaluation (stale statistics make it a different function of the weights).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from course_lib.analysis.landscape import loss_mode

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def double_backward_mode(model: nn.Module, batchnorm: str = "batch") -> Iterator[None]:
    """Inside the block the model runs in :func:`~course_lib.analysis.landscape.loss_mode` (eval
    mode, batch norm on each batch's statistics with ``batchnorm="batch"`` or on its running ones
    with ``"eval"``) and its attention layers take a path with second derivatives: ``fused =
    False`` on every module that has the flag, and PyTorch's own ``scaled_dot_product_attention``
    restricted to the math kernel (the flash and memory-efficient kernels have no double
    backward). The flags, the training modes and the batch-norm buffers are as before on exit."""
    layers = [m for m in model.modules() if hasattr(m, "fused")]
    saved = [layer.fused for layer in layers]
    with loss_mode(model, batchnorm):
        try:
            for layer in layers:
                layer.fused = False
            with sdpa_kernel(SDPBackend.MATH):
                yield
        finally:
            for layer, fused in zip(layers, saved):
                layer.fused = fused


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    """The parameters that require gradients, or a ValueError when there are none."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no parameters that require gradients.")
    return params


class _Hessian:
    """``v -> H v`` on one batch, with vectors flattened to ``(P,)``: the gradient graph is built
    once and reused by every product. Use inside :func:`double_backward_mode`."""

    def __init__(
        self, model: nn.Module, loss_fn: LossFn, inputs: torch.Tensor, targets: torch.Tensor
    ) -> None:
        self.params = _trainable(model)
        device = self.params[0].device
        loss = loss_fn(model(inputs.to(device)), targets.to(device))
        grads = torch.autograd.grad(loss, self.params, create_graph=True, allow_unused=True)
        self.grads = [torch.zeros_like(p) if g is None else g for p, g in zip(self.params, grads)]
        self.size = sum(p.numel() for p in self.params)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        dot = sum((g * u).sum() for g, u in zip(self.grads, self.unflatten(v)))
        if not dot.requires_grad:  # the loss is (at most) linear in the parameters
            return torch.zeros_like(v)
        hv = torch.autograd.grad(dot, self.params, retain_graph=True, allow_unused=True)
        return self.flatten(
            [torch.zeros_like(p) if h is None else h for p, h in zip(self.params, hv)]
        )

    def flatten(self, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([t.detach().reshape(-1) for t in tensors])

    def unflatten(self, v: torch.Tensor) -> list[torch.Tensor]:
        chunks = v.split([p.numel() for p in self.params])
        return [c.view_as(p) for c, p in zip(chunks, self.params)]

    def random(self, generator: torch.Generator, rademacher: bool = False) -> torch.Tensor:
        """A random unit vector ``(P,)``, drawn on the CPU (the same on every device)."""
        if rademacher:
            v = torch.randint(0, 2, (self.size,), generator=generator).double() * 2 - 1
        else:
            v = torch.randn(self.size, generator=generator, dtype=torch.float64)
        p = self.params[0]
        return _unit(v.to(p.device, p.dtype))


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm().clamp_min(1e-30)


def hvp(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    vector: Sequence[torch.Tensor],
    batchnorm: str = "batch",
) -> list[torch.Tensor]:
    """The Hessian of ``loss_fn(model(inputs), targets)`` w.r.t. the model's parameters, times
    ``vector``: one tensor per parameter that requires gradients (``model.parameters()`` order,
    same shapes). Returns ``H v`` in the same layout. ``inputs`` and ``targets`` are moved to the
    model's device. ``batchnorm``: as in :func:`double_backward_mode`."""
    with double_backward_mode(model, batchnorm):
        hessian = _Hessian(model, loss_fn, inputs, targets)
        shapes = [tuple(p.shape) for p in hessian.params]
        given = [tuple(v.shape) for v in vector]
        if given != shapes:
            raise ValueError(
                f"Expected one tensor per trainable parameter with shapes {shapes}, got {given}; "
                "build it with [torch.randn_like(p) for p in model.parameters() "
                "if p.requires_grad]."
            )
        p = hessian.params[0]
        flat = hessian.flatten([v.to(p.device, p.dtype) for v in vector])
        return hessian.unflatten(hessian(flat))


def top_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    k: int = 1,
    iters: int = 20,
    tol: float = 1e-3,
    seed: int = 0,
    batchnorm: str = "batch",
) -> list[float]:
    """The ``k`` dominant Hessian eigenvalues on one batch, by power iteration with deflation
    (PyHessian's method), the largest first.

    Each eigenvalue is found by iterating ``v <- H v / ||H v||`` from a random start, kept
    orthogonal to the eigenvectors already found, until the Rayleigh quotient ``v . H v`` changes
    by less than ``tol`` (relative) or after ``iters`` products. Power iteration finds the
    eigenvalues of largest magnitude: near a minimum those are the largest positive ones, but a
    strongly negative one can come first. ``batchnorm``: as in :func:`double_backward_mode`.
    """
    generator = torch.Generator().manual_seed(seed)
    with double_backward_mode(model, batchnorm):
        hessian = _Hessian(model, loss_fn, inputs, targets)
        if not 1 <= k <= hessian.size:
            raise ValueError(f"k must lie in [1, {hessian.size}] (the parameter count), got {k}.")
        values: list[float] = []
        vectors: list[torch.Tensor] = []
        for _ in range(k):
            v = hessian.random(generator)
            value: float | None = None
            for _ in range(iters):
                for u in vectors:  # deflation: stay orthogonal to the eigenvectors found
                    v = v - torch.dot(v, u) * u
                v = _unit(v)
                hv = hessian(v)
                rayleigh = torch.dot(hv, v).item()
                v = _unit(hv)
                converged = value is not None and abs(rayleigh - value) <= tol * (abs(value) + 1e-6)
                value = rayleigh
                if converged:
                    break
            values.append(value)
            vectors.append(v)
    return values


def lanczos_spectrum(
    model: nn.Module,
    loss_fn: LossFn,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    steps: int = 30,
    seed: int = 0,
    batchnorm: str = "batch",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stochastic Lanczos quadrature: the Hessian's spectrum on one batch as ``steps`` weighted
    nodes, ``(nodes, weights)``, each ``(m,)`` float64 on the CPU (``m <= steps``).

    Lanczos builds an orthonormal basis ``Q`` of the Krylov space ``{v, Hv, H^2 v, ...}`` from a
    random Rademacher start ``v`` (fully reorthogonalised, so rounding cannot bring back old
    directions) and the tridiagonal ``T = Q^T H Q``. With ``T = U diag(theta) U^T``, the nodes are
    ``theta`` (the Ritz values: the extreme ones converge to the extreme eigenvalues) and the
    weights ``U[0, j]^2`` (they sum to 1): ``sum_j w_j f(theta_j) ~ v^T f(H) v``, whose expectation
    over ``v`` is the mean of ``f`` over the eigenvalues. ``m < steps`` when the Krylov space is
    exhausted early (``steps`` at least the parameter count, or repeated eigenvalues). The basis
    holds ``steps * P`` numbers on the model's device. ``batchnorm``: as in
    :func:`double_backward_mode`.
    """
    generator = torch.Generator().manual_seed(seed)
    with double_backward_mode(model, batchnorm):
        hessian = _Hessian(model, loss_fn, inputs, targets)
        steps = min(steps, hessian.size)
        v = hessian.random(generator, rademacher=True)
        basis = v.new_empty(steps, hessian.size)
        basis[0] = v
        alphas: list[float] = []
        betas: list[float] = []
        for i in range(steps):
            w = hessian(basis[i])
            alphas.append(torch.dot(w, basis[i]).item())
            for _ in range(2):  # twice is enough (Kahan's rule)
                w = w - basis[: i + 1].T @ (basis[: i + 1] @ w)
            if i == steps - 1:
                break
            beta = w.norm().item()
            scale = max(abs(a) for a in alphas) + max(betas, default=0.0)
            if beta <= math.sqrt(torch.finfo(w.dtype).eps) * scale:
                break  # an invariant subspace: the rest of the spectrum is unreachable from v
            betas.append(beta)
            basis[i + 1] = w / beta
    tridiagonal = (
        torch.diag(torch.tensor(alphas, dtype=torch.float64))
        + torch.diag(torch.tensor(betas, dtype=torch.float64), 1)
        + torch.diag(torch.tensor(betas, dtype=torch.float64), -1)
    )
    nodes, eigenvectors = torch.linalg.eigh(tridiagonal)
    return nodes, eigenvectors[0] ** 2


def eigenvalue_density(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    steps: int = 30,
    grid: int | torch.Tensor = 200,
    sigma: float | None = None,
    seed: int = 0,
    batchnorm: str = "batch",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Hessian eigenvalue density: :func:`lanczos_spectrum` on each ``(inputs, targets)``
    batch (start vector seeded ``seed + i``), each node spread into a Gaussian of width
    ``sigma``, averaged over the batches. Returns ``(grid, density)``, both float64 on the CPU;
    the density integrates to about 1 over a grid that covers the spectrum.

    ``grid``: the eigenvalues at which to evaluate, or their number (then spread evenly from the
    smallest node to the largest, with ``3 sigma`` to spare); ``sigma``: in eigenvalue units,
    by default 1 % of the range of the nodes.
    """
    spectra = [
        lanczos_spectrum(model, loss_fn, x, y, steps, seed + i, batchnorm)
        for i, (x, y) in enumerate(batches)
    ]
    if not spectra:
        raise ValueError("eigenvalue_density got no batches.")
    all_nodes = torch.cat([nodes for nodes, _ in spectra])
    low, high = all_nodes.min().item(), all_nodes.max().item()
    if sigma is None:
        sigma = 0.01 * (high - low) or 0.01 * max(abs(high), 1e-12)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    if isinstance(grid, int):
        grid = torch.linspace(low - 3 * sigma, high + 3 * sigma, grid, dtype=torch.float64)
    grid = torch.as_tensor(grid, dtype=torch.float64)
    density = torch.zeros_like(grid)
    for nodes, weights in spectra:
        gaussians = torch.exp(-((grid[:, None] - nodes[None]) ** 2) / (2 * sigma**2))
        density += gaussians @ weights / (sigma * math.sqrt(2 * math.pi))
    return grid, density / len(spectra)


def negative_share(nodes: torch.Tensor, weights: torch.Tensor) -> float:
    """The weighted share of negative eigenvalues in a spectrum (e.g. :func:`lanczos_spectrum`'s
    nodes and weights): 0 where the loss is locally convex."""
    nodes, weights = torch.as_tensor(nodes), torch.as_tensor(weights)
    if nodes.shape != weights.shape:
        raise ValueError(f"nodes {tuple(nodes.shape)} and weights {tuple(weights.shape)} differ.")
    return (weights * (nodes < 0)).sum().item() / weights.sum().item()


def exact_hessian(
    model: nn.Module,
    loss_fn: LossFn,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    max_parameters: int = 20_000,
    batchnorm: str = "batch",
) -> torch.Tensor:
    """The full Hessian ``(P, P)`` of the mean loss over ``batches`` w.r.t. the model's ``P``
    trainable parameters, flattened in ``model.parameters()`` order; on the CPU, float64 for a
    float64 model and float32 otherwise. Only for micro models: it holds ``P * P`` numbers.

    ``batches``: fixed ``(inputs, targets)`` pairs (moved to the model's device). Batch ``b``'s
    loss ``loss_fn(model(inputs), targets)`` is weighted by its size ``n_b`` (``inputs.shape[0]``):
    the result is ``sum_b n_b H_b / sum_b n_b``, the Hessian of the loss over all the examples
    when ``loss_fn`` averages over its batch. Column ``i`` is the Hessian-vector product with the
    ``i``-th unit vector, so it costs ``P`` products per batch; like every function here it runs
    the model in :func:`double_backward_mode` (``batchnorm="batch"``: each batch normalised with
    its own statistics, as in training). Exact up to rounding; symmetrise before an eigensolver
    (:func:`hessian_spectrum` does).

    Raises ``ValueError`` when ``P > max_parameters``: use :func:`top_eigenvalues` or
    :func:`lanczos_spectrum` for larger models.
    """
    params = _trainable(model)
    size = sum(p.numel() for p in params)
    if size > max_parameters:
        raise ValueError(
            f"{type(model).__name__} has P = {size:,} trainable parameters, more than "
            f"max_parameters = {max_parameters:,}: the full Hessian would need P*P = "
            f"{size * size:,} numbers. Use top_eigenvalues or lanczos_spectrum (Hessian-vector "
            "products only) instead, or raise max_parameters if the memory is there."
        )
    dtype = torch.float64 if params[0].dtype == torch.float64 else torch.float32
    total = torch.zeros(size, size, dtype=dtype, device=params[0].device)
    seen = 0
    with double_backward_mode(model, batchnorm):
        for inputs, targets in batches:
            n = int(inputs.shape[0])
            _add_columns(total, _Hessian(model, loss_fn, inputs, targets), n)
            seen += n
    if seen == 0:
        raise ValueError("exact_hessian got no batches (or only empty ones).")
    return (total / seen).cpu()


def _add_columns(total: torch.Tensor, hessian: _Hessian, weight: float) -> None:
    """``total += weight * H`` in place, ``total`` ``(P, P)``: column ``i`` from ``H e_i``."""
    p = hessian.params[0]
    unit = torch.zeros(hessian.size, dtype=p.dtype, device=p.device)
    for i in range(hessian.size):
        unit[i] = 1
        total[:, i] += weight * hessian(unit).to(total.dtype)
        unit[i] = 0


def hessian_spectrum(hessian: torch.Tensor) -> torch.Tensor:
    """All eigenvalues of a Hessian ``(P, P)`` (e.g. :func:`exact_hessian`), ascending: ``(P,)``
    float64 on the Hessian's device. The matrix is symmetrised, ``(H + H^T) / 2``, first: rounding
    leaves the columns of a computed Hessian slightly asymmetric, and ``eigvalsh`` reads only one
    triangle."""
    if not isinstance(hessian, torch.Tensor) or hessian.ndim != 2:
        got = tuple(hessian.shape) if isinstance(hessian, torch.Tensor) else type(hessian).__name__
        raise ValueError(f"Expected a square matrix (P, P), got {got}.")
    if hessian.shape[0] != hessian.shape[1] or hessian.shape[0] == 0:
        raise ValueError(f"Expected a non-empty square matrix (P, P), got {tuple(hessian.shape)}.")
    h = hessian.to(torch.float64)
    return torch.linalg.eigvalsh((h + h.T) / 2)


def negative_eigenvalues(
    eigenvalues: torch.Tensor, rel_tol: float = 1e-6
) -> dict[str, int | float]:
    """How non-convex a spectrum is, counted exactly: ``eigenvalues`` ``(P,)`` (e.g.
    :func:`hessian_spectrum`).

    An eigenvalue counts as negative when it lies below ``-rel_tol * max|lambda|``, so rounding
    noise around zero (flat directions) does not. Returns a dict:

    - ``"negative"``: how many are negative; ``"total"``: ``P``; ``"share"``: their ratio;
    - ``"min"``, ``"max"``: ``lambda_min`` and ``lambda_max``;
    - ``"ratio"``: ``|lambda_min| / lambda_max``, the strength of the most negative curvature
      relative to the sharpest positive one (``nan`` unless ``lambda_max > 0``; when no eigenvalue
      is negative it is ``lambda_min / lambda_max`` and says nothing about non-convexity).
    """
    values = torch.as_tensor(eigenvalues).detach().to(torch.float64).cpu()
    if values.ndim != 1 or values.numel() == 0:
        raise ValueError(
            f"Expected eigenvalues as a non-empty (P,) tensor, got shape {tuple(values.shape)}."
        )
    if not torch.isfinite(values).all():
        raise ValueError("The eigenvalues contain NaN or infinity.")
    if not rel_tol >= 0:
        raise ValueError(f"rel_tol must be >= 0, got {rel_tol}.")
    threshold = -rel_tol * values.abs().max().item()
    negative = int((values < threshold).sum().item())
    low, high = values.min().item(), values.max().item()
    return {
        "negative": negative,
        "total": values.numel(),
        "share": negative / values.numel(),
        "min": low,
        "max": high,
        "ratio": abs(low) / high if high > 0 else math.nan,
    }
