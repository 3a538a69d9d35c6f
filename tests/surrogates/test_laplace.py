"""Tests for edtjax.surrogates.laplace (last-layer GGN Laplace)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.surrogates import (
    last_layer_laplace,
    last_layer_laplace_predictive,
    mbll_posterior,
    mbll_predictive,
    mlp,
)


def _setup(key, heteroscedastic=False):
    net = mlp((6,), 2, heteroscedastic=heteroscedastic)
    x = jax.random.normal(key, (25, 3), dtype=jnp.float64)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), net.init(key, x))
    return net, x, params


def test_ggn_equals_exact_hessian_of_head(key, x64):
    """Linear head + Gaussian likelihood: GGN + prior = Hessian of the negative log posterior."""
    net, x, params = _setup(key)
    s2, delta = 0.3, 2.0
    y = jnp.zeros((25, 2))

    def neg_log_post(head_col, j):
        kernel = params["head"]["kernel"].at[:, j].set(head_col[:-1])
        bias = params["head"]["bias"].at[j].set(head_col[-1])
        p = {**params, "head": {"kernel": kernel, "bias": bias}}
        r = y - net.apply(p, x).mean
        return 0.5 * jnp.sum(r**2) / s2 + 0.5 * delta * jnp.sum(head_col**2)

    la = last_layer_laplace(net, params, x, prior_precision=delta, noise_variance=s2)
    for j in range(2):
        col = jnp.append(params["head"]["kernel"][:, j], params["head"]["bias"][j])
        hess = jax.jit(jax.hessian(neg_log_post), static_argnums=1)(col, j)
        np.testing.assert_allclose(jnp.linalg.inv(la.covariance[j]), hess, rtol=1e-9)


def test_matches_bayesian_last_layer_at_the_map(key, x64):
    """With the head set to the conjugate posterior mean, Laplace = exact Bayesian last layer."""
    net, x, params = _setup(key)
    s2, delta = 0.2, 0.5
    phi = jnp.concatenate([net.features(params, x), jnp.ones((25, 1))], axis=1)
    y = jax.random.normal(jax.random.key(3), (25, 2), dtype=jnp.float64)
    post = mbll_posterior(phi, y, s2 * jnp.eye(2), prior_cov=jnp.eye(7) / (delta * s2))
    head = {"kernel": post.mean[:-1], "bias": post.mean[-1]}
    params = {**params, "head": head}
    la = last_layer_laplace(net, params, x, prior_precision=delta, noise_variance=s2)
    x_new = jax.random.normal(jax.random.key(4), (4, 3), dtype=jnp.float64)
    phi_new = jnp.concatenate([net.features(params, x_new), jnp.ones((4, 1))], axis=1)
    exact = mbll_predictive(post, phi_new)
    approx = last_layer_laplace_predictive(net, params, la, x_new)
    np.testing.assert_allclose(approx.mean, exact.mean, rtol=1e-9)
    np.testing.assert_allclose(approx.variance, exact.variance, rtol=1e-9)


def test_heteroscedastic_uses_predicted_noise(key, x64):
    net, x, params = _setup(key, heteroscedastic=True)
    la = last_layer_laplace(net, params, x)
    pred = last_layer_laplace_predictive(net, params, la, x[:5])
    np.testing.assert_allclose(pred.aleatoric, net.apply(params, x[:5]).variance)
    assert bool(jnp.all(pred.variance > pred.aleatoric))


def test_bad_input(key):
    net = mlp((4,), 1)
    x = jnp.ones((5, 1))
    params = net.init(key, x)
    with pytest.raises(ValueError, match="noise_variance"):
        last_layer_laplace(net, params, x)
    with pytest.raises(ValueError, match="prior_precision"):
        last_layer_laplace(net, params, x, prior_precision=0.0, noise_variance=1.0)
    with pytest.raises(ValueError, match="x must be finite"):
        last_layer_laplace(net, params, x.at[0, 0].set(jnp.nan), noise_variance=1.0)
