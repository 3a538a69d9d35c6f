"""Tests for edtjax.surrogates.gp (float64 throughout)."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from edtjax.surrogates import (
    GPParams,
    fit_gp,
    gp_kernel,
    gp_log_marginal_likelihood,
    gp_predict,
)


def _params(p=2):
    return GPParams(
        jnp.log(jnp.linspace(0.5, 1.5, p)), jnp.log(jnp.asarray(1.3)), jnp.log(jnp.asarray(0.05))
    )


def _numpy_kernel(kind, params, a, b):
    ell = np.exp(np.asarray(params.log_lengthscales))
    s2 = float(np.exp(params.log_variance))
    r = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2 / ell**2).sum(-1))
    if kind == "rbf":
        return s2 * np.exp(-0.5 * r**2)
    if kind == "matern32":
        return s2 * (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r)
    return s2 * (1 + np.sqrt(5) * r + 5 * r**2 / 3) * np.exp(-np.sqrt(5) * r)


def _data(key, n=30, p=2):
    k1, k2 = jax.random.split(key)
    x = jax.random.uniform(k1, (n, p), dtype=jnp.float64)
    y = jnp.sin(4 * x[:, 0]) + x[:, 1] ** 2 + 0.1 * jax.random.normal(k2, (n,), dtype=jnp.float64)
    return x, y - jnp.mean(y)


@pytest.mark.parametrize("kind", ["rbf", "matern32", "matern52"])
def test_predictive_and_evidence_equal_closed_form(key, x64, kind):
    x, y = _data(key)
    x_new = jnp.array([[0.2, 0.9], [0.5, 0.5], [1.5, -0.3]])
    params = _params()
    xn, yn, xs = map(np.asarray, (x, y, x_new))
    np.testing.assert_allclose(
        gp_kernel(kind, params, x, x_new), _numpy_kernel(kind, params, xn, xs), rtol=1e-12
    )
    ky = _numpy_kernel(kind, params, xn, xn) + 0.05 * np.eye(30)
    ks = _numpy_kernel(kind, params, xn, xs)
    mean = ks.T @ np.linalg.solve(ky, yn)
    var = 1.3 - np.einsum("ij,ij->j", ks, np.linalg.solve(ky, ks)) + 0.05
    pred = gp_predict(params, x, y, x_new, kernel=kind)
    np.testing.assert_allclose(pred.mean[:, 0], mean, rtol=1e-9)
    np.testing.assert_allclose(pred.variance[:, 0], var, rtol=1e-9)
    np.testing.assert_allclose(pred.aleatoric, 0.05, rtol=1e-12)
    lml = stats.multivariate_normal.logpdf(yn, np.zeros(30), ky)
    np.testing.assert_allclose(
        gp_log_marginal_likelihood(params, x, y, kernel=kind), lml, rtol=1e-10
    )


@pytest.mark.parametrize("kind", ["rbf", "matern52"])
def test_evidence_gradient_matches_finite_differences(key, x64, kind):
    x, y = _data(key, 20)
    params = _params()
    f = jax.jit(lambda p: gp_log_marginal_likelihood(p, x, y, kernel=kind))
    g = jax.grad(f)(params)
    eps = 1e-6
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    g_flat, _ = jax.flatten_util.ravel_pytree(g)
    for i in range(flat.size):
        e = jnp.zeros_like(flat).at[i].set(eps)
        fd = (f(unravel(flat + e)) - f(unravel(flat - e))) / (2 * eps)
        np.testing.assert_allclose(g_flat[i], fd, rtol=1e-6)


@pytest.mark.slow
def test_fit_recovers_generating_hyperparameters(key, x64):
    """Data drawn from a GP with known theta: the fitted evidence is at least that at theta,
    and the noise variance (0.01) is recovered within a factor 2 with n = 150."""
    k1, k2 = jax.random.split(key)
    x = jax.random.uniform(k1, (150, 1), dtype=jnp.float64)
    true = GPParams(
        jnp.log(jnp.array([0.2])), jnp.log(jnp.asarray(1.0)), jnp.log(jnp.asarray(0.01))
    )
    cov = gp_kernel("rbf", true, x, x) + 0.01 * jnp.eye(150)
    y = jnp.linalg.cholesky(cov) @ jax.random.normal(k2, (150,), dtype=jnp.float64)
    res = fit_gp(x, y, steps=300)
    assert float(res.loss[-1]) < float(res.loss[0])
    fitted = gp_log_marginal_likelihood(res.params, x, y, jitter=1e-8)
    assert float(fitted) >= float(gp_log_marginal_likelihood(true, x, y)) - 1e-6
    assert 0.005 < float(jnp.exp(res.params.log_noise)) < 0.02


def test_fit_does_not_retrace(key, x64):
    from edtjax.surrogates.gp import _fit

    x, y = _data(key, 15)
    fit_gp(x, y, steps=5)
    size = _fit._cache_size()
    x2, y2 = _data(jax.random.key(4), 15)
    fit_gp(x2, y2, steps=5, learning_rate=0.1)
    assert _fit._cache_size() == size


def test_jitter_escalation_and_error(x64):
    x = jnp.zeros((4, 1), dtype=jnp.float64)  # duplicated inputs: K is rank one
    y = jnp.zeros(4, dtype=jnp.float64)
    params = GPParams(jnp.zeros(1), jnp.zeros(()), jnp.asarray(-jnp.inf))
    pred = gp_predict(params, x, y, x[:1])  # escalates to a jitter that works
    assert bool(jnp.all(jnp.isfinite(pred.variance)))
    with pytest.raises(ValueError, match=r"not positive definite; jitter tried .*\[0.0\]"):
        gp_predict(params, x, y, x[:1], max_jitter=0.0)


def test_bad_input(key, x64):
    x, y = _data(key, 10)
    with pytest.raises(ValueError, match="same length"):
        fit_gp(x, y[:9])
    with pytest.raises(ValueError, match="y must be finite"):
        fit_gp(x, y.at[3].set(jnp.nan))
    with pytest.raises(ValueError, match="kernel"):
        fit_gp(x, y, kernel="periodic")
    with pytest.raises(ValueError, match="float64"):
        fit_gp(x.astype(jnp.float32), y)
    with pytest.raises(ValueError, match="x_new must have 2 columns"):
        gp_predict(_params(), x, y, jnp.zeros((1, 3)))
