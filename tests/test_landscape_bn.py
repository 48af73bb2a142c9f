"""Loss landscapes of a network with batch norm (notebook 10): by default every point of a line
or surface normalises with the batch's statistics, as training does, leaves the running buffers
bit-identical and differs from the eval-mode loss once the running statistics are stale; models
without batch norm give the same numbers in both modes."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.analysis.landscape import (
    filter_normalized_direction,
    loss_line,
    loss_mode,
    loss_surface,
    training_loss,
)
from course_lib.models import create_model

WEIGHT_DECAY = 0.05


def _resnet() -> nn.Module:
    torch.manual_seed(0)
    return create_model("resnet_cifar_nano", num_classes=10)


def _batches(size: int = 16):
    g = torch.Generator().manual_seed(0)
    return [
        (torch.randn(6, 3, size, size, generator=g), torch.randint(0, 10, (6,), generator=g))
        for _ in range(2)
    ]


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.clone() for name, b in model.named_buffers()}


def _make_stale(model: nn.Module) -> None:
    """Run a few random batches in train mode, then set the running statistics to those of an
    untrained network (mean 0, variance 1): stale for these weights."""
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 16, 16, generator=g) * 3 + 1)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)


def _by_hand_in_train_mode(model: nn.Module, batches) -> float:
    """Mean NLL of a train-mode copy (batch statistics; the ResNet has no dropout) plus the decay
    term over the convolution and linear weights."""
    twin = copy.deepcopy(model).train()
    assert not any(isinstance(m, nn.Dropout) for m in twin.modules())
    with torch.no_grad():
        nll = sum(F.cross_entropy(twin(x), y, reduction="sum").item() for x, y in batches)
    count = sum(x.shape[0] for x, _ in batches)
    l2 = sum(p.detach().pow(2).sum().item() for p in model.parameters() if p.ndim >= 2)
    return nll / count + WEIGHT_DECAY / 2 * l2


def test_batch_mode_at_alpha_zero_is_the_train_mode_loss():
    model, batches = _resnet(), _batches()
    _make_stale(model)
    model.eval()
    direction = filter_normalized_direction(model, seed=0)
    line = loss_line(model, batches, direction, [0.0, 0.5], WEIGHT_DECAY, batchnorm="batch")
    expected = _by_hand_in_train_mode(model, batches)
    assert line[0].item() == pytest.approx(expected, rel=1e-5)
    assert training_loss(model, batches, WEIGHT_DECAY) == pytest.approx(expected, rel=1e-5)
    assert not model.training  # the caller's mode comes back


def test_batch_mode_leaves_the_running_buffers_and_weights_bit_identical():
    model, batches = _resnet(), _batches()
    _make_stale(model)
    model.train()  # the running buffers would move if batch norm tracked them
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d1 = filter_normalized_direction(model, seed=1)
    d2 = filter_normalized_direction(model, seed=2)
    loss_line(model, batches, d1, [-0.5, 0.0, 0.5])
    loss_surface(model, batches, d1, d2, [-0.5, 0.5], [0.0, 1.0], batchnorm="batch")
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before), "a buffer or weight moved"
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.training and m.track_running_stats for m in norms)
    assert all(m.num_batches_tracked.item() == 3 for m in norms)  # the 3 stale passes only


def test_batch_and_eval_modes_differ_with_stale_running_statistics():
    model, batches = _resnet(), _batches()
    _make_stale(model)
    direction = filter_normalized_direction(model, seed=0)
    alphas = [-0.5, 0.0, 0.5]
    batch = loss_line(model, batches, direction, alphas, batchnorm="batch")
    evaluated = loss_line(model, batches, direction, alphas, batchnorm="eval")
    assert (batch - evaluated).abs().min().item() > 1e-3
    # "eval" is the loss of the model in eval mode.
    model.eval()
    with torch.no_grad():
        nll = sum(F.cross_entropy(model(x), y, reduction="sum").item() for x, y in batches) / 12
    l2 = sum(p.detach().pow(2).sum().item() for p in model.parameters() if p.ndim >= 2)
    assert evaluated[1].item() == pytest.approx(nll + 0.05 / 2 * l2, rel=1e-5)


def test_models_without_batch_norm_give_the_same_loss_in_both_modes():
    torch.manual_seed(0)
    model = create_model("vit_cifar_nano", img_size=16, embed_dim=32, depth=1, drop_rate=0.1)
    batches = _batches()
    d1 = filter_normalized_direction(model, seed=1)
    d2 = filter_normalized_direction(model, seed=2)
    batch = loss_surface(model, batches, d1, d2, [-0.5, 0.5], [0.0, 1.0], batchnorm="batch")
    evaluated = loss_surface(model, batches, d1, d2, [-0.5, 0.5], [0.0, 1.0], batchnorm="eval")
    assert torch.equal(batch, evaluated)
    # Dropout stays off: the same call gives the same numbers.
    assert torch.equal(batch, loss_surface(model, batches, d1, d2, [-0.5, 0.5], [0.0, 1.0]))


def test_loss_mode_restores_mixed_training_flags():
    model = _resnet().train()
    frozen = model.stem[1]
    frozen.eval()  # a batch norm the caller froze stays frozen
    with loss_mode(model, "batch"):
        assert not model.training and frozen.training and not frozen.track_running_stats
    assert model.training and not frozen.training and frozen.track_running_stats


def test_an_unknown_batchnorm_mode_is_refused_before_anything_moves():
    model, batches = _resnet(), _batches()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    direction = filter_normalized_direction(model)
    for call in (
        lambda: training_loss(model, batches, batchnorm="train"),
        lambda: loss_line(model, batches, direction, [0.0, 1.0], batchnorm="running"),
        lambda: loss_surface(model, batches, direction, {}, [0.0], [0.0], batchnorm="Batch"),
    ):
        with pytest.raises(ValueError, match="batchnorm must be one of 'batch', 'eval'"):
            call()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
