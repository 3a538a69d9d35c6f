"""The shared split-conformal core (edtjax._conformal) and the three places that use it:
uq.conformal_quantile, reliability.calibrate / conformal_p_values, transport OT regions."""

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax import _conformal
from edtjax.reliability import (
    Calibration,
    calibrate,
    conformal_p_values,
    mahalanobis_indicator,
    minimum_calibration_size,
)
from edtjax.transport import conformal as ot_conformal
from edtjax.uq import conformal_quantile


def _levels():
    return [(j / 100, Fraction(j, 100)) for j in range(1, 100)] + [
        (1 - (100 - j) / 100, Fraction(j, 100)) for j in range(1, 100)
    ]


@pytest.mark.parametrize("n", [1, 9, 19, 99])
def test_p_value_rule_is_the_threshold_rule_exactly(n):
    """p(s) <= alpha (in exact rationals) iff s > the k-th smallest score, at every level."""
    cal = jnp.arange(1.0, n + 1.0)
    queries = jnp.arange(0.5, n + 1.0, 0.5)  # between, on and beyond every calibration score
    p = np.asarray(_conformal.p_values(cal, queries), np.float64)
    at_least = np.rint(p * (n + 1)).astype(int) - 1
    np.testing.assert_array_equal(at_least, [int(np.sum(cal >= q)) for q in queries])
    np.testing.assert_allclose(_conformal.log_p_values(cal, queries), np.log(p), atol=1e-6)
    thresholds = {k: float(k) for k in range(1, n + 1)}  # cal is 1..n: the k-th is k
    thresholds[n + 1] = float(_conformal.order_statistic(cal, n + 1))  # no threshold: inf
    assert thresholds[n + 1] == np.inf
    for alpha, exact in _levels():
        t = thresholds[_conformal.conformal_rank(n, alpha)]
        flagged_by_p = [Fraction(1 + a, n + 1) <= exact for a in at_least]
        flagged_by_t = [float(q) > t for q in queries]
        assert flagged_by_p == flagged_by_t, (n, alpha)


def test_minimum_calibration_size_is_the_exact_bound():
    """Smallest n with ceil((n + 1)(1 - alpha)) <= n, in exact rationals, at every level."""
    for alpha, exact in _levels():
        n = next(m for m in range(1, 1000) if math.ceil((m + 1) * (1 - exact)) <= m)
        assert _conformal.minimum_calibration_size(alpha) == n, alpha
        assert minimum_calibration_size(alpha) == n, alpha


def test_smoothed_p_values_are_uniform_on_ties(key):
    p = _conformal.smoothed_p_values(key, jnp.zeros(9), jnp.zeros(4000))
    # all 10 scores tie: p = U, uniform on (0, 1); the KS distance at n = 4000 is < 1.63 /
    # sqrt(4000) with probability 0.99
    grid = np.sort(np.asarray(p))
    ks = np.max(np.abs(grid - (np.arange(1, 4001) - 0.5) / 4000))
    assert ks < 1.63 / np.sqrt(4000)
    np.testing.assert_array_equal(
        conformal_p_values(Calibration(jnp.zeros(9), jnp.array(0.0), jnp.array(0.1), key),
                           jnp.zeros(4000), smoothed=True),
        p,
    )  # fmt: skip


def test_the_three_calibrations_select_the_same_exact_rank(key):
    """n = 9 at alpha = 0.7 and n = 99 at alpha = 0.41: k = 3 and k = 59 everywhere (the float
    formula gave 4 and 60 in uq and transport)."""
    ind = mahalanobis_indicator()
    k_fit, k_cal, k_ot = jax.random.split(key, 3)
    state = ind.fit(k_fit, jax.random.normal(k_fit, (100, 2)))
    for n, alpha, k in [(9, 0.7, 3), (99, 0.41, 59)]:
        x = jax.random.normal(jax.random.fold_in(k_cal, n), (n, 2))
        cal = calibrate(key, ind, state, x, alpha)
        assert float(cal.threshold) == float(cal.scores[k - 1])
        assert int(jnp.sum(cal.scores <= conformal_quantile(cal.scores, alpha))) == k

        # the OT threshold is the k-th smallest calibration score, not a neighbour
        resid = jax.random.normal(jax.random.fold_in(k_ot, n), (50 + n, 2))
        region = ot_conformal.ot_conformal_calibrate(resid[:50], resid[50:], alpha)
        t = [
            float(ot_conformal._conformal_threshold(region.fit, resid[50:], order=o))
            for o in (k - 1, k, k + 1)
        ]
        assert t[0] < float(region.threshold) == t[1] < t[2]


def test_ot_threshold_does_not_retrace_for_levels_with_the_same_rank(key):
    # 0.7 and 70 * 0.01 = 0.7000000000000001 are one level: one rank (3 of 9), one program
    resid = jax.random.normal(key, (59, 2))
    ot_conformal.ot_conformal_calibrate(resid[:50], resid[50:], 0.7)
    before = ot_conformal._conformal_threshold._cache_size()
    ot_conformal.ot_conformal_calibrate(resid[:50], 2.0 * resid[50:], 70 * 0.01)
    assert ot_conformal._conformal_threshold._cache_size() == before
