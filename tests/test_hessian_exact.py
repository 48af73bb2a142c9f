"""The exact Hessian of micro models (notebooks 08 and 10), built column by column from
Hessian-vector products, checked against ``torch.autograd.functional.hessian`` of the loss as a
function of the flattened parameter vector; then its spectrum and the count of negative
eigenvalues."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.testing import assert_close

from course_lib.analysis.hessian import (
    double_backward_mode,
    exact_hessian,
    hessian_spectrum,
    negative_eigenvalues,
)
from course_lib.models import create_model
from course_lib.models.cnn import ResNetCifar


def _reference_hessian(model: nn.Module, batches, batchnorm: str = "batch") -> torch.Tensor:
    """``torch.autograd.functional.hessian`` of the size-weighted mean cross-entropy over
    ``batches`` as a function of all parameters flattened, the model in the mode
    :func:`exact_hessian` runs it in (eval, batch norm as ``batchnorm`` says) and attention on
    its double-backward path."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    count = sum(x.shape[0] for x, _ in batches)

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        chunks = [c.view(s) for c, s in zip(flat.split(sizes), shapes)]
        params = dict(zip(names, chunks))
        return (
            sum(
                x.shape[0] * F.cross_entropy(functional_call(model, params, (x,)), y)
                for x, y in batches
            )
            / count
        )

    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    with double_backward_mode(model, batchnorm):
        return torch.autograd.functional.hessian(loss_of, flat, vectorize=True)


def _images(n: int, size: int, classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g, dtype=torch.float64)
    return x, torch.randint(0, classes, (n,), generator=g)


def test_exact_hessian_of_a_tiny_mlp_equals_autograd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3)).double()  # P = 33
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 2, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=g)
    batches = [(x[:8], y[:8]), (x[8:], y[8:])]  # unequal sizes: weighted by size
    hessian = exact_hessian(model, F.cross_entropy, batches)
    assert hessian.shape == (33, 33) and hessian.dtype == torch.float64
    assert hessian.device.type == "cpu"
    assert_close(hessian, _reference_hessian(model, batches), rtol=0, atol=1e-8)
    # One batch holding all the examples gives the same matrix.
    assert_close(hessian, exact_hessian(model, F.cross_entropy, [(x, y)]), rtol=0, atol=1e-12)
    assert model.training  # the mode comes back


def test_exact_hessian_of_a_float32_model_is_float32():
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    hessian = exact_hessian(
        model, F.cross_entropy, [(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))]
    )
    assert hessian.dtype == torch.float32 and hessian.shape == (17, 17)


def test_exact_hessian_of_a_micro_vit_equals_autograd():
    torch.manual_seed(0)
    model = create_model(
        "vit_cifar_nano",
        img_size=8,
        patch_size=4,
        embed_dim=8,
        depth=1,
        num_heads=2,
        num_classes=3,
    ).double()  # P = 1355: 2x2 patches of 4x4, one block of width 8
    size = sum(p.numel() for p in model.parameters())
    assert size == 1355
    x, y = _images(4, 8, 3, seed=0)
    batches = [(x, y)]
    hessian = exact_hessian(model, F.cross_entropy, batches)
    assert hessian.shape == (size, size)
    assert_close(hessian, _reference_hessian(model, batches), rtol=0, atol=1e-6)
    assert all(m.fused for m in model.modules() if hasattr(m, "fused"))  # flags restored


def _micro_resnet_with_stale_statistics() -> ResNetCifar:
    torch.manual_seed(0)
    model = ResNetCifar(num_classes=3, widths=(2, 2, 2), depths=(1, 1, 1)).double()  # P = 323
    with torch.no_grad():  # running statistics other than the initial 0 / 1
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


def test_exact_hessian_of_a_micro_resnet_in_eval_mode_equals_autograd():
    # With batchnorm="eval" both sides normalise with the running statistics: the loss the
    # model computes at evaluation, a fixed function of the weights.
    model = _micro_resnet_with_stale_statistics()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    x, y = _images(4, 8, 3, seed=1)
    batches = [(x[:2], y[:2]), (x[2:], y[2:])]
    hessian = exact_hessian(model, F.cross_entropy, batches, batchnorm="eval")
    assert hessian.shape == (323, 323)
    reference = _reference_hessian(model, batches, batchnorm="eval")
    assert_close(hessian, reference, rtol=0, atol=1e-8)
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())


