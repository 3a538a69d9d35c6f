"""Tests for edtjax.reliability.calibration: exact small cases, the finite-sample guarantee."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.reliability import (
    Indicator,
    calibrate,
    conformal_p_values,
    mahalanobis_indicator,
    minimum_calibration_size,
)
from edtjax.reliability.calibration import _calibrate


def _identity_indicator():
    """Score = first coordinate: calibration scores are the data themselves."""
    return Indicator(lambda key, x: (), lambda state, x: x[:, 0])


def test_threshold_and_p_values_exact_small_case(key):
    scores = jnp.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 8.0, 7.0, 6.0, 10.0, 11.0])[:, None]
    cal = calibrate(key, _identity_indicator(), (), scores, 0.2)
    # n = 11, k = ceil(12 * 0.8) = 10 -> 10th smallest = 10
    assert float(cal.threshold) == 10.0
    np.testing.assert_array_equal(cal.scores, np.arange(1.0, 12.0))
    q = jnp.array([0.0, 3.0, 10.0, 10.5, 12.0])
    p = conformal_p_values(cal, q)
    expected = [(1 + 11) / 12, (1 + 9) / 12, (1 + 2) / 12, (1 + 1) / 12, 1 / 12]
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    # flagged iff score > threshold iff p <= alpha
    np.testing.assert_array_equal(p <= 0.2, q > cal.threshold)


def test_smoothed_p_values_break_ties_uniformly(key):
    cal = calibrate(key, _identity_indicator(), (), jnp.zeros((19, 1)), 0.1)
    p = conformal_p_values(cal, jnp.zeros(4000), smoothed=True)
    # all 20 scores tie: p = U (0, 1); mean 1/2 with s.e. sqrt(1/12/4000) = 0.0046, 5 s.e.
    assert abs(float(jnp.mean(p)) - 0.5) < 5 * math.sqrt(1 / 12 / 4000)
    assert float(jnp.max(conformal_p_values(cal, jnp.zeros(3)))) == 1.0


def test_minimum_calibration_size():
    assert minimum_calibration_size(0.1) == 9
    assert minimum_calibration_size(0.05) == 19
    assert minimum_calibration_size(0.3) == 3  # (3 + 1) * 0.7 = 2.8 -> k = 3 <= 3
    for alpha in (0.01, 0.1, 0.25, 0.5, 0.9):
        n = minimum_calibration_size(alpha)
        assert math.ceil((n + 1) * (1 - alpha) - 1e-9) <= n
        assert n == 1 or math.ceil(n * (1 - alpha) - 1e-9) > n - 1


def test_too_small_calibration_set_says_the_minimum(key):
    with pytest.raises(ValueError, match=r"at least 19 rows for alpha = 0\.05"):
        calibrate(key, _identity_indicator(), (), jnp.zeros((18, 1)), 0.05)
    cal = calibrate(key, _identity_indicator(), (), jnp.arange(19.0)[:, None], 0.05)
    assert float(cal.threshold) == 18.0  # k = n: the largest score


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval_raises(key, alpha):
    with pytest.raises(ValueError, match="alpha"):
        calibrate(key, _identity_indicator(), (), jnp.zeros((50, 1)), alpha)


def test_bad_queries_raise(key):
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (50, 2)))
    with pytest.raises(ValueError, match="x_calibration"):
        calibrate(key, ind, state, jnp.zeros((50, 3)), 0.1)
    with pytest.raises(ValueError, match="x_calibration"):
        calibrate(key, ind, state, jnp.zeros((50,)), 0.1)
    with pytest.raises(ValueError, match="finite"):
        calibrate(key, ind, state, jnp.full((50, 2), jnp.nan), 0.1)
    with pytest.raises(ValueError, match="indicator"):
        calibrate(key, "mahalanobis", state, jnp.zeros((50, 2)), 0.1)


def test_false_alarm_rate_over_repeated_calibrations(key):
    """In-domain false-alarm rate <= alpha over many independent calibrations (Gaussian)."""
    alpha, n_fit, n_cal, n_test, reps = 0.1, 100, 99, 200, 200
    ind = mahalanobis_indicator()
    rates = []
    for r in range(reps):
        k_fit, k_cal, k_test = jax.random.split(jax.random.fold_in(key, r), 3)
        state = ind.fit(k_fit, jax.random.normal(k_fit, (n_fit, 3)))
        cal = calibrate(k_cal, ind, state, jax.random.normal(k_cal, (n_cal, 3)), alpha)
        test_scores = ind.score(state, jax.random.normal(k_test, (n_test, 3)))
        rates.append(float(jnp.mean(test_scores > cal.threshold)))
    # Exact marginal rate (n + 1 - k)/(n + 1) = 0.1 with k = ceil(100 * 0.9) = 90. Per rep the
    # rate is Beta(10, 90) (coverage of the calibration quantile) plus binomial test noise:
    # var = 10*90/(100**2*101) + 0.1*0.9/200; 5 standard errors of the mean of 200 reps.
    exact = (n_cal + 1 - math.ceil((n_cal + 1) * (1 - alpha))) / (n_cal + 1)
    se = math.sqrt((10 * 90 / (100**2 * 101) + 0.1 * 0.9 / n_test) / reps)
    mean_rate = float(np.mean(rates))
    assert mean_rate <= alpha + 5 * se
    assert abs(mean_rate - exact) <= 5 * se


def test_far_extrapolation_detected(key):
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (200, 3)))
    cal = calibrate(key, ind, state, jax.random.normal(jax.random.key(1), (99, 3)), 0.05)
    far = jax.random.normal(jax.random.key(2), (500, 3)) + jnp.array([8.0, 0.0, 0.0])
    # P(chi2_3 radius of a N(8e1, I) point inside the ~95% ball) is < 1e-6: detection is 1
    assert float(jnp.mean(ind.score(state, far) > cal.threshold)) >= 0.9


def test_calibration_does_not_retrace(key):
    ind = mahalanobis_indicator()
    state = ind.fit(key, jax.random.normal(key, (50, 2)))
    calibrate(key, ind, state, jax.random.normal(jax.random.key(1), (40, 2)), 0.1)
    size = _calibrate._cache_size()
    calibrate(key, ind, state, jax.random.normal(jax.random.key(2), (40, 2)), 0.1)
    calibrate(key, ind, state, jax.random.normal(jax.random.key(3), (40, 2)), 0.2)
    assert _calibrate._cache_size() == size
