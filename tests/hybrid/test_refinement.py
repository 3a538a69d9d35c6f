"""Tests for edtjax.hybrid.refinement: bookkeeping, exactly the fallback rows are added, random
additions match the counts, and refining on a moved deployment law lowers the fallback rate."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.hybrid import calibrate_guard, guarded, refine
from edtjax.reliability import mahalanobis_indicator
from edtjax.surrogates import Predictive

_IND = mahalanobis_indicator()


def _simulator(x):
    return jnp.stack([2.0 * x[:, 0] - x[:, 1], x[:, 0] + 0.5], axis=1)


def _fit(key, x, y):
    """Linear least squares (exact for the linear simulator) on even rows; odd rows calibrate."""
    del key
    x, y = jnp.asarray(x), jnp.asarray(y)
    a = jnp.c_[x[::2], jnp.ones(x[::2].shape[0])]
    w = jnp.linalg.lstsq(a, y[::2])[0]

    def surrogate(z):
        return Predictive(mean=jnp.c_[z, jnp.ones(z.shape[0])] @ w)

    state = _IND.fit(None, x[::2])
    return surrogate, calibrate_guard(surrogate, _IND, state, x[1::2], y[1::2])


def _data(shift=4.0, rounds=3, m=60):
    x0 = jax.random.normal(jax.random.key(0), (80, 2))
    move = jnp.array([shift, 0.0])
    pools = jax.random.normal(jax.random.key(1), (rounds, m, 2)) + move
    x_test = jax.random.normal(jax.random.key(2), (400, 2)) + move
    return x0, _simulator(x0), pools, x_test, _simulator(x_test)


@pytest.fixture(scope="module")
def fallback_run():
    x0, y0, pools, x_test, y_test = _data(rounds=2)
    res = refine(jax.random.key(3), _fit, _simulator, x0, y0, pools, x_test, y_test, alpha=0.1)
    return res, x0, y0, pools


@pytest.mark.slow
def test_fallback_selection_adds_exactly_the_fallback_rows(fallback_run):
    res, x0, y0, pools = fallback_run
    surrogate, cal = _fit(None, x0, y0)
    first = guarded(surrogate, _simulator, cal, alpha=0.1)(pools[0])
    fell = ~np.asarray(first.used_surrogate)
    assert res.added[0] == fell.sum()
    np.testing.assert_array_equal(res.x_train[80 : 80 + fell.sum()], np.asarray(pools[0])[fell])
    np.testing.assert_allclose(res.y_train, _simulator(jnp.asarray(res.x_train)), rtol=1e-6)
    np.testing.assert_array_equal(
        res.simulator_calls, 80 + np.concatenate([[0], np.cumsum(res.added)])
    )
    assert res.fallback_rate.shape == (3,) and res.surrogate_rmse.shape == (3, 2)
    # the surrogate is exact for a linear simulator: the errors are rounding
    assert float(np.max(res.surrogate_rmse)) < 1e-4


@pytest.mark.slow
def test_refining_on_a_moved_law_lowers_the_fallback_rate(fallback_run):
    # the deployment law is moved 4 standard deviations: the Mahalanobis guard (alpha = 0.1)
    # rejects almost all of it at first (a N(4 e_1, I) point is inside the chi2_2 90% ball
    # around 0 with probability about 0.07); once fallback runs cover it the guard accepts most
    res = fallback_run[0]
    assert res.fallback_rate[0] > 0.8
    assert res.fallback_rate[-1] < 0.5 * res.fallback_rate[0]


@pytest.mark.slow
def test_random_selection_adds_the_given_counts():
    x0, y0, pools, x_test, y_test = _data(rounds=1)
    res = refine(
        jax.random.key(3),
        _fit,
        _simulator,
        x0,
        y0,
        pools,
        x_test,
        y_test,
        alpha=0.1,
        selection="random",
        n_added=[7],
    )
    np.testing.assert_array_equal(res.added, [7])
    chex.assert_shape(res.x_train, (87, 2))
    pooled = np.asarray(pools).reshape(-1, 2)
    new = res.x_train[80:]
    assert all((np.abs(pooled - row).sum(1) == 0).any() for row in new)
    np.testing.assert_allclose(res.y_train[80:], _simulator(jnp.asarray(new)), rtol=1e-6)


def test_bad_arguments_raise():
    x0, y0, pools, x_test, y_test = _data(rounds=2)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="selection"):
        refine(key, _fit, _simulator, x0, y0, pools, x_test, y_test, alpha=0.1, selection="x")
    with pytest.raises(ValueError, match="n_added"):
        refine(key, _fit, _simulator, x0, y0, pools, x_test, y_test, alpha=0.1, selection="random")
    with pytest.raises(ValueError, match="n_added"):
        refine(
            key,
            _fit,
            _simulator,
            x0,
            y0,
            pools,
            x_test,
            y_test,
            alpha=0.1,
            selection="random",
            n_added=[1, 100],
        )
    with pytest.raises(ValueError, match="y_train"):
        refine(key, _fit, _simulator, x0, y0[:5], pools, x_test, y_test, alpha=0.1)
    with pytest.raises(ValueError, match="x_rounds"):
        refine(key, _fit, _simulator, x0, y0, pools[..., :1], x_test, y_test, alpha=0.1)
    with pytest.raises(ValueError, match="y_test"):
        refine(key, _fit, _simulator, x0, y0, pools, x_test, y_test[:, :1], alpha=0.1)
    with pytest.raises(ValueError, match="fit must be callable"):
        refine(key, None, _simulator, x0, y0, pools, x_test, y_test, alpha=0.1)
