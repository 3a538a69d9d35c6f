"""Exact empirical center-outward ranks: d = 1, brute force, distribution-freeness."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from edtjax.transport import center_outward_ranks, reference_grid


def test_one_dimensional_ranks_are_centred_ranks(key):
    n = 41
    x = jax.random.normal(key, (n,)) ** 3  # any continuous law
    r = center_outward_ranks(x)
    f = np.asarray(r.distribution)[:, 0]
    order = np.argsort(np.asarray(x))
    # monotone: the sorted sample is sent to the sorted grid
    np.testing.assert_allclose(f[order], np.sort(np.asarray(r.grid.points)[:, 0]))
    # and F_n^+- = 2 F_n - 1 up to the grid spacing 1/(n_R + 1)
    centred = 2.0 * (np.argsort(order) + 1) / (n + 1) - 1.0
    assert np.max(np.abs(f - centred)) <= 1.0 / (r.grid.n_radii + 1) + 1e-6
    assert np.all(np.asarray(r.signs)[:, 0] == np.sign(f))


def test_assignment_matches_brute_force(key):
    n = 7
    x = np.asarray(jax.random.normal(key, (n, 2)), dtype=np.float64)
    r = center_outward_ranks(x)
    u = np.asarray(r.grid.points, dtype=np.float64)
    best = min(
        itertools.permutations(range(n)),
        key=lambda p: sum(np.sum((x[i] - u[p[i]]) ** 2) for i in range(n)),
    )
    np.testing.assert_allclose(np.asarray(r.distribution), u[list(best)], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(r.ranks), np.asarray(r.grid.radial_ranks)[list(best)])


@pytest.mark.parametrize("law", ["gaussian", "skewed"])
def test_ranks_are_distribution_free(key, law):
    # n = 9 in d = 2: grid of 3 radii x 3 directions, no origin. Under any continuous law the
    # grid point given to x_1 is uniform over the 9 points. Chi-square test with 8 df at a
    # false-failure rate of 1e-6 over 900 independent samples.
    n, reps = 9, 900
    keys = jax.random.split(jax.random.fold_in(key, law == "skewed"), reps)
    if law == "gaussian":
        samples = jax.vmap(lambda k: jax.random.normal(k, (n, 2)))(keys)
    else:
        z = jax.vmap(lambda k: jax.random.exponential(k, (n, 2)))(keys)
        samples = jnp.stack([z[..., 0], z[..., 0] * 0.5 + z[..., 1] ** 2], axis=-1)
    grid = reference_grid(n, 2, dtype=jnp.float64 if samples.dtype == jnp.float64 else None)
    pts = np.asarray(grid.points)
    counts = np.zeros(n)
    for s in np.asarray(samples):
        first = np.asarray(center_outward_ranks(s, grid=grid).distribution)[0]
        counts[np.argmin(np.sum((pts - first) ** 2, axis=1))] += 1
    statistic = np.sum((counts - reps / n) ** 2 / (reps / n))
    assert statistic < stats.chi2.ppf(1 - 1e-6, df=n - 1)


def test_signs_and_origin(key):
    x = jax.random.normal(key, (12, 2))  # 3 radii x 4 directions, no origin; 13 -> 1 origin
    r = center_outward_ranks(jnp.concatenate([x, jnp.zeros((1, 2))]))
    norms = np.linalg.norm(np.asarray(r.signs), axis=1)
    assert r.grid.n_origin == 1
    np.testing.assert_allclose(norms[np.asarray(r.ranks) > 0], 1.0, atol=1e-6)
    assert np.all(norms[np.asarray(r.ranks) == 0] == 0.0)
    # the point at the sample's centre gets the origin
    assert int(r.ranks[-1]) == 0


@pytest.mark.parametrize(
    ("x", "kwargs", "match"),
    [
        (np.zeros((1, 2)), {}, "at least 2"),
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 1.0]]), {}, "finite"),
        (np.zeros((2, 2, 2)), {}, "dimension"),
        (np.ones((5, 2)), {"grid": reference_grid(6, 2)}, "grid must have 5 points"),
    ],
)
def test_bad_input(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        center_outward_ranks(x, **kwargs)


def test_float64_numpy_input_keeps_its_precision_without_x64(key):
    # x64 is off here: the JAX copy of x would be float32, whose spacing at 1e4 (~1e-3) wipes
    # out a spread of 1e-3. The assignment is invariant under translation and positive scaling
    # of x (both change every permutation's cost by the same amount), so the ranks of
    # 1e4 + 1e-3 z must equal those of z, computed on the float64 host copy.
    assert not jax.config.read("jax_enable_x64")
    z = np.asarray(jax.random.normal(key, (60, 2)), dtype=np.float64)
    far = 1e4 + 1e-3 * z
    assert len(np.unique(far.astype(np.float32), axis=0)) < 60  # float32 really loses it
    expected = center_outward_ranks(z)
    got = center_outward_ranks(far)
    np.testing.assert_array_equal(np.asarray(got.distribution), np.asarray(expected.distribution))
    np.testing.assert_array_equal(np.asarray(got.ranks), np.asarray(expected.ranks))
