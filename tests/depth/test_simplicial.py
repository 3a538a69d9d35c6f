"""Sampled simplicial depth: exact planar reference, d = 1 closed form, affine invariance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import (
    simplicial,
    simplicial_depth,
    simplicial_depth_from_fit,
    simplicial_depth_planar,
    simplicial_fit,
)


def test_matches_exact_planar_depth(key):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (300, 2))
    z = jax.random.normal(k2, (20, 2))
    exact = simplicial_depth_planar(z, x)
    approx = simplicial_depth(k3, z, x, n_simplices=20000)
    # binomial sd with 20000 simplices <= 0.0036: 5 sd.
    np.testing.assert_allclose(approx, exact, atol=0.018)


def test_one_dimensional_closed_form(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.uniform(k1, (2000, 1))
    z = jnp.array([[0.1], [0.3], [0.5], [0.8]])
    # population 2F(1 - F); sd <= 0.0036 (simplices) + 0.011 (sample of 2000): 5 sd ~ 0.07.
    np.testing.assert_allclose(
        simplicial_depth(k2, z, x, n_simplices=20000), 2 * z[:, 0] * (1 - z[:, 0]), atol=0.07
    )


@pytest.mark.slow
def test_affine_invariant_for_the_same_simplices(key):
    k1, k2, k3 = jax.random.split(key, 3)
    x = jax.random.normal(k1, (100, 3))
    z = jax.random.normal(k2, (10, 3)) * 0.5
    a = jnp.array([[1.0, 0.2, 0.0], [0.0, 2.0, 0.3], [0.1, 0.0, 0.5]])
    np.testing.assert_allclose(
        simplicial_depth(k3, z @ a.T + 1, x @ a.T + 1, n_simplices=3000),
        simplicial_depth(k3, z, x, n_simplices=3000),
        atol=1 / 3000 + 1e-7,
    )


def test_distinct_indices_are_uniform_without_replacement(key):
    idx = simplicial._distinct_indices(key, 5, 3, 20000)
    assert jnp.all(jnp.sort(idx, axis=1)[:, 1:] > jnp.sort(idx, axis=1)[:, :-1])
    # each value appears in a draw with probability 3/5: binomial sd 0.0035, 5 sd.
    freq = jnp.mean(jnp.any(idx[:, :, None] == jnp.arange(5), axis=1), axis=0)
    np.testing.assert_allclose(freq, 0.6, atol=0.018)


def test_depth_from_fit_does_not_retrace(key):
    k1, k2 = jax.random.split(key)
    fit = simplicial_fit(k1, jax.random.normal(k1, (40, 3)), n_simplices=50)
    simplicial_depth_from_fit(fit, jax.random.normal(k2, (4, 3)))
    before = simplicial._simplicial._cache_size()
    simplicial_depth_from_fit(fit, jax.random.normal(k1, (4, 3)))
    assert simplicial._simplicial._cache_size() == before


def test_bad_input(key):
    with pytest.raises(ValueError, match="d \\+ 1"):
        simplicial_depth(key, jnp.zeros((1, 3)), jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="n_simplices"):
        simplicial_depth(key, jnp.zeros((1, 2)), jnp.ones((5, 2)), n_simplices=0)
    with pytest.raises(ValueError, match="x_query"):
        simplicial_depth(key, jnp.zeros((1, 2)), jnp.ones((5, 3)))
