"""The verdict helper (course_lib.claims) and the claims a notebook run records."""

import json
import math

import pytest
import torch

from course_lib.claims import (
    MIN_SEEDS,
    accuracy_difference_se,
    claims_table,
    judge,
    make_claim,
    paired_accuracy_se,
    standard_error,
)
from course_lib.notebook import NotebookRun, resolve_seed


def test_standard_error_matches_the_formula():
    values = [1.0, 2.0, 4.0]
    mean = 7 / 3
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    assert standard_error(values) == pytest.approx(sd / math.sqrt(3))
    assert math.isnan(standard_error([3.0]))


def test_a_clear_paired_gain_is_shown():
    effect, noise, verdict, reason = judge([30.0, 31.0, 32.0], [25.0, 26.5, 26.0])
    assert effect == pytest.approx((5 + 4.5 + 6) / 3)
    diffs = [5.0, 4.5, 6.0]
    assert noise == pytest.approx(standard_error(diffs))
    assert verdict == "shown" and reason == ""


def test_the_opposite_effect_is_reversed_and_expect_flips_it():
    a, b = [20.0, 21.0, 20.5], [25.0, 26.0, 25.2]
    assert judge(a, b)[2] == "reversed"
    assert judge(a, b, expect=-1)[2] == "shown"


def test_an_effect_inside_the_seed_spread_is_not_shown():
    # mean difference +1 with per-seed differences +4, -3, +2: standard error 2.1
    verdict = judge([30.0, 27.0, 32.0], [26.0, 30.0, 30.0])[2]
    assert verdict == "not shown"


def test_the_test_sample_error_is_used_when_it_is_larger():
    a, b = [30.0, 30.1, 30.2], [28.0, 28.1, 28.2]  # identical +2 differences: seed noise 0
    effect, noise, verdict, _ = judge(a, b, test_se=1.5)
    assert effect == pytest.approx(2.0) and noise == 1.5 and verdict == "not shown"
    assert judge(a, b, test_se=0.5)[2] == "shown"


def test_an_effect_below_the_least_that_matters_is_not_shown():
    # seeds agree closely: a difference of 0.07 clears twice its noise of 0.01 ...
    a, b = [16.33, 16.34, 16.35], [16.40, 16.42, 16.41]
    assert judge(a, b, expect=-1)[2] == "shown"
    # ... but not a declared smallest effect of interest of 0.4, in either direction
    effect, _, verdict, reason = judge(a, b, expect=-1, min_effect=0.4)
    assert effect == pytest.approx(-0.07) and verdict == "not shown" and "0.4" in reason
    assert judge(b, a, expect=-1, min_effect=0.4)[2] == "not shown"
    assert judge(a, b, expect=-1, min_effect=0.05)[2] == "shown"
    assert judge(b, a, expect=-1, min_effect=0.05)[2] == "reversed"
    with pytest.raises(ValueError, match="min_effect"):
        judge(a, b, min_effect=-1.0)


def test_fewer_than_three_seeds_never_give_a_verdict():
    effect, _, verdict, reason = judge([40.0], [20.0])
    assert effect == 20.0 and verdict == "not shown" and "1 seed" in reason
    assert judge([40.0, 41.0], [20.0, 20.5])[2] == "not shown"
    assert MIN_SEEDS == 3


def test_a_single_arm_is_judged_against_a_baseline():
    effect, _, verdict, _ = judge([0.60, 0.62, 0.61], baseline=0.7, expect=-1)
    assert effect == pytest.approx(-0.09) and verdict == "shown"


def test_unpaired_arms_combine_their_errors():
    a, b = [10.0, 12.0, 11.0, 13.0], [9.0, 10.0, 8.0]
    effect, noise, _, _ = judge(a, b, paired=False)
    assert effect == pytest.approx(11.5 - 9.0)
    assert noise == pytest.approx(math.hypot(standard_error(a), standard_error(b)))


def test_a_diverged_run_gives_no_verdict():
    verdict, reason = judge([30.0, float("nan"), 31.0], [20.0, 21.0, 22.0])[2:]
    assert verdict == "not shown" and "diverged" in reason


