"""The statistics behind experiment reports, hand-written (scipy is not a dependency).

- :func:`normal_cdf`: exact, through ``math.erf``.
- :func:`t_sf` (Student's t) and :func:`chi2_sf` (chi-square): the regularized
  incomplete beta and gamma functions, evaluated as in *Numerical Recipes* (2nd ed.,
  sections 6.2 and 6.4: the series / Lentz continued fraction ``betacf`` and
  ``gser``/``gcf``), accurate to ~1e-10 over the range a report needs.
- the tests: a two-proportion z-test (success rates), Welch's t-test (means with
  unequal variances: cost, feedback score), Mann-Whitney U with the normal
  approximation, tie correction and continuity correction (latency, which is skewed),
  and a chi-square goodness-of-fit test of the observed split against the configured
  weights (the sample-ratio-mismatch check).

Every p-value is two-sided. ``tests/test_prompt_stats.py`` checks them against
published table values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "TestResult",
    "chi2_sf",
    "mann_whitney",
    "normal_cdf",
    "percentile",
    "sample_ratio_mismatch",
    "t_sf",
    "two_proportion",
    "welch",
]

_EPS = 3e-16
_TINY = 1e-300
_MAX_ITER = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResult:
    """One test's outcome: the statistic, the two-sided p-value, and ``difference`` (b
    minus a, in the measured unit: a rate, a mean, or for Mann-Whitney the share of
    pairs where b is larger minus one half)."""

    __test__ = False  # not a pytest class, whatever its name

    name: str
    statistic: float
    p_value: float
    difference: float

    @property
    def confidence(self) -> float:
        """1 - p: how sure the data make us that the difference is not chance."""
        return 1.0 - self.p_value


def normal_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )  # fmt: skip
    front = math.exp(log_front)
    # The fraction converges fast for x < (a+1)/(a+b+2); otherwise use the symmetry.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """Two-sided tail of Student's t: P(|T| >= |t|) with ``df`` degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def _gammainc_lower(a: float, x: float) -> float:
    """The regularized lower incomplete gamma function P(a, x)."""
    if x <= 0.0:
        return 0.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # the series
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return total * math.exp(log_front)
    # The continued fraction for Q(a, x) (modified Lentz).
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return 1.0 - math.exp(log_front) * h


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square X with ``df`` degrees of freedom."""
    if df <= 0:
        return math.nan
    return max(0.0, 1.0 - _gammainc_lower(df / 2.0, x / 2.0))


def two_proportion(success_a: int, n_a: int, success_b: int, n_b: int) -> TestResult | None:
    """The two-proportion z-test (pooled variance) of b's rate against a's; ``None``
    when either group is empty or every observation is the same (nothing to test)."""
    if n_a <= 0 or n_b <= 0:
        return None
    pa, pb = success_a / n_a, success_b / n_b
    pooled = (success_a + success_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        return None
    z = (pb - pa) / math.sqrt(variance)
    p = 2.0 * (1.0 - normal_cdf(abs(z)))
    return TestResult(name="two-proportion z", statistic=z, p_value=p, difference=pb - pa)


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, var


def welch(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Welch's t-test of b's mean against a's (no equal-variance assumption); ``None``
    with fewer than two values on a side or no variance at all."""
    if len(a) < 2 or len(b) < 2:
        return None
    mean_a, var_a = _mean_var(a)
    mean_b, var_b = _mean_var(b)
    sa, sb = var_a / len(a), var_b / len(b)
    if sa + sb <= 0.0:
        return None
    t = (mean_b - mean_a) / math.sqrt(sa + sb)
    # The Welch-Satterthwaite degrees of freedom.
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    return TestResult(name="Welch t", statistic=t, p_value=t_sf(t, df), difference=mean_b - mean_a)


def _ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """Average ranks (1-based) of ``values`` and the tie term sum(t^3 - t)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        size = j - i + 1
        ties += size**3 - size
        i = j + 1
    return ranks, ties


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """The Mann-Whitney U test (normal approximation with tie and continuity
    correction, as scipy's ``method="asymptotic"``); ``difference`` is P(b > a) + half
    the ties, minus 0.5. ``None`` when a side is empty or every value is equal."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return None
    ranks, ties = _ranks([*a, *b])
    r_b = math.fsum(ranks[n1:])
    u_b = r_b - n2 * (n2 + 1) / 2.0
    n = n1 + n2
    mu = n1 * n2 / 2.0
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0.0:
        return None
    diff = u_b - mu
    z = (abs(diff) - 0.5) / math.sqrt(variance) if abs(diff) >= 0.5 else 0.0
    p = min(1.0, 2.0 * (1.0 - normal_cdf(z)))
    return TestResult(
        name="Mann-Whitney U",
        statistic=u_b,
        p_value=p,
        difference=u_b / (n1 * n2) - 0.5,
    )


def sample_ratio_mismatch(observed: Sequence[int], weights: Sequence[float]) -> float | None:
    """The p-value of a chi-square goodness-of-fit test of ``observed`` counts against
    the split ``weights`` asks for (``None``: fewer than two groups or no calls).
    A tiny p (the usual alarm is < 0.001) means the assignment is not doing what the
    weights say: a bug, a filter, or crashes in one arm, and the comparison is not
    trustworthy."""
    total = sum(observed)
    weight_sum = sum(weights)
    if len(observed) < 2 or total == 0 or weight_sum <= 0:
        return None
    stat = 0.0
    groups = 0
    for count, weight in zip(observed, weights, strict=True):
        expected = total * weight / weight_sum
        if expected <= 0.0:
            if count:
                return 0.0  # calls in an arm that should get none
            continue
        stat += (count - expected) ** 2 / expected
        groups += 1
    return chi2_sf(stat, groups - 1) if groups >= 2 else None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of already sorted values, linearly interpolated
    between closest ranks (numpy's default); ``None`` for no values."""
    n = len(sorted_values)
    if n == 0:
        return None
    position = q * (n - 1)
    low = math.floor(position)
    high = min(low + 1, n - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction
