"""The hand-written statistics of prompt reports against published values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmswitch.prompts._stats import (
    chi2_sf,
    mann_whitney,
    normal_cdf,
    percentile,
    sample_ratio_mismatch,
    t_sf,
    two_proportion,
    welch,
)


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.0, 0.5), (1.0, 0.841344746), (1.959963985, 0.975), (-2.575829304, 0.005)],
)
def test_normal_cdf_table_values(x: float, expected: float) -> None:
    assert normal_cdf(x) == pytest.approx(expected, abs=1e-9)


# Two-sided critical values of Student's t (any statistics table): P(|T| >= t) = p.
@pytest.mark.parametrize(
    ("t", "df", "p"),
    [(12.706, 1, 0.05), (2.228, 10, 0.05), (3.169, 10, 0.01), (2.042, 30, 0.05),
     (1.960, 1e9, 0.05), (0.0, 5, 1.0), (2.0, 2.5, None)],
)  # fmt: skip
def test_t_tail_table_values(t: float, df: float, p: float | None) -> None:
    if p is None:  # a fractional df (as Welch gives): between its integer neighbours
        assert t_sf(t, 3) < t_sf(t, df) < t_sf(t, 2)
    else:
        assert t_sf(t, df) == pytest.approx(p, abs=2e-4)


# Chi-square upper critical values (tables): P(X >= x) = p.
@pytest.mark.parametrize(
    ("x", "df", "p"),
    [(3.841, 1, 0.05), (6.635, 1, 0.01), (5.991, 2, 0.05), (18.307, 10, 0.05),
     (10.828, 1, 0.001), (0.0, 3, 1.0)],
)  # fmt: skip
def test_chi2_tail_table_values(x: float, df: int, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, abs=2e-4)


def test_welch_matches_the_wikipedia_example() -> None:
    # Wikipedia, "Welch's t-test", example 1: t = 2.46 (sign: b minus a), p = 0.021.
    a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    result = welch(a, b)
    assert result is not None
    assert result.statistic == pytest.approx(2.46, abs=0.005)
    assert result.p_value == pytest.approx(0.021, abs=0.001)
    assert result.difference == pytest.approx(sum(b) / 15 - sum(a) / 15)


def test_mann_whitney_matches_scipy_asymptotic() -> None:
    # scipy.stats.mannwhitneyu([1..5], [6..10], method="asymptotic") -> p 0.01219
    result = mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert result is not None
    assert result.p_value == pytest.approx(0.012186, abs=1e-5)
    assert result.difference == 0.5  # every b is larger
    # Ties, by hand: ranks of b 6+6+9.5+9.5+11.5+11.5 = 54, U = 33, mean 18, tie term
    # 6+120+6+6 = 138, variance 36/12 * (13 - 138/132) = 35.864, z = 14.5/5.9886 = 2.4213.
    tied = mann_whitney([1, 2, 2, 3, 3, 3], [3, 3, 4, 4, 5, 5])
    assert tied is not None
    assert tied.statistic == 33
    assert tied.p_value == pytest.approx(2 * (1 - normal_cdf(14.5 / math.sqrt(35.863636))))
    assert tied.p_value == pytest.approx(0.01547, abs=1e-4)


def test_two_proportion_z() -> None:
    result = two_proportion(45, 100, 60, 100)
    assert result is not None
    pooled = 105 / 200
    z = 0.15 / math.sqrt(pooled * (1 - pooled) * 0.02)
    assert result.statistic == pytest.approx(z)
    assert result.p_value == pytest.approx(2 * (1 - normal_cdf(z)))
    assert two_proportion(10, 10, 5, 5) is None  # no variance: nothing to test
    assert two_proportion(0, 0, 5, 5) is None


def test_sample_ratio_mismatch() -> None:
    assert sample_ratio_mismatch([5000, 5000], [50, 50]) == pytest.approx(1.0)
    # 5200/4800 on a 50/50 split: chi2 = 16, df 1 -> p = 6.3e-5 (an alarm).
    assert sample_ratio_mismatch([5200, 4800], [1, 1]) == pytest.approx(6.334e-5, rel=1e-3)
    # 9000/1000 is exactly a 90/10 split.
    assert sample_ratio_mismatch([9000, 1000], [90, 10]) == pytest.approx(1.0)
    assert sample_ratio_mismatch([10, 1], [1, 0]) == 0.0  # calls where none should go
    assert sample_ratio_mismatch([0, 0], [1, 1]) is None


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == pytest.approx(8.8)  # numpy.percentile(.., 95)
    assert percentile([], 0.5) is None


@given(st.floats(0.01, 50), st.integers(1, 200))
def test_t_tail_is_a_probability_and_decreasing(t: float, df: int) -> None:
    p = t_sf(t, df)
    assert 0.0 <= p <= 1.0
    assert t_sf(t * 1.5, df) <= p + 1e-12
