"""Tests for edtjax.uq.calibration."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from edtjax.uq import (
    Recalibration,
    calibration_curve,
    calibration_error,
    fit_recalibration,
    gaussian_pit,
    isotonic_regression,
    miscalibration_area,
    recalibrate,
    recalibrated_quantile,
    sample_pit,
)


def test_isotonic_regression_matches_scipy():
    rng = np.random.default_rng(0)
    v = np.cumsum(rng.normal(size=200)) + rng.normal(scale=3, size=200)
    w = rng.uniform(0.5, 2.0, size=200)
    expected = optimize.isotonic_regression(v, weights=w).x
    np.testing.assert_allclose(isotonic_regression(v, w), expected, rtol=1e-10)


def test_isotonic_rejects_bad_weights():
    with pytest.raises(ValueError, match="weights"):
        isotonic_regression([1.0, 2.0], [1.0, 0.0])


def test_isotonic_rejects_complex_and_non_numeric_input():
    # a float64 cast used to drop the imaginary part (with only a ComplexWarning)
    with pytest.raises(ValueError, match="values must be real, got complex"):
        isotonic_regression(np.array([1.0, 2.0]) + 1j)
    with pytest.raises(ValueError, match="weights must be real, got complex"):
        isotonic_regression([1.0, 2.0], np.array([1.0, 1.0]) + 0j)
    with pytest.raises(ValueError, match="values must be numeric"):
        isotonic_regression(["a", "b"])


def test_curve_exact_small_case():
    q, obs = calibration_curve(jnp.array([0.1, 0.3, 0.6, 0.9]), levels=3)
    np.testing.assert_allclose(q, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(obs, [0.25, 0.5, 0.75])
    assert float(calibration_error(jnp.array([0.1, 0.3, 0.6, 0.9]), 3)) == 0.0
    # all PIT at 0.5: observed is 0 below the median and 1 above; area = mean |q - obs|
    area = float(miscalibration_area(jnp.full(10, 0.5), levels=3))
    assert area == pytest.approx((0.25 + 0.5 + 0.25) / 3)


def test_calibrated_gaussian_has_small_error(key):
    """For calibrated PIT, E[cal. error] = mean_j q_j(1-q_j)/N ~ 1/(6N); bound at 5x that."""
    k1, k2 = jax.random.split(key)
    n = 4000
    mu = jax.random.normal(k1, (n,))
    y = mu + 0.5 * jax.random.normal(k2, (n,))
    err_ok = float(calibration_error(gaussian_pit(y, mu, jnp.full(n, 0.25))))
    err_bad = float(calibration_error(gaussian_pit(y, mu, jnp.full(n, 0.25 / 9))))
    assert err_ok < 5 / (6 * n)
    assert err_bad > 100 * err_ok


def test_sample_pit_uniform_for_true_predictive(key):
    k1, k2 = jax.random.split(key)
    y = jax.random.normal(k1, (2000,))
    draws = jax.random.normal(k2, (400, 2000))
    pit = sample_pit(y, draws)
    assert float(miscalibration_area(pit)) < 0.02  # ~ sqrt(1/N) scale of curve noise


def test_recalibration_fixes_overconfident_model(key):
    """A model with sigma 3x too small is recalibrated on one split and checked on another."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    mu_cal, mu_test = jax.random.normal(k1, (3000,)), jax.random.normal(k2, (3000,))
    y_cal = mu_cal + jax.random.normal(k3, (3000,))
    y_test = mu_test + jax.random.normal(k4, (3000,))
    var = jnp.full(3000, 1 / 9)
    recal = fit_recalibration(gaussian_pit(y_cal, mu_cal, var))
    pit_test = gaussian_pit(y_test, mu_test, var)
    before = float(calibration_error(pit_test))
    after = float(calibration_error(recalibrate(recal, pit_test)))
    assert before > 0.01
    assert after < 10 / (6 * 3000)  # near the calibrated noise floor (two samples' noise)
    assert bool(jnp.all(jnp.diff(recal.levels) > 0))
    assert bool(jnp.all(jnp.diff(recal.frequencies) >= 0))


def test_recalibrate_and_inverse_exact():
    r = Recalibration(jnp.array([0.0, 0.5, 1.0]), jnp.array([0.0, 0.8, 1.0]))
    np.testing.assert_allclose(recalibrate(r, jnp.array([0.25, 0.75])), [0.4, 0.9], rtol=1e-6)
    np.testing.assert_allclose(recalibrated_quantile(r, jnp.array([0.4, 0.9])), [0.25, 0.75])
    g = jax.grad(lambda p: recalibrate(r, p))(0.25)
    np.testing.assert_allclose(g, 1.6, rtol=1e-6)


def test_fit_recalibration_rejects_bad_pit():
    with pytest.raises(ValueError, match="pit"):
        fit_recalibration(jnp.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="pit must be finite"):
        fit_recalibration(jnp.array([0.5, jnp.nan]))
