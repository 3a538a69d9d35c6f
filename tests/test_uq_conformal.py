"""Tests for edtjax.uq.conformal."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.uq import (
    conformal_quantile,
    conformalized_quantile_regression,
    normalized_conformal,
    split_conformal,
)


def test_quantile_rank_exact():
    scores = jnp.arange(1.0, 20.0)  # n = 19
    assert float(conformal_quantile(scores, 0.1)) == 18.0  # ceil(20 * 0.9) = 18
    assert float(conformal_quantile(scores, 0.5)) == 10.0
    assert float(conformal_quantile(scores, 0.01)) == np.inf  # ceil(19.8) = 20 > n
    cols = conformal_quantile(jnp.stack([scores, 2 * scores], axis=1), 0.1)
    np.testing.assert_allclose(cols, [18.0, 36.0])


def _heteroscedastic(key, n):
    kx, ke = jax.random.split(key)
    x = jax.random.uniform(kx, (n,), minval=-2, maxval=2)
    scale = 0.1 + jnp.abs(x)
    return x, jnp.sin(x) + scale * jax.random.normal(ke, (n,)), scale


@pytest.mark.parametrize("method", ["split", "normalized", "cqr"])
def test_finite_sample_coverage_over_random_splits(key, method):
    """Marginal coverage over 400 random splits of n_cal = 19, 50 test points each.

    Exact expected coverage is ceil(20 * 0.9) / 20 = 0.9 for continuous scores. The mean over
    splits has standard error <= sqrt(0.9 * 0.1 / 19 / 400) + test noise ~ 0.004 (the
    calibration-set draw dominates: Beta(18, 2) coverage, sd 0.065 per split); test at 5 SE.
    A deliberately biased mean (sin x + 0.3) keeps the model wrong: the guarantee still holds.
    """
    alpha, n_cal, n_test, reps = 0.1, 19, 50, 400

    def one(k):
        x, y, scale = _heteroscedastic(k, n_cal + n_test)
        mean = jnp.sin(x) + 0.3
        cal, test = slice(0, n_cal), slice(n_cal, None)
        if method == "split":
            lo, hi = split_conformal(y[cal], mean[cal], mean[test], alpha)
        elif method == "normalized":
            lo, hi = normalized_conformal(
                y[cal], mean[cal], scale[cal], mean[test], scale[test], alpha
            )
        else:
            lo, hi = conformalized_quantile_regression(
                y[cal], mean[cal] - scale[cal], mean[cal] + scale[cal], mean[test] - scale[test],
                mean[test] + scale[test], alpha,
            )  # fmt: skip
        return jnp.mean((y[test] >= lo) & (y[test] <= hi))

    keys = jax.random.split(key, reps)
    cover = np.asarray(jax.vmap(one)(keys))
    se = np.sqrt(0.9 * 0.1 / (n_cal + 2) / reps + 0.09 / (n_test * reps))
    assert abs(cover.mean() - 0.9) < 5 * se, (cover.mean(), se)


def test_normalized_is_adaptive(key):
    """With a correct scale, normalised intervals are narrower where the noise is small."""
    x, y, scale = _heteroscedastic(key, 2000)
    mean = jnp.sin(x)
    lo, hi = normalized_conformal(
        y[:1000], mean[:1000], scale[:1000], mean[1000:], scale[1000:], 0.1
    )
    width = hi - lo
    small = jnp.abs(x[1000:]) < 0.5
    assert float(jnp.mean(width[small])) < 0.5 * float(jnp.mean(width[~small]))


def test_no_retrace_on_new_scores(key):
    from edtjax.uq.conformal import _order_statistic

    conformal_quantile(jax.random.normal(key, (30,)), 0.2)
    size = _order_statistic._cache_size()
    conformal_quantile(jax.random.normal(jax.random.key(3), (30,)), 0.2)
    assert _order_statistic._cache_size() == size


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5])
def test_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError, match="alpha"):
        split_conformal(jnp.zeros(5), jnp.zeros(5), jnp.zeros(2), alpha)


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        split_conformal(jnp.zeros(5), jnp.zeros(4), jnp.zeros(2), 0.1)
    with pytest.raises(ValueError, match="y_cal must be finite"):
        split_conformal(jnp.array([0.0, jnp.nan]), jnp.zeros(2), jnp.zeros(2), 0.1)
    with pytest.raises(ValueError, match="scale_cal must be positive"):
        normalized_conformal(
            jnp.zeros(3), jnp.zeros(3), -jnp.ones(3), jnp.zeros(2), jnp.ones(2), 0.1
        )