def test_exact_hessian_of_a_micro_resnet_uses_each_batchs_statistics_by_default():
    # The default is the loss training minimised: every batch normalised with its own mean and
    # variance (the running statistics are neither read nor written), so the Hessian matches
    # autograd's of the train-mode loss and differs from the eval-mode one.
    model = _micro_resnet_with_stale_statistics()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    x, y = _images(8, 8, 3, seed=2)
    batches = [(x[:4], y[:4]), (x[4:], y[4:])]
    hessian = exact_hessian(model, F.cross_entropy, batches)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    fresh = ResNetCifar(num_classes=3, widths=(2, 2, 2), depths=(1, 1, 1)).double().train()

    def train_mode_loss(w: torch.Tensor) -> torch.Tensor:  # a fresh model: no stale statistics
        params = dict(zip(names, [c.view(s) for c, s in zip(w.split(sizes), shapes)]))
        return (
            sum(F.cross_entropy(functional_call(fresh, params, (xb,)), yb) for xb, yb in batches)
            / 2
        )

    reference = torch.autograd.functional.hessian(train_mode_loss, flat)
    assert_close(hessian, reference, rtol=0, atol=1e-8)
    assert (
        hessian - exact_hessian(model, F.cross_entropy, batches, batchnorm="eval")
    ).abs().max() > 1e-3
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())
    assert model.training


def test_spectrum_and_negative_count_on_a_known_diagonal():
    values = torch.tensor([4.0, -2.0, 1.0, -0.5, 0.0, 1e-9, -1e-9, 3.0], dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(0)).double())
    spectrum = hessian_spectrum(q @ torch.diag(values) @ q.T)
    assert_close(spectrum, values.sort().values, rtol=0, atol=1e-12)
    assert_close(hessian_spectrum(torch.diag(values)), values.sort().values)

    counts = negative_eigenvalues(hessian_spectrum(torch.diag(values)))
    # -1e-9 is within 1e-6 * max|lambda| = 4e-6 of zero: rounding, not curvature.
    assert counts["negative"] == 2 and counts["total"] == 8
    assert counts["share"] == pytest.approx(0.25)
    assert counts["min"] == -2.0 and counts["max"] == 4.0
    assert counts["ratio"] == pytest.approx(0.5)
    assert negative_eigenvalues(values, rel_tol=0.0)["negative"] == 3
    assert negative_eigenvalues(values, rel_tol=0.2)["negative"] == 1
    convex = negative_eigenvalues(torch.tensor([0.5, 1.0, 2.0]))
    assert convex["negative"] == 0 and convex["share"] == 0.0


def test_spectrum_symmetrises_its_input():
    h = torch.tensor([[2.0, 1.0 + 1e-3], [1.0 - 1e-3, 2.0]], dtype=torch.float64)
    assert_close(hessian_spectrum(h), torch.tensor([1.0, 3.0], dtype=torch.float64))


def test_bad_inputs_fail_clearly():
    with pytest.raises(ValueError, match="square"):
        hessian_spectrum(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"\(P,\)"):
        negative_eigenvalues(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="rel_tol"):
        negative_eigenvalues(torch.ones(3), rel_tol=-1.0)
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="no batches"):
        exact_hessian(model, F.cross_entropy, [])


def test_a_model_too_large_for_the_full_hessian_is_refused():
    model = nn.Linear(100, 10)  # P = 1010
    with pytest.raises(ValueError) as err:
        exact_hessian(model, F.cross_entropy, [], max_parameters=1000)
    message = str(err.value)
    assert "1,010" in message and "P*P = 1,020,100 numbers" in message
    assert "top_eigenvalues" in message and "lanczos_spectrum" in message
    with pytest.raises(ValueError, match="P\\*P"):
        exact_hessian(create_model("vit_cifar_nano"), F.cross_entropy, [])  # 0.2M > 20,000
