"""OT conformal regions: finite-sample coverage over repeated splits, shape, bad input."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.transport import center_outward_quantile, conformal
from edtjax.transport.conformal import (
    ot_conformal_boundary,
    ot_conformal_calibrate,
    ot_conformal_contains,
)


def _data(key, n):
    """Two outputs with a nonlinear mean and skewed, correlated, heteroscedastic noise."""
    k1, k2 = jax.random.split(key)
    x = jax.random.uniform(k1, (n, 1), minval=-1.0, maxval=1.0)
    mean = jnp.concatenate([jnp.sin(jnp.pi * x), x**2], axis=1)
    e = jax.random.exponential(k2, (n, 2)) - 1.0
    noise = (e @ jnp.array([[1.0, 0.6], [0.0, 0.5]])) * (0.5 + jnp.abs(x))
    return mean, mean + noise


@pytest.mark.slow
def test_coverage_over_repeated_splits(key):
    # Split-conformal guarantee: 1 - alpha <= E[coverage] <= 1 - alpha + 1/(n_cal + 1).
    # Per split, coverage has sd <= sqrt(a(1-a)/n_test + a(1-a)/(n_cal + 2)) ~ 0.025; over
    # 30 splits the mean has SE ~ 0.0046. Tolerance: 5 SE (false-failure rate < 1e-6).
    alpha, n_fit, n_cal, n_test, reps = 0.1, 200, 200, 500, 30
    coverages = []
    for k in jax.random.split(key, reps):
        pred, y = _data(k, n_fit + n_cal + n_test)
        resid = y - pred  # the regressor is the (fixed) true mean function
        region = ot_conformal_calibrate(resid[:n_fit], resid[n_fit : n_fit + n_cal], alpha)
        inside = ot_conformal_contains(region, pred[n_fit + n_cal :], y[n_fit + n_cal :])
        coverages.append(float(inside.mean()))
    se = np.sqrt(alpha * (1 - alpha) * (1 / n_test + 1 / (n_cal + 2)) / reps)
    mean = float(np.mean(coverages))
    assert mean >= 1 - alpha - 5 * se
    assert mean <= 1 - alpha + 1 / (n_cal + 1) + 5 * se


@pytest.mark.slow
def test_boundary_points_lie_on_the_region_edge(key):
    pred, y = _data(key, 400)
    region = ot_conformal_calibrate((y - pred)[:200], (y - pred)[200:], 0.2)
    centres = jnp.array([[0.0, 0.0], [1.0, -2.0]])
    boundary = ot_conformal_boundary(region, centres, 24)
    chex.assert_shape(boundary, (2, 24, 2))
    # translation equivariance: both regions have the same shape
    np.testing.assert_allclose(boundary[1] - centres[1], boundary[0] - centres[0], atol=1e-5)
    # points pulled towards the residual median Q(0) are inside, pushed away are outside
    median = center_outward_quantile(region.fit, jnp.zeros((1, 2)))[0]
    inner = median + 0.5 * (boundary[0] - median)
    outer = median + 2.0 * (boundary[0] - median)
    assert bool(ot_conformal_contains(region, jnp.zeros_like(inner), inner).all())
    assert not bool(ot_conformal_contains(region, jnp.zeros_like(outer), outer).any())


def test_tiny_calibration_set_covers_everything(key):
    # ceil((n + 1)(1 - alpha)) > n: the only valid region is the whole space
    pred, y = _data(key, 60)
    region = ot_conformal_calibrate((y - pred)[:50], (y - pred)[50:], 0.05)
    assert float(region.threshold) == 1.0
    assert bool(ot_conformal_contains(region, pred, y + 100.0).all())


def test_no_retrace(key):
    pred, y = _data(key, 100)
    r = y - pred
    ot_conformal_calibrate(r[:50], r[50:], 0.1)
    before = conformal._conformal_threshold._cache_size()
    ot_conformal_calibrate(2 * r[:50], r[50:] + 1, 0.1)
    assert conformal._conformal_threshold._cache_size() == before


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.eye(10, 2), np.zeros((10, 3)), 0.1), "columns"),
        ((np.eye(10, 2), np.eye(10, 2), 0.0), "alpha"),
        ((np.eye(10, 2), np.eye(10, 2), 1.0), "alpha"),
        ((np.eye(10, 2), np.full((10, 2), np.nan), 0.1), "finite"),
        ((np.eye(10, 2), np.zeros((1, 2)), 0.1), "at least 2"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        ot_conformal_calibrate(*args)


def test_bad_query(key):
    pred, y = _data(key, 100)
    region = ot_conformal_calibrate((y - pred)[:50], (y - pred)[50:], 0.1)
    with pytest.raises(ValueError, match="same length"):
        ot_conformal_contains(region, pred[:3], y[:4])
    with pytest.raises(ValueError, match="columns"):
        ot_conformal_boundary(region, np.zeros((2, 3)), 8)
