"""Hessian eigenvalues from Hessian-vector products (notebook 10), checked against the explicit
Hessian of models small enough to form it: a quadratic and a 51-parameter MLP. On a ViT the
products go through the explicit attention path and the ``fused`` flags come back."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.testing import assert_close

from course_lib.analysis.hessian import (
    eigenvalue_density,
    hvp,
    lanczos_spectrum,
    negative_share,
    top_eigenvalues,
)
from course_lib.models import create_model

SPECTRUM = torch.tensor([5.0, -3.0, 2.0, 1.0, 0.5, 0.1], dtype=torch.float64)


class Quadratic(nn.Module):
    """``forward`` returns the weights; with :func:`_quadratic_loss` the loss is ``w^T A w / 2``,
    whose Hessian is ``A`` = a random rotation of ``diag(SPECTRUM)``."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
        self.register_buffer("a", q @ torch.diag(SPECTRUM) @ q.T)
        self.w = nn.Parameter(torch.randn(6, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w


def _quadratic_loss(w: torch.Tensor, model: Quadratic) -> torch.Tensor:
    return w @ model.a @ w / 2


@pytest.fixture(scope="module")
def mlp_problem():
    """A tanh MLP 4 -> 6 -> 3 (51 parameters, float64), a batch, and its explicit Hessian."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        chunks = [c.view(s) for c, s in zip(flat.split(sizes), shapes)]
        return F.cross_entropy(functional_call(model, dict(zip(names, chunks)), (x,)), y)

    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    hessian = torch.autograd.functional.hessian(loss_of, flat)
    return model, x, y, hessian


def test_hvp_equals_the_explicit_hessian_times_the_vector(mlp_problem):
    model, x, y, hessian = mlp_problem
    assert hessian.shape == (51, 51)
    v = [torch.randn_like(p) for p in model.parameters()]
    hv = hvp(model, F.cross_entropy, x, y, v)
    assert [h.shape for h in hv] == [p.shape for p in model.parameters()]
    flat_v = torch.cat([t.flatten() for t in v])
    assert_close(torch.cat([h.flatten() for h in hv]), hessian @ flat_v)


def test_power_iteration_finds_the_dominant_eigenvalues_of_a_quadratic():
    model, nothing = Quadratic(), torch.zeros(1)
    loss_fn = lambda w, _: _quadratic_loss(w, model)  # noqa: E731
    top = top_eigenvalues(model, loss_fn, nothing, nothing, k=3)
    # Largest magnitude first; the default tolerance stops within about 1e-3.
    assert top == pytest.approx([5.0, -3.0, 2.0], rel=5e-3)
    exact = top_eigenvalues(model, loss_fn, nothing, nothing, k=2, iters=200, tol=1e-12)
    assert exact == pytest.approx([5.0, -3.0], rel=1e-9)


def test_power_iteration_and_lanczos_match_eigvalsh_on_an_mlp(mlp_problem):
    model, x, y, hessian = mlp_problem
    eigenvalues = torch.linalg.eigvalsh(hessian)
    by_magnitude = eigenvalues[eigenvalues.abs().argsort(descending=True)]
    top = top_eigenvalues(model, F.cross_entropy, x, y, k=1, iters=500, tol=1e-12)
    assert top[0] == pytest.approx(by_magnitude[0].item(), rel=1e-6)

    # Lanczos over the whole space recovers every distinct eigenvalue.
    nodes, weights = lanczos_spectrum(model, F.cross_entropy, x, y, steps=100)
    assert len(nodes) <= 51
    distance = (nodes[:, None] - eigenvalues[None]).abs()
    assert distance.min(dim=1).values.max() < 1e-6  # every node is an eigenvalue
    assert distance.min(dim=0).values.max() < 1e-6  # every eigenvalue is a node
    assert weights.min() >= 0 and weights.sum().item() == pytest.approx(1.0)

    # A few steps already pin down the extremes.
    nodes, weights = lanczos_spectrum(model, F.cross_entropy, x, y, steps=15, seed=1)
    assert nodes.shape == weights.shape == (15,)
    assert nodes.max().item() == pytest.approx(eigenvalues.max().item(), rel=1e-3)
    assert weights.sum().item() == pytest.approx(1.0)


def test_hvp_on_a_vit_uses_the_explicit_attention_and_restores_the_flags():
    model = create_model("vit_cifar_nano", img_size=16, embed_dim=32, depth=2).train()
    layers = [m for m in model.modules() if hasattr(m, "fused")]
    layers[0].fused = False  # a flag set by the user stays as it was
    before = [m.fused for m in layers]
    seen = []
    layers[-1].register_forward_pre_hook(lambda module, args: seen.append(module.fused))
    x, y = torch.randn(2, 3, 16, 16), torch.tensor([1, 7])
    g = torch.Generator().manual_seed(0)
    u, v = ([torch.randn(p.shape, generator=g) for p in model.parameters()] for _ in range(2))
    hu, hv = hvp(model, F.cross_entropy, x, y, u), hvp(model, F.cross_entropy, x, y, v)
    assert all(torch.isfinite(h).all() for h in hv)
    # The Hessian is symmetric: u . Hv = v . Hu.
    u_hv = sum((a * b).sum() for a, b in zip(u, hv)).item()
    v_hu = sum((a * b).sum() for a, b in zip(v, hu)).item()
    assert u_hv == pytest.approx(v_hu, rel=1e-3)
    assert seen == [False, False]  # the explicit path ran
    assert [m.fused for m in layers] == before and model.training


def test_hvp_rejects_a_vector_of_the_wrong_shapes(mlp_problem):
    model, x, y, _ = mlp_problem
    with pytest.raises(ValueError, match="one tensor per trainable parameter"):
        hvp(model, F.cross_entropy, x, y, [torch.zeros(3)])


def test_density_integrates_to_one_and_negative_share(mlp_problem):
    model, x, y, _ = mlp_problem
    batches = [(x[:8], y[:8]), (x[8:], y[8:])]
    grid, density = eigenvalue_density(model, F.cross_entropy, batches, steps=10, grid=400)
    assert grid.shape == density.shape == (400,) and density.min() >= 0
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-3)
    nodes = torch.tensor([-2.0, -0.5, 1.0, 3.0])
    assert negative_share(nodes, torch.tensor([0.1, 0.2, 0.3, 0.4])) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="no batches"):
        eigenvalue_density(model, F.cross_entropy, [], steps=10)
