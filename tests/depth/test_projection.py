"""Projection and random-direction halfspace depth: closed forms, oracles, peer, invariance."""

from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from edtjax.depth import (
    halfspace_depth,
    halfspace_depth_from_fit,
    halfspace_depth_planar,
    halfspace_fit,
    projection,
    projection_depth,
    projection_fit,
    random_directions,
)


def test_random_directions_are_unit_and_centred(key):
    u = random_directions(key, 20000, 3)
    np.testing.assert_allclose(jnp.linalg.norm(u, axis=1), 1.0, rtol=1e-6)
    # each coordinate of a uniform unit vector in d = 3 has variance 1/3: 5 sd of the mean.
    assert jnp.all(jnp.abs(jnp.mean(u, axis=0)) < 5 * jnp.sqrt(1 / 3 / 20000))


def test_halfspace_in_one_dimension_is_exact(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.uniform(k1, (1000, 1))
    z = jax.random.uniform(k2, (50, 1))
    below = jnp.sum(x[:, 0][None, :] <= z, axis=1)
    above = jnp.sum(x[:, 0][None, :] >= z, axis=1)
    expected = jnp.minimum(below, above) / 1000
    np.testing.assert_allclose(halfspace_depth(k2, z, x, n_directions=8), expected, atol=1e-7)
    # population min(F, 1 - F) for U(0, 1); binomial sd <= 0.016, bound 5 sd.
    np.testing.assert_allclose(expected, jnp.minimum(z[:, 0], 1 - z[:, 0]), atol=0.08)


def test_float64_halfspace_is_an_exact_rational(key, x64):
    # min(#{x <= z}, #{x >= z}) / n in d = 1 is found by every direction (+-1): in float64 it
    # must equal the correctly rounded ratio (rtol = 0; a float32 detour is off by ~1e-8).
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.uniform(k1, (7, 1), dtype=jnp.float64))
    z = np.asarray(jax.random.uniform(k2, (20, 1), dtype=jnp.float64))
    counts = np.minimum(np.sum(x[:, 0] <= z, axis=1), np.sum(x[:, 0] >= z, axis=1))
    depth = halfspace_depth(k2, z, x, n_directions=8)
    chex.assert_type(depth, jnp.float64)
    assert len(set(counts.tolist())) > 2
    np.testing.assert_array_equal(depth, [float(Fraction(int(c), 7)) for c in counts])


@pytest.mark.slow
def test_gaussian_halfspace_and_projection_closed_forms(key):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (5000, 2))
    z = jnp.array([[0.0, 0.0], [0.5, 0.0], [1.0, 1.0], [0.0, -2.0]])
    r = jnp.linalg.norm(z, axis=1)
    # N(0, I): HD = 1 - Phi(|z|); sd of each empirical fraction <= 0.0071 and the minimum over
    # directions biases down by ~2.5 sd; 0.05 covers 5 sd plus that bias.
    np.testing.assert_allclose(
        halfspace_depth(k2, z, x, n_directions=200), 1 - norm.cdf(r), atol=0.05
    )
    # N(0, I): med = 0, MAD = Phi^-1(3/4) in every direction, PD = 1 / (1 + |z| / MAD); the
    # sample median and MAD have sd <= 0.02, moving PD by < 0.01 at these radii: 5 sd = 0.05.
    mad = norm.ppf(0.75)
    np.testing.assert_allclose(
        projection_depth(k3, z, x, n_directions=200), 1 / (1 + r / mad), atol=0.05
    )


def _numpy_projection(z, x, directions):
    # float64 oracle from the definition, sup over the given (K, d) directions
    proj = np.asarray(x, np.float64) @ directions.T
    med = np.median(proj, axis=0)
    mad = np.median(np.abs(proj - med), axis=0)
    out = np.max(np.abs(np.asarray(z, np.float64) @ directions.T - med) / mad, axis=1)
    return 1.0 / (1.0 + out)


