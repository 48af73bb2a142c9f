"""The distilled DeiT equals timm's, and DeiT's distillation loss equals its formulas."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.analysis.tokens import prefix_token_similarity
from course_lib.models import create_model, create_timm_twin
from course_lib.models.deit import DistilledVisionTransformer
from course_lib.train import DistillationLoss, fit
from course_lib.train.losses import ClassificationLoss


@pytest.mark.parametrize("name", ["deit_tiny_distilled_patch16_224", "deit_cifar_tiny_distilled"])
def test_matches_timm_in_eval_and_in_distilled_training(name):
    torch.manual_seed(0)
    reference = create_timm_twin(name)
    model = create_model(name)
    size = model.patch_embed.img_size
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        reference.eval(), model.eval()
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=0)
        reference.train(), model.train()  # no dropout or drop path in these configs
        reference.set_distilled_training(True)
        model.set_distilled_training(True)
        ours_cls, ours_dist = model(x)
        theirs_cls, theirs_dist = reference(x)
        torch.testing.assert_close(ours_cls, theirs_cls, atol=1e-5, rtol=0)
        torch.testing.assert_close(ours_dist, theirs_dist, atol=1e-5, rtol=0)
        model.set_distilled_training(False)
        torch.testing.assert_close(model(x), (ours_cls + ours_dist) / 2)


def test_distilled_model_has_two_prefix_tokens_and_averages_in_eval():
    model = create_model("deit_cifar_nano_distilled").eval()
    assert model.num_prefix_tokens == 2
    assert model.pos_embed.shape == (1, 2 + 64, 64)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        tokens = model.forward_features(x)
        expected = (model.head(tokens[:, 0]) + model.head_dist(tokens[:, 1])) / 2
        torch.testing.assert_close(model(x), expected)
    sims = prefix_token_similarity(model, x)
    assert len(sims) == 1 + len(model.blocks) and all(-1 <= s <= 1 for s in sims)


def test_distilled_model_needs_a_class_token_to_read():
    with pytest.raises(ValueError, match="global_pool='token'"):
        DistilledVisionTransformer(img_size=32, patch_size=4, global_pool="avg")


# DistillationLoss against DeiT's formulas written out on fixed tensors.
torch.manual_seed(0)
CLS, DIST, TEACHER = torch.randn(4, 10), torch.randn(4, 10), torch.randn(4, 10)
LABELS = torch.tensor([1, 0, 9, 3])


def test_soft_distillation_is_the_scaled_kl_divergence():
    tau, alpha = 3.0, 0.1
    p_teacher = F.softmax(TEACHER / tau, dim=1)
    log_p_student = F.log_softmax(DIST / tau, dim=1)
    kl = (p_teacher * (p_teacher.log() - log_p_student)).sum() / DIST.numel()
    expected = (1 - alpha) * F.cross_entropy(CLS, LABELS) + alpha * tau**2 * kl
    loss = DistillationLoss("soft", alpha=alpha, tau=tau)((CLS, DIST), LABELS, TEACHER)
    torch.testing.assert_close(loss, expected)


def test_hard_distillation_is_cross_entropy_to_the_teachers_decision():
    expected = 0.5 * F.cross_entropy(CLS, LABELS) + 0.5 * F.cross_entropy(
        DIST, TEACHER.argmax(dim=1)
    )
    loss = DistillationLoss("hard", alpha=0.5)((CLS, DIST), LABELS, TEACHER)
    torch.testing.assert_close(loss, expected)
    # One head (no distillation token): both terms act on the same logits.
    single = DistillationLoss("hard", alpha=0.5)(CLS, LABELS, TEACHER)
    expected = 0.5 * F.cross_entropy(CLS, LABELS) + 0.5 * F.cross_entropy(
        CLS, TEACHER.argmax(dim=1)
    )
    torch.testing.assert_close(single, expected)


def test_none_uses_the_class_head_only_and_soft_targets_work():
    loss = DistillationLoss("none")((CLS, DIST), LABELS)
    torch.testing.assert_close(loss, F.cross_entropy(CLS, LABELS))
    soft_targets = F.one_hot(LABELS, 10).float() * 0.8 + 0.02
    mixed = DistillationLoss("hard", alpha=0.5, base=ClassificationLoss())(
        (CLS, DIST), soft_targets, TEACHER
    )
    expected = 0.5 * -(soft_targets * F.log_softmax(CLS, 1)).sum(1).mean() + 0.5 * F.cross_entropy(
        DIST, TEACHER.argmax(1)
    )
    torch.testing.assert_close(mixed, expected)


def test_bad_distillation_setups_fail_clearly():
    with pytest.raises(ValueError, match="Unknown distillation type 'medium'"):
        DistillationLoss("medium")
    with pytest.raises(ValueError, match="same classes"):
        DistillationLoss("soft")((CLS, DIST), LABELS, torch.randn(4, 100))
    with pytest.raises(ValueError, match="needs the teacher's logits"):
        DistillationLoss("hard")((CLS, DIST), LABELS)
    student = create_model("deit_cifar_nano_distilled", depth=1)
    batches = [(torch.randn(4, 3, 32, 32), LABELS)]
    with pytest.raises(ValueError, match="no teacher was given"):
        fit(
            student,
            batches,
            epochs=1,
            criterion=DistillationLoss("hard"),
            verbose=False,
            progress=False,
            device="cpu",
        )


def test_fit_distils_from_a_teacher_on_the_same_batch():
    torch.manual_seed(0)
    student = create_model("deit_cifar_nano_distilled", depth=1)
    teacher = create_model("resnet_cifar_nano")
    seen = []
    teacher.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0]))
    x = torch.randn(8, 3, 32, 32)
    history = fit(
        student,
        [(x, torch.arange(8) % 10)],
        epochs=2,
        teacher=teacher,
        criterion=DistillationLoss("hard"),
        verbose=False,
        progress=False,
        device="cpu",
    )
    assert len(history) == 2 and len(seen) == 2
    assert all(torch.equal(s, x) for s in seen)
    assert not any(p.requires_grad for p in teacher.parameters())
    wrong = create_model("resnet_cifar_nano", num_classes=7)
    with pytest.raises(ValueError, match="same classes"):
        fit(
            student,
            [(x, torch.arange(8) % 10)],
            epochs=1,
            teacher=wrong,
            criterion=DistillationLoss("soft"),
            verbose=False,
            progress=False,
            device="cpu",
        )
