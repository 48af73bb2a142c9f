"""Small helpers the notebooks lean on."""

import torch

from course_lib.notebook import matches


def test_matches_is_assert_close_as_a_bool():
    a = torch.tensor([1.0, 2.0])
    assert matches(a, a + 1e-7)
    assert not matches(a, a + 1e-3)
    assert matches(a, a + 1e-3, atol=1e-2, rtol=0)
    assert not matches(a, a[:1])  # shapes differ
    assert not matches(a, a.double())  # dtypes differ