def test_projection_matches_numpy_oracle(key):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (500, 2)) * jnp.array([1.0, 2.0])
    z = jax.random.normal(k2, (40, 2)) * 2
    depth = projection_depth(k3, z, x, n_directions=2000)
    # the same directions: only float32 rounding differs (~1e-6 relative on outlyingness <~ 10)
    u = np.asarray(projection_fit(k3, x, n_directions=2000).directions, np.float64)
    np.testing.assert_allclose(depth, _numpy_projection(z, x, u), atol=1e-4)
    # the supremum in d = 2 from 20000 evenly spaced angles on the half circle (u and -u give the
    # same outlyingness): 2000 random directions miss it by O((pi / 2000)^2) relative, far
    # below the bound, as in the peer comparison below.
    t = np.linspace(0.0, np.pi, 20000, endpoint=False)
    grid = np.stack([np.cos(t), np.sin(t)], axis=1)
    np.testing.assert_allclose(depth, _numpy_projection(z, x, grid), atol=3e-3)


def test_projection_agrees_with_data_depth(key):
    eucl = pytest.importorskip("depth.model.DepthEucl", reason="peer data-depth not installed")
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (500, 2)) * jnp.array([1.0, 2.0])
    z = jax.random.normal(k2, (40, 2)) * 2
    model = eucl.DepthEucl().load_dataset(np.asarray(x, np.float64))
    peer = model.projection(np.asarray(z, np.float64), solver="simplerandom", NRandom=2000)
    # both are upper bounds from 2000 random directions; in d = 2 their gap to the supremum is
    # O((pi / 2000)^2) relative, far below the float32 and direction-sampling differences.
    np.testing.assert_allclose(projection_depth(k3, z, x, n_directions=2000), peer, atol=3e-3)


def test_halfspace_random_agrees_with_exact(key):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (500, 2))
    z = jax.random.normal(k2, (40, 2)) * 1.5
    exact = halfspace_depth_planar(z, x)
    approx = halfspace_depth(k3, z, x, n_directions=2000)
    assert jnp.all(approx >= exact - 1e-7)  # upper bound
    np.testing.assert_allclose(approx, exact, atol=3 / 500)


@pytest.mark.slow
def test_projection_affine_invariant(key):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (300, 2))
    z = jax.random.normal(k2, (20, 2))
    a = jnp.array([[2.0, 1.0], [0.0, 0.5]])
    # invariant up to the direction sample: with 2000 directions in d = 2 the error is < 1e-2.
    np.testing.assert_allclose(
        projection_depth(k3, z @ a.T + 2.0, x @ a.T + 2.0, n_directions=2000),
        projection_depth(k3, z, x, n_directions=2000),
        atol=1e-2,
    )


def test_depths_do_not_retrace(key):
    k1, k2, k3 = jax.random.split(key, 3)
    fit = halfspace_fit(k1, jax.random.normal(k1, (50, 3)), n_directions=30)
    halfspace_depth_from_fit(fit, jax.random.normal(k2, (9, 3)))
    before = projection._halfspace._cache_size()
    halfspace_depth_from_fit(fit, jax.random.normal(k3, (9, 3)))
    assert projection._halfspace._cache_size() == before
    pfit = projection_fit(k1, jax.random.normal(k2, (50, 3)), n_directions=30)
    before = projection._projection_fit._cache_size()
    projection_fit(k1, jax.random.normal(k3, (50, 3)), n_directions=30)
    assert projection._projection_fit._cache_size() == before
    chex.assert_shape(pfit.median, (30,))


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="x_query"):
        halfspace_depth(key, jnp.zeros((1, 3)), x)
    with pytest.raises(ValueError, match="x_ref"):
        projection_depth(key, jnp.zeros((1, 2)), jnp.zeros((0, 2)))
    with pytest.raises(ValueError, match="x_ref"):
        halfspace_depth(key, jnp.zeros((1, 2)), x.at[0, 1].set(jnp.nan))
    with pytest.raises(ValueError, match="n_directions"):
        projection_depth(key, jnp.zeros((1, 2)), x, n_directions=0)
