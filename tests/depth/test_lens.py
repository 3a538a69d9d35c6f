"""Lens and weighted lens depth: exact d = 1 counts, closed form, invariance, brute force."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import (
    euclidean_distances,
    lens,
    lens_depth,
    lens_depth_from_distances,
    weighted_lens_depth,
    weighted_lens_depth_from_distances,
)


def test_one_dimension_counts_pairs_around_the_query(key):
    k1, k2 = jax.random.split(key)
    n = 400
    x = jax.random.uniform(k1, (n, 1))
    z = jax.random.uniform(k2, (30, 1))
    below = jnp.sum(x[:, 0] < z, axis=1)
    exact = below * (n - below) / (n * (n - 1) / 2)
    np.testing.assert_allclose(lens_depth(z, x), exact, rtol=1e-6)
    # population 2F(1 - F) for U(0, 1); U-statistic sd <= 2 sqrt(var(F) / n) < 0.03: 5 sd.
    np.testing.assert_allclose(exact, 2 * z[:, 0] * (1 - z[:, 0]), atol=0.15)


@pytest.mark.slow
def test_from_distances_and_isometry_invariance(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (120, 2))
    z = jax.random.normal(k2, (15, 2))
    ld = lens_depth(z, x)
    np.testing.assert_allclose(
        lens_depth_from_distances(euclidean_distances(z, x), euclidean_distances(x, x)), ld
    )
    t = 1.1
    rot = jnp.array([[jnp.cos(t), -jnp.sin(t)], [jnp.sin(t), jnp.cos(t)]])
    np.testing.assert_allclose(lens_depth(z @ rot.T + 3.0, x @ rot.T + 3.0), ld, atol=1e-2 / 120)


def test_weighted_lens_depth_brute_force_and_limit(key, x64):
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.normal(k1, (12, 2), dtype=jnp.float64))
    z = np.asarray(jax.random.normal(k2, (4, 2), dtype=jnp.float64))
    h = 0.8
    expected = []
    for q in z:
        num = den = 0.0
        for i, j in itertools.combinations(range(12), 2):
            dij = np.linalg.norm(x[i] - x[j])
            w = np.exp(-((dij / h) ** 2))
            inside = max(np.linalg.norm(q - x[i]), np.linalg.norm(q - x[j])) <= dij
            num, den = num + w * inside, den + w
        expected.append(num / den)
    np.testing.assert_allclose(weighted_lens_depth(z, x, bandwidth=h), expected, rtol=1e-12)
    np.testing.assert_allclose(
        weighted_lens_depth(z, x, bandwidth=1e8), lens_depth(z, x), rtol=1e-12
    )
    np.testing.assert_allclose(
        weighted_lens_depth_from_distances(
            euclidean_distances(z, x), euclidean_distances(x, x), bandwidth=h
        ),
        expected,
        rtol=1e-12,
    )


def test_does_not_retrace(key):
    k1, k2 = jax.random.split(key)
    lens_depth(jax.random.normal(k1, (3, 2)), jax.random.normal(k2, (20, 2)))
    before = lens._lens._cache_size()
    lens_depth(jax.random.normal(k2, (3, 2)), jax.random.normal(k1, (20, 2)))
    assert lens._lens._cache_size() == before


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="x_query"):
        lens_depth(jnp.zeros((1, 3)), x)
    with pytest.raises(ValueError, match="x_ref"):
        lens_depth(jnp.zeros((1, 2)), x[:1])
    with pytest.raises(ValueError, match="x_ref"):
        lens_depth(jnp.zeros((1, 2)), x.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="bandwidth"):
        weighted_lens_depth(jnp.zeros((1, 2)), x, bandwidth=0.0)
    with pytest.raises(ValueError, match="d_query_ref"):
        lens_depth_from_distances(jnp.zeros((1, 9)), jnp.zeros((10, 10)))
    with pytest.raises(ValueError, match="square"):
        lens_depth_from_distances(jnp.zeros((1, 10)), jnp.zeros((10, 9)))