def test_bad_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="paired=False"):
        judge([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="expect"):
        judge([1.0], expect=2)
    with pytest.raises(ValueError, match="one result per seed"):
        judge([])


def test_accuracy_difference_se():
    assert accuracy_difference_se(0.5, 0.5, 1000) == pytest.approx(100 * math.sqrt(0.5 / 1000))
    with pytest.raises(ValueError):
        accuracy_difference_se(0.5, 0.5, 0)


def test_claim_line_and_table_format():
    claim = make_claim(
        "07.depth12",
        "LayerScale beats pre-norm at depth 12",
        [31, 32, 33],
        [28, 28.5, 29],
        labels=("layerscale", "prenorm"),
    )
    line = claim.line()
    assert line.startswith("claim 07.depth12: shown")
    assert "effect +3.50 vs noise 0.29  (points)" in line
    assert claim.values == {"layerscale": [31.0, 32.0, 33.0], "prenorm": [28.0, 28.5, 29.0]}
    table = claims_table([claim, make_claim("x", "one seed", [1.0], [0.0])])
    assert "claim x: not shown" in table and "1 seed" in table
    assert table.splitlines()[-1] == "shown: 1, not shown: 1, reversed: 0"


def test_notebook_run_records_claims_and_writes_them(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COURSE_SEED", raising=False)
    run = NotebookRun("99_test", "smoke", "cpu", None, tmp_path, seed=resolve_seed(0))
    claim = run.claim("a", "more is more", [3.0, 3.1, 3.2], [1.0, 1.0, 1.1])
    assert claim.shown
    run.claim("a", "replaced", [1.0], [1.0])  # the same id replaces the first record
    path = run.finish()
    out = capsys.readouterr().out
    assert "claim a: shown" in out and "claim a: not shown" in out  # printed when recorded
    assert out.count("Claims tested in this run") == 1
    payload = json.loads(path.read_text())
    assert payload["seed"] == 0
    assert [c["text"] for c in payload["claims"]] == ["replaced"]
    assert payload["claims"][0]["verdict"] == "not shown"


def test_course_seed_overrides_the_parameter_and_changes_every_seed(monkeypatch):
    monkeypatch.setenv("COURSE_SEED", "1")
    assert resolve_seed(0) == 1
    base0 = NotebookRun("n", "cpu", "cpu", None, None, seed=0).seeds(3)
    base1 = NotebookRun("n", "cpu", "cpu", None, None, seed=1).seeds(3)
    assert base0 == [0, 1, 2] and not set(base0) & set(base1)
    monkeypatch.setenv("COURSE_SEED", "one")
    with pytest.raises(ValueError, match="COURSE_SEED must be an integer"):
        resolve_seed(0)


def test_paired_accuracy_se_is_mcnemar_for_one_seed():
    a = torch.tensor([1, 1, 1, 0, 0, 1, 0, 1, 1, 0], dtype=torch.bool)
    b = torch.tensor([1, 0, 1, 0, 1, 1, 0, 0, 1, 0], dtype=torch.bool)
    n = a.numel()
    n10 = int((a & ~b).sum())  # a right, b wrong: 2
    n01 = int((~a & b).sum())  # 1
    mean = (n10 - n01) / n
    expected = 100 * math.sqrt(((n10 + n01) - n * mean**2) / (n - 1) / n)
    assert paired_accuracy_se(a, b) == pytest.approx(expected)
    assert paired_accuracy_se(a, a) == 0.0


def test_paired_accuracy_se_averages_seeds_per_image_and_beats_the_independent_bound():
    g = torch.Generator().manual_seed(0)
    shared = torch.rand(5000, generator=g) < 0.6  # images both arms get right
    a = torch.stack([shared ^ (torch.rand(5000, generator=g) < 0.05) for _ in range(3)])
    b = torch.stack([shared ^ (torch.rand(5000, generator=g) < 0.05) for _ in range(3)])
    paired = paired_accuracy_se(a, b)
    per_image = (a.double() - b.double()).mean(0)
    assert paired == pytest.approx(100 * per_image.std().item() / math.sqrt(5000))
    independent = accuracy_difference_se(a.double().mean().item(), b.double().mean().item(), 5000)
    assert paired < independent / 2


def test_paired_accuracy_se_rejects_unpaired_shapes():
    with pytest.raises(ValueError, match="same images"):
        paired_accuracy_se(torch.ones(3, 10, dtype=torch.bool), torch.ones(2, 10, dtype=torch.bool))
