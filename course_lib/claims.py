"""Claims and verdicts: the one place where a notebook decides whether a paper's effect showed.

A claim compares two arms (say, LayerScale and pre-norm at depth 12) over several seeds. The
effect is the difference of the arms' means. The noise is the standard error of that difference
across seeds, or the test-sample standard error when that is larger (for accuracies of models
scored on the same test images, :func:`paired_accuracy_se`, which counts only the images on which
they disagree). The verdict is

- ``shown`` when the effect points the way the paper says by more than ``z`` times the noise
  (and by more than the claim's ``min_effect``, the smallest effect that would matter, when it
  declares one),
- ``reversed`` when it points the other way by more than that,
- ``not shown`` otherwise, and always with fewer than :data:`MIN_SEEDS` seeds.

Notebooks call :meth:`course_lib.notebook.NotebookRun.claim`, which uses :func:`judge` and
collects the claims for the closing table; no notebook writes a verdict by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

VERDICTS = ("shown", "not shown", "reversed")
MIN_SEEDS = 3
Z = 2.0
"""An effect counts when it is more than ``Z`` standard errors away from zero."""


@dataclass(frozen=True)
class Claim:
    """One tested claim: what the paper says, what this run measured, and the verdict."""

    id: str
    text: str
    effect: float
    noise: float
    verdict: str
    n: int
    unit: str = "points"
    paper: str | None = None
    reason: str = ""
    values: dict[str, list[float]] = field(default_factory=dict)

    def line(self) -> str:
        """``claim <id>: <verdict>  effect <+x.x> vs noise <y.y>  (<unit>)``."""
        digits = _digits(self.noise, self.effect)
        return (
            f"claim {self.id}: {self.verdict:<9}  effect {self.effect:+.{digits}f} vs noise "
            f"{self.noise:.{digits}f}  ({self.unit}{', ' + self.reason if self.reason else ''})"
        )

    @property
    def shown(self) -> bool:
        return self.verdict == "shown"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digits(noise: float, effect: float) -> int:
    """Decimals that show the noise to two significant figures (at least one, at most four)."""
    scale = noise if math.isfinite(noise) and noise > 0 else abs(effect)
    if not math.isfinite(scale) or scale == 0:
        return 1
    return int(min(4, max(1, 1 - math.floor(math.log10(scale)))))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of ``values`` (sample standard deviation / sqrt(n)); ``nan``
    for fewer than two values."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = _mean(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)


def accuracy_difference_se(acc_a: float, acc_b: float, n_test: int, scale: float = 100.0) -> float:
    """Test-sample standard error of the difference of two accuracies (fractions in [0, 1])
    scored on ``n_test`` images, in ``scale`` units (points by default). It treats the two
    scores as independent, which overstates the error of models scored on the same images; when
    the per-image results are at hand, :func:`paired_accuracy_se` is the right one."""
    if n_test < 1:
        raise ValueError(f"n_test must be at least 1, got {n_test}.")
    var = acc_a * (1 - acc_a) + acc_b * (1 - acc_b)
    return scale * math.sqrt(max(var, 0.0) / n_test)


def paired_accuracy_se(correct_a: Any, correct_b: Any, scale: float = 100.0) -> float:
    """Test-sample standard error of the difference of two arms' mean accuracies when both were
    scored on the same test images, in ``scale`` units (points by default).

    ``correct_a`` and ``correct_b``: whether each model got each test image right, as booleans of
    shape ``(N,)`` for one model per arm or ``(S, N)`` for one model per seed (seed ``i`` of
    ``a`` paired with seed ``i`` of ``b``). Sums of such indicators work too: for a difference of
    differences, ``(A - B) - (C - D)``, pass ``A + D`` and ``B + C``.

    Each image contributes ``d(x)``, the mean over seeds of ``correct_a - correct_b``; the effect
    is the mean of ``d`` over the ``N`` images and its error is ``std(d) / sqrt(N)``. For one seed
    this is McNemar's ``sqrt(n01 + n10) / N`` (up to the effect's own square): only the images on
    which the two models disagree carry noise. It is far smaller than
    :func:`accuracy_difference_se` when the two models make mostly the same mistakes, which
    models trained on the same data do.
    """
    import torch  # claims stays importable without torch for the pure-number helpers

    a = torch.as_tensor(correct_a).double()
    b = torch.as_tensor(correct_b).double()
    if a.shape != b.shape:
        raise ValueError(
            f"Both arms must be scored on the same images with the same seeds; got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )
    if a.dim() == 1:
        a, b = a[None], b[None]
    if a.dim() != 2 or a.shape[1] < 2:
        raise ValueError(
            f"Expected (N,) or (seeds, N) correctness with N >= 2, got shape {tuple(a.shape)}."
        )
    per_image = (a - b).mean(dim=0)
    return scale * per_image.std(unbiased=True).item() / math.sqrt(per_image.numel())


def judge(
    a: Sequence[float],
    b: Sequence[float] | None = None,
    *,
    baseline: float = 0.0,
    paired: bool = True,
    test_se: float = 0.0,
    expect: int = +1,
    z: float = Z,
    min_seeds: int = MIN_SEEDS,
    min_effect: float = 0.0,
) -> tuple[float, float, str, str]:
    """``(effect, noise, verdict, reason)`` for arm ``a`` against arm ``b`` (or against the
    number ``baseline`` when ``b`` is None).

    - ``paired``: ``a[i]`` and ``b[i]`` come from the same seed, so the noise is the standard
      error of the per-seed differences; otherwise of each arm, combined.
    - ``test_se``: the test-sample standard error of the difference; the noise is the larger of it
      and the seed noise.
    - ``expect``: +1 when the paper says ``a`` is larger, -1 when it says ``a`` is smaller.
    - ``min_effect``: the smallest effect that would matter, in the claim's unit, declared with
      the claim. An effect beyond the noise but smaller than this is ``not shown``: with seeds
      that agree closely, a difference far too small to mean what the claim says can still clear
      ``z`` times the noise.
    """
    if expect not in (+1, -1):
        raise ValueError(f"expect must be +1 or -1, got {expect}.")
    if not min_effect >= 0:
        raise ValueError(f"min_effect must be zero or positive, got {min_effect}.")
    a = [float(v) for v in a]
    if not a:
        raise ValueError("Arm a has no values: give one result per seed.")
    if b is None:
        diffs = [v - baseline for v in a]
        effect, seed_noise = _mean(diffs), standard_error(diffs)
        n = len(a)
    else:
        b = [float(v) for v in b]
        if not b:
            raise ValueError("Arm b has no values: give one result per seed.")
        if paired:
            if len(a) != len(b):
                raise ValueError(
                    f"Paired arms need one value per seed each; got {len(a)} and {len(b)}. "
                    "Pass paired=False for arms with different numbers of runs."
                )
            diffs = [x - y for x, y in zip(a, b)]
            effect, seed_noise = _mean(diffs), standard_error(diffs)
        else:
            effect = _mean(a) - _mean(b)
            seed_noise = math.sqrt(standard_error(a) ** 2 + standard_error(b) ** 2)
        n = min(len(a), len(b))
    if any(not math.isfinite(v) for v in a + (b or [])):
        return effect, math.nan, "not shown", "a run diverged (nan)"
    noise = max(seed_noise, test_se) if math.isfinite(seed_noise) else test_se
    if n < min_seeds:
        seeds = "1 seed" if n == 1 else f"{n} seeds"
        return effect, noise, "not shown", f"{seeds}: a verdict needs {min_seeds}"
    signed = expect * effect
    if abs(signed) > z * noise and abs(signed) <= min_effect:
        return effect, noise, "not shown", f"smaller than {min_effect:g}, the least that matters"
    if signed > z * noise:
        return effect, noise, "shown", ""
    if signed < -z * noise:
        return effect, noise, "reversed", ""
    return effect, noise, "not shown", ""


def make_claim(
    id: str,
    text: str,
    a: Sequence[float],
    b: Sequence[float] | None = None,
    *,
    unit: str = "points",
    paper: str | None = None,
    labels: tuple[str, str] = ("a", "b"),
    **judge_kwargs: Any,
) -> Claim:
    """A :class:`Claim` judged by :func:`judge`; ``labels`` name the arms in the stored values."""
    effect, noise, verdict, reason = judge(a, b, **judge_kwargs)
    values = {labels[0]: [float(v) for v in a]}
    if b is not None:
        values[labels[1]] = [float(v) for v in b]
    return Claim(id, text, effect, noise, verdict, len(a), unit, paper, reason, values)


def claims_table(claims: Sequence[Claim]) -> str:
    """The closing table: one line per claim, then a count of each verdict."""
    if not claims:
        return "No claims were tested in this run."
    lines = [c.line() for c in claims]
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    lines.append(", ".join(f"{k}: {v}" for k, v in counts.items()))
    return "\n".join(lines)
