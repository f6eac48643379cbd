"""The experiment's statistics: t quantiles against table values, the t CDF and incomplete beta against
numerical integration (numpy), means and intervals against a numpy oracle, pairing by seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelis_train.experiment.stats import (
    mean_interval,
    paired_difference,
    regularized_incomplete_beta,
    t_cdf,
    t_quantile,
)

# two-sided 95% (p = 0.975) and 99% (p = 0.995) quantiles from the standard t table
TABLE = {
    (0.975, 1): 12.7062,
    (0.975, 2): 4.3027,
    (0.975, 3): 3.1824,
    (0.975, 4): 2.7764,
    (0.975, 9): 2.2622,
    (0.975, 30): 2.0423,
    (0.995, 1): 63.6567,
    (0.995, 5): 4.0321,
    (0.95, 10): 1.8125,
}


@pytest.mark.parametrize(("p", "df"), sorted(TABLE))
def test_t_quantile_matches_the_table(p: float, df: int) -> None:
    assert t_quantile(p, df) == pytest.approx(TABLE[(p, df)], abs=5e-5)
    assert t_quantile(1 - p, df) == pytest.approx(-TABLE[(p, df)], abs=5e-5)


def test_t_quantile_tends_to_the_normal_and_inverts_the_cdf() -> None:
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.5, 3) == 0.0
    for df in (1, 2, 7, 50):
        for p in (0.6, 0.9, 0.975, 0.999):
            assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-12)


def _t_pdf(x: np.ndarray, df: float) -> np.ndarray:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))


@pytest.mark.parametrize("df", [1, 2, 3, 5, 12])
def test_t_cdf_against_numerical_integration(df: int) -> None:
    # P(0 <= T <= t) by the trapezoidal rule on a fine grid (numpy), + 1/2 by symmetry
    for t in (0.3, 1.0, 2.5, 6.0):
        grid = np.linspace(0.0, t, 200_001)
        expected = 0.5 + np.trapezoid(_t_pdf(grid, df), grid)
        assert t_cdf(t, df) == pytest.approx(expected, abs=1e-9)
        assert t_cdf(-t, df) == pytest.approx(1 - expected, abs=1e-9)


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (2.0, 3.0), (5.0, 0.5), (0.7, 9.0)])
def test_incomplete_beta_against_numerical_integration(a: float, b: float) -> None:
    for x in (0.05, 0.3, 0.5, 0.8, 0.97):
        # B_x(a, b) = (1/a) * integral over u in [0, x^a] of (1 - u^(1/a))^(b-1) (y = u^(1/a) removes the
        # singularity of y^(a-1) at 0), by the trapezoidal rule on a fine grid
        grid = np.linspace(0.0, x**a, 400_001)
        integral = np.trapezoid((1.0 - grid ** (1.0 / a)) ** (b - 1.0), grid) / a
        expected = integral * math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b))
        assert regularized_incomplete_beta(x, a, b) == pytest.approx(expected, abs=1e-8)
    assert regularized_incomplete_beta(0.3, 2, 3) == pytest.approx(0.3483, abs=1e-12)  # closed form
    assert regularized_incomplete_beta(0.0, 2, 3) == 0.0 and regularized_incomplete_beta(1.0, 2, 3) == 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=2, max_size=12), st.sampled_from([0.9, 0.95, 0.99]))
def test_mean_interval_against_a_numpy_oracle(values: list[float], confidence: float) -> None:
    x = np.asarray(values)
    n = len(x)
    half = t_quantile(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n)
    got = mean_interval(values, confidence)
    assert got.n == n and got.confidence == confidence
    assert got.mean == pytest.approx(x.mean(), abs=1e-9)
    assert got.low == pytest.approx(x.mean() - half, abs=1e-9)
    assert got.high == pytest.approx(x.mean() + half, abs=1e-9)


def test_known_interval_and_degenerate_cases() -> None:
    got = mean_interval([0.5, 0.6, 0.7])  # mean 0.6, sd 0.1, t(0.975, 2) = 4.3027
    assert (got.low, got.high) == pytest.approx(
        (0.6 - 4.302653 * 0.1 / math.sqrt(3), 0.6 + 4.302653 * 0.1 / math.sqrt(3))
    )
    one = mean_interval([0.4])
    assert (one.mean, one.low, one.high, one.n) == (0.4, None, None, 1) and one.includes_zero() is None
    none = mean_interval([])
    assert (none.mean, none.n) == (None, 0)
    with pytest.raises(ValueError, match=r"confidence: must be in \(0, 1\) \(got 1.5\)"):
        mean_interval([1.0, 2.0], 1.5)
    with pytest.raises(ValueError, match=r"t quantile: p must be in \(0, 1\) \(got 1.0\)"):
        t_quantile(1.0, 3)


def test_paired_difference_pairs_by_seed_and_skips_missing_values() -> None:
    arm = {0: 0.55, 1: 0.64, 2: None, 3: 0.68}
    reference = {0: 0.50, 1: 0.60, 2: 0.58, 3: 0.62, 4: 0.9}
    got, seeds = paired_difference(arm, reference)
    assert seeds == [0, 1, 3]
    diffs = np.array([0.05, 0.04, 0.06])
    half = 4.302653 * diffs.std(ddof=1) / math.sqrt(3)
    assert got.mean == pytest.approx(diffs.mean())
    assert (got.low, got.high) == pytest.approx((diffs.mean() - half, diffs.mean() + half), abs=1e-6)
    assert got.includes_zero() is False  # 0.05 +- 0.025: above 0
    wide, _ = paired_difference({0: 0.55, 1: 0.61, 3: 0.70}, reference)  # 0.05, 0.01, 0.08: +-0.087
    assert wide.includes_zero() is True
