"""Mahalanobis and spatial depth: Gaussian closed form, NumPy oracles, invariances, data-depth."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import (
    mahalanobis_depth,
    mahalanobis_depth_from_fit,
    mahalanobis_fit,
    moment,
    spatial_depth,
)


def _gaussian(key, n, d=2):
    a = jnp.array([[2.0, 0.0], [0.8, 0.5]]) if d == 2 else jnp.eye(d)
    return jax.random.normal(key, (n, d)) @ a.T + jnp.arange(1.0, d + 1), a


def test_mahalanobis_matches_gaussian_closed_form(key):
    n = 20000
    x, a = _gaussian(key, n)
    mu, cov = jnp.array([1.0, 2.0]), a @ a.T
    z = mu + jnp.array([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.5], [3.0, -1.0]])
    diff = z - mu
    r2 = jnp.einsum("mi,ij,mj->m", diff, jnp.linalg.inv(cov), diff)
    # delta method: sd of the estimated r^2 is about sqrt((4 r^2 + 2 r^4) / n) <= 0.05 here, and
    # dD/dr^2 = (1 + r^2)^-2, so the depth's sd is < 0.003; 0.015 is > 5 sd.
    np.testing.assert_allclose(mahalanobis_depth(z, x), 1.0 / (1.0 + r2), atol=0.015)


def _numpy_mahalanobis(z, x):
    # float64 oracle straight from the definition: unbiased covariance, 1 / (1 + r^2)
    x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
    diff = z - x.mean(axis=0)
    r2 = np.einsum("mi,mi->m", diff, np.linalg.solve(np.cov(x.T), diff.T).T)
    return 1.0 / (1.0 + r2)


def _numpy_spatial(z, x, whiten):
    x, z = np.asarray(x, np.float64), np.asarray(z, np.float64)
    if whiten:  # Σ̂^{-1/2} (symmetric root) of the unbiased covariance
        w, v = np.linalg.eigh(np.cov(x.T))
        root = v @ np.diag(w**-0.5) @ v.T
        x, z = x @ root, z @ root
    diff = z[:, None, :] - x[None, :, :]
    units = diff / np.linalg.norm(diff, axis=-1, keepdims=True)
    return 1.0 - np.linalg.norm(units.mean(axis=1), axis=-1)


def _data_depth_model(x):
    eucl = pytest.importorskip("depth.model.DepthEucl", reason="peer data-depth not installed")
    return eucl.DepthEucl().load_dataset(np.asarray(x, np.float64))


def test_mahalanobis_matches_numpy_oracle(key):
    # float32 with centring and HIGHEST-precision products: relative error ~1e-6 on r^2 of
    # order 10 here, so 2e-5 is an order of magnitude of slack.
    k1, k2 = jax.random.split(key)
    x, _ = _gaussian(k1, 500)
    z = jax.random.normal(k2, (50, 2)) * 2
    np.testing.assert_allclose(mahalanobis_depth(z, x), _numpy_mahalanobis(z, x), rtol=2e-5)


def test_mahalanobis_agrees_with_data_depth(key):
    k1, k2 = jax.random.split(key)
    x, _ = _gaussian(k1, 500)
    z = jax.random.normal(k2, (50, 2)) * 2
    peer = _data_depth_model(x).mahalanobis(np.asarray(z, np.float64))
    np.testing.assert_allclose(mahalanobis_depth(z, x), peer, rtol=2e-5, atol=1e-6)


def test_mahalanobis_affine_invariant(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (300, 3))
    z = jax.random.normal(k2, (20, 3)) * 2
    a = jnp.array([[1.0, 0.3, -0.2], [0.0, 2.0, 0.5], [0.4, 0.0, 0.7]])
    b = jnp.array([3.0, -1.0, 0.5])
    np.testing.assert_allclose(
        mahalanobis_depth(z @ a.T + b, x @ a.T + b), mahalanobis_depth(z, x), rtol=1e-4
    )


def test_mahalanobis_full_shrinkage_is_scaled_identity(key):
    x = jax.random.normal(key, (200, 3)) * jnp.array([1.0, 2.0, 3.0])
    fit = mahalanobis_fit(x, shrinkage=1.0)
    cov = jnp.cov(x.T)
    np.testing.assert_allclose(fit.precision, jnp.eye(3) * 3 / jnp.trace(cov), rtol=1e-5)


def test_mahalanobis_depth_from_fit_does_not_retrace(key):
    k1, k2, k3 = jax.random.split(key, 3)
    fit = mahalanobis_fit(jax.random.normal(k1, (50, 2)))
    mahalanobis_depth_from_fit(fit, jax.random.normal(k2, (7, 2)))
    before = moment._mahalanobis._cache_size()
    mahalanobis_depth_from_fit(fit, jax.random.normal(k3, (7, 2)))
    assert moment._mahalanobis._cache_size() == before


def test_spatial_depth_of_symmetric_centre_is_one(key):
    x = jax.random.normal(key, (100, 3))
    x = jnp.concatenate([x, -x])
    np.testing.assert_allclose(spatial_depth(jnp.zeros((1, 3)), x), 1.0, atol=1e-6)


def test_spatial_depth_rotation_invariant_and_affine_when_whitened(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (300, 2)) * jnp.array([1.0, 3.0])
    z = jax.random.normal(k2, (20, 2)) * 2
    t = 0.7
    rot = jnp.array([[jnp.cos(t), -jnp.sin(t)], [jnp.sin(t), jnp.cos(t)]])
    np.testing.assert_allclose(spatial_depth(z @ rot.T, x @ rot.T), spatial_depth(z, x), atol=1e-5)
    a = jnp.array([[2.0, 0.5], [0.0, 0.3]])
    np.testing.assert_allclose(
        spatial_depth(z @ a.T + 1.0, x @ a.T + 1.0, whiten=True),
        spatial_depth(z, x, whiten=True),
        atol=1e-4,
    )


@pytest.mark.parametrize("whiten", [False, True])
def test_spatial_matches_numpy_oracle(key, whiten):
    # a mean of 400 float32 unit vectors: absolute error ~1e-6, bound 1e-5 as for the peer below
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (400, 3)) * jnp.array([1.0, 2.0, 0.5])
    z = jax.random.normal(k2, (30, 3))
    np.testing.assert_allclose(
        spatial_depth(z, x, whiten=whiten), _numpy_spatial(z, x, whiten), atol=1e-5
    )


@pytest.mark.parametrize(("whiten", "estimate"), [(False, "none"), (True, "moment")])
def test_spatial_agrees_with_data_depth(key, whiten, estimate):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (400, 3)) * jnp.array([1.0, 2.0, 0.5])
    z = jax.random.normal(k2, (30, 3))
    peer = _data_depth_model(x).spatial(np.asarray(z, np.float64), mah_estimate=estimate)
    np.testing.assert_allclose(spatial_depth(z, x, whiten=whiten), peer, atol=1e-5)


def test_gradients_match_finite_differences(key, x64):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (60, 2), dtype=jnp.float64)
    z0 = jax.random.normal(k2, (2,), dtype=jnp.float64)
    for f in (
        lambda z: mahalanobis_depth(z[None], x)[0],
        lambda z: spatial_depth(z[None], x, whiten=True)[0],
    ):
        grad = jax.grad(f)(z0)
        eps = 1e-6
        fd = jnp.array([(f(z0 + eps * e) - f(z0 - eps * e)) / (2 * eps) for e in jnp.eye(2)])
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="x_query"):
        mahalanobis_depth(jnp.zeros((1, 3)), x)
    with pytest.raises(ValueError, match="x_ref"):
        spatial_depth(jnp.zeros((1, 2)), jnp.zeros((0, 2)))
    with pytest.raises(ValueError, match="x_ref"):
        mahalanobis_depth(jnp.zeros((1, 2)), x.at[3, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="x_ref"):
        mahalanobis_depth(jnp.zeros((1, 2)), x[:2])
    with pytest.raises(ValueError, match="shrinkage"):
        mahalanobis_fit(x, shrinkage=1.5)
    with pytest.raises(ValueError, match="x_query"):
        spatial_depth(jnp.array([[jnp.nan, 0.0]]), x)
