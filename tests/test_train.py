import math

import pytest
import torch
from torch import nn

from course_lib.data import AugmentConfig, DeviceLoader, make_shapes
from course_lib.models import create_model
from course_lib.train import (
    CheckpointError,
    NonFiniteLossError,
    evaluate,
    fit,
    load_checkpoint,
    param_groups,
    save_checkpoint,
    schedule_rates,
    warmup_cosine,
    warmup_cosine_rates,
)
from course_lib.train.losses import ClassificationLoss, RecordedLoss

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(96, seed=0)


def make_loader(x, y, augment=None, batch_size=16, shuffle=True):
    return DeviceLoader(
        x,
        y,
        batch_size=batch_size,
        mean=MEAN,
        std=STD,
        num_classes=10,
        shuffle=shuffle,
        drop_last=shuffle,
        augment=augment,
        seed=0,
    )


def quiet_fit(model, loader, test_loader=None, **kwargs):
    """``fit`` without progress bars or epoch lines."""
    return fit(model, loader, test_loader, progress=False, verbose=False, **kwargs)


class DropoutNet(nn.Module):
    """Small model with dropout, so resuming must also restore the global random state."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Flatten())
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(8 * 15 * 15, 10)

    def forward(self, x):
        return self.head(self.drop(self.features(x)))


def test_overfits_a_tiny_batch(shapes):
    x, y = shapes
    torch.manual_seed(0)
    model = create_model("resnet_cifar_nano")
    batches = make_loader(x[:32], y[:32], batch_size=32, shuffle=False)
    history = quiet_fit(
        model,
        batches,
        epochs=40,
        lr=3e-3,
        weight_decay=0.0,
        warmup_epochs=0,
    )
    assert history["train_loss"][-1] < 0.2 * history["train_loss"][0]
    assert evaluate(model, batches)["acc"] == 1.0


def test_history_records(shapes):
    x, y = shapes
    history = quiet_fit(
        DropoutNet(),
        make_loader(x, y),
        make_loader(x, y, shuffle=False),
        epochs=2,
        ema_decay=0.9,
    )
    assert len(history) == 2
    for key in (
        "train_loss",
        "train_acc",
        "test_loss",
        "test_acc",
        "ema_test_acc",
        "lr",
        "epoch_time",
        "images_per_s",
    ):
        assert len(history[key]) == 2, key
    assert history["epoch"] == [1, 2]
    assert history.to_dict()["epoch"] == [1, 2]


def _run(tmp_path, x, y, interrupt_after=None, resume=False):
    torch.manual_seed(0)
    model = DropoutNet()
    augment = AugmentConfig(
        crop_padding=2,
        flip=True,
        policy="trivialaugment",
        mixup_alpha=0.5,
        cutmix_alpha=1.0,
        label_smoothing=0.1,
    )

    def stop(model, record):
        if interrupt_after is not None and record["epoch"] == interrupt_after + 1:
            raise KeyboardInterrupt

    history = quiet_fit(
        model,
        make_loader(x, y, augment),
        make_loader(x, y, shuffle=False),
        epochs=4,
        lr=2e-3,
        checkpoint_dir=tmp_path,
        resume=resume,
        on_epoch_end=stop,
        grad_clip=1.0,
    )
    return model, history


def test_resume_equals_uninterrupted_run(tmp_path, shapes):
    x, y = shapes
    full_model, full_history = _run(tmp_path / "full", x, y)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", x, y, interrupt_after=2)  # dies during epoch 3
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    resumed_model, resumed_history = _run(tmp_path / "cut", x, y, resume=True)
    for (name, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "lr"):
        assert full_history[key] == resumed_history[key], key


def test_resume_needs_the_same_schedule(tmp_path, shapes):
    x, y = shapes
    quiet_fit(
        DropoutNet(),
        make_loader(x, y),
        epochs=1,
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(CheckpointError, match="1-epoch run.*epochs=3"):
        quiet_fit(
            DropoutNet(),
            make_loader(x, y),
            epochs=3,
            checkpoint_dir=tmp_path,
            resume=True,
        )


class NanAtStep(ClassificationLoss):
    def __init__(self, bad_step):
        super().__init__()
        self.calls, self.bad_step = 0, bad_step

    def forward(self, outputs, targets):
        self.calls += 1
        loss = super().forward(outputs, targets)
        return loss * math.nan if self.calls == self.bad_step else loss


def test_nan_loss_stops_with_the_step(shapes):
    x, y = shapes
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 3 of 6.*lower learning rate"):
        quiet_fit(
            DropoutNet(),
            make_loader(x, y),
            epochs=2,
            criterion=NanAtStep(3),
        )


def test_nan_check_can_be_deferred_and_still_names_the_first_bad_step(shapes):
    x, y = shapes
    with pytest.raises(NonFiniteLossError, match=r"step 2 of 6"):
        quiet_fit(
            DropoutNet(),
            make_loader(x, y),
            epochs=1,
            criterion=NanAtStep(2),
            nan_check_every=4,
        )


def test_checkpoint_round_trip_is_atomic(tmp_path):
    state = {"epoch": 3, "model": {"w": torch.arange(5.0)}, "history": [{"acc": 0.5}]}
    path = save_checkpoint(tmp_path / "ck" / "last.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["model"]["w"], torch.arange(5.0))
    assert loaded["history"] == [{"acc": 0.5}]
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_corrupt_checkpoint_is_a_clear_error(tmp_path, shapes):
    path = tmp_path / "last.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read.*Delete it"):
        load_checkpoint(path)
    x, y = shapes
    with pytest.raises(CheckpointError, match="cannot be read"):
        quiet_fit(
            DropoutNet(),
            make_loader(x, y),
            epochs=1,
            checkpoint_dir=tmp_path,
            resume=True,
        )
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a course_lib.checkpoint"):
        load_checkpoint(path)


def test_checkpoint_from_another_architecture(tmp_path, shapes):
    x, y = shapes
    quiet_fit(
        create_model("resnet_cifar_nano"),
        make_loader(x, y),
        epochs=1,
        checkpoint_dir=tmp_path,
    )
    with pytest.raises(CheckpointError, match=r"(?s)do not fit DropoutNet.*missing: features"):
        quiet_fit(
            DropoutNet(),
            make_loader(x, y),
            epochs=1,
            checkpoint_dir=tmp_path,
            resume=True,
        )


class RecordingDistillation(ClassificationLoss):
    uses_teacher = True

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, outputs, targets, teacher_outputs=None):
        self.seen.append((teacher_outputs.requires_grad, teacher_outputs.shape))
        return super().forward(outputs, targets)


def test_distillation_hook_passes_teacher_outputs(shapes):
    x, y = shapes
    criterion = RecordingDistillation()
    teacher = create_model("resnet_cifar_nano")
    quiet_fit(
        DropoutNet(),
        make_loader(x, y),
        epochs=1,
        criterion=criterion,
        teacher=teacher,
    )
    assert criterion.seen == [(False, (16, 10))] * 6
    assert not teacher.training


def test_teacher_and_criterion_must_agree(shapes):
    x, y = shapes
    with pytest.raises(ValueError, match="criterion ignores it"):
        fit(DropoutNet(), make_loader(x, y), epochs=1, teacher=DropoutNet(), progress=False)
    with pytest.raises(ValueError, match="no teacher was given"):
        fit(
            DropoutNet(),
            make_loader(x, y),
            epochs=1,
            criterion=RecordingDistillation(),
            progress=False,
        )


def test_param_groups_skip_decay_on_norms_biases_and_tokens():
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
            self.pos_embed = nn.Parameter(torch.zeros(1, 5, 4))
            self.proj = nn.Linear(4, 4)
            self.norm = nn.LayerNorm(4)

    model = Tokens()
    names = {id(p): n for n, p in model.named_parameters()}
    decay, keep = param_groups(model, 0.05)
    assert [names[id(p)] for p in decay["params"]] == ["proj.weight"]
    assert sorted(names[id(p)] for p in keep["params"]) == [
        "cls_token",
        "norm.bias",
        "norm.weight",
        "pos_embed",
        "proj.bias",
    ]
    assert decay["weight_decay"] == 0.05 and keep["weight_decay"] == 0.0


def test_warmup_cosine_schedule():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(opt, warmup_steps=4, total_steps=20, min_lr_ratio=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[-1] == pytest.approx(0.1, abs=0.01)


def test_on_epoch_end_can_stop_training_early(shapes, tmp_path):
    x, y = shapes
    history = quiet_fit(
        DropoutNet(),
        make_loader(x, y),
        epochs=5,
        checkpoint_dir=tmp_path,
        on_epoch_end=lambda model, record: record["epoch"] >= 2,
    )
    assert len(history) == 2
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 2


def test_warmup_cosine_rates_are_the_schedules_learning_rates():
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.3)
    scheduler = warmup_cosine(optimizer, warmup_steps=4, total_steps=25)
    seen = []
    for _ in range(25):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates = warmup_cosine_rates(0.3, warmup_steps=4, total_steps=25)
    assert len(rates) == 25
    assert rates == pytest.approx(seen)
    assert max(rates) == pytest.approx(0.3)


class _RecordedLoss(ClassificationLoss):
    def __init__(self, label_smoothing):
        super().__init__(label_smoothing)
        self.values = []

    def forward(self, outputs, targets):
        loss = super().forward(outputs, targets)
        self.values.append(loss.item())
        return loss


def test_fit_is_the_loop_written_out_step_by_step(shapes):
    """What notebook 03b teaches: fit = AdamW over the decay groups, warmup + cosine set before
    each step, label-smoothed cross-entropy, clipping, the step; same losses and weights."""
    x, y = shapes
    loader = make_loader(x, y, augment=AugmentConfig(crop_padding=4, flip=False))
    torch.manual_seed(0)
    start = create_model("vit_cifar_nano", num_classes=10, patch_size=8).state_dict()
    by_hand, library = (create_model("vit_cifar_nano", num_classes=10, patch_size=8) for _ in "ab")
    by_hand.load_state_dict(start)
    library.load_state_dict(start)
    epochs, lr, warmup = 2, 1e-3, 3
    rates = warmup_cosine_rates(lr, warmup, epochs * len(loader))
    optimizer = torch.optim.AdamW(param_groups(by_hand, 0.05), lr=lr)
    losses = []
    step = 0
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for xb, yb in loader:
            for group in optimizer.param_groups:
                group["lr"] = rates[step]
            loss = nn.functional.cross_entropy(by_hand(xb), yb, label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(by_hand.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            step += 1
    recorded = _RecordedLoss(0.1)
    quiet_fit(
        library,
        loader,
        epochs=epochs,
        lr=lr,
        warmup_epochs=warmup / len(loader),
        grad_clip=1.0,
        criterion=recorded,
        device="cpu",
        amp=False,
        compile=False,
    )
    assert len(recorded.values) == len(losses) == epochs * len(loader)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(recorded.values))
    torch.testing.assert_close(by_hand.state_dict(), library.state_dict())


def test_decay_groups_off_decays_every_parameter(shapes):
    model = create_model("vit_cifar_nano", num_classes=10)
    decay, keep = param_groups(model, 0.05, exempt=False)
    assert not keep["params"]
    assert len(decay["params"]) == len(list(model.parameters()))
    history = quiet_fit(
        model, make_loader(*shapes), epochs=1, decay_groups=False, ema_decay=0.9
    )  # six steps: timm's EMA copies the weights at its first two
    assert history.ema_model is not None
    assert history.ema_model is not model  # a separate copy: the average, not the last weights
    ema_weights, weights = history.ema_model.state_dict(), model.state_dict()
    assert any(not torch.equal(ema_weights[k], weights[k]) for k in weights)


def test_a_step_schedule_divides_the_rate_at_its_milestones_after_the_warmup():
    rates = schedule_rates(1.0, (0.5, 0.75), warmup_steps=2, total_steps=8)
    assert rates == pytest.approx([0.5, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    early = schedule_rates(1.0, (0.25,), warmup_steps=0, total_steps=8)
    assert early == pytest.approx([1.0, 1.0] + [0.1] * 6)  # decaying too early
    assert schedule_rates(1e-3, "cosine", 3, 20) == warmup_cosine_rates(1e-3, 3, 20)
    for bad in ("linear", (0.75, 0.5), (0.5, 1.0)):
        with pytest.raises(ValueError, match="schedule|milestones"):
            schedule_rates(1.0, bad, 0, 8)


def test_fit_follows_a_step_schedule(shapes):
    model = create_model("vit_cifar_nano", num_classes=10, patch_size=8)
    history = quiet_fit(
        model, make_loader(*shapes), epochs=4, lr=1e-3, warmup_epochs=0, schedule=(0.5,)
    )
    assert history["lr"] == pytest.approx([1e-3, 1e-4, 1e-4, 1e-4])


def test_recorded_loss_keeps_one_value_per_step_equal_to_the_plain_loss(shapes):
    x, y = shapes
    torch.manual_seed(0)
    model = create_model("vit_cifar_nano", patch_size=8)
    batches = make_loader(x[:64], y[:64], batch_size=16, shuffle=False)
    recorded = RecordedLoss(label_smoothing=0.1)
    history = quiet_fit(model, batches, epochs=2, lr=1e-3, criterion=recorded)
    assert len(recorded.values) == 2 * len(batches)
    # the mean of an epoch's step losses is the epoch's training loss
    first = recorded.values[: len(batches)]
    assert sum(first) / len(first) == pytest.approx(history["train_loss"][0], rel=1e-5)
    logits = torch.randn(4, 10)
    targets = torch.tensor([0, 1, 2, 3])
    several = RecordedLoss(0.1)
    value = several((logits, 2 * logits), targets)  # two heads: one recorded value, their mean
    plain = ClassificationLoss(0.1)
    assert several.values == pytest.approx([value.item()])
    assert value.item() == pytest.approx(
        (plain(logits, targets) + plain(2 * logits, targets)).item() / 2
    )
