"""Exact planar halfspace and simplicial depths: brute force, data-depth, invariance."""

import itertools
from fractions import Fraction

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from edtjax.depth import halfspace_depth_planar, planar, simplicial_depth_planar


def _brute_simplicial(z, x):
    # barycentric coordinates of z in every one of the C(n, 3) triangles (closed simplices)
    i, j, k = np.array(list(itertools.combinations(range(len(x)), 3))).T
    a = np.stack([x[j] - x[i], x[k] - x[i]], axis=2)
    lam = np.linalg.solve(a, (z - x[i])[:, :, None])[:, :, 0]
    return float(np.mean(np.all(lam >= 0, axis=1) & (lam.sum(axis=1) <= 1)))


def _brute_simplicial_exact(z, x):
    # z in the convex hull of every triple, with exact orientation signs (integer coordinates):
    # inside a proper triangle when no two signs are opposite; inside a degenerate one (three
    # collinear points) when z is on their line and inside their bounding box.
    def orient(p, q, r):
        return np.sign(
            (q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1])
            - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0])
        )

    i, j, k = np.array(list(itertools.combinations(range(len(x)), 3))).T
    a, b, c = x[i], x[j], x[k]
    s = np.stack([orient(a, b, z), orient(b, c, z), orient(c, a, z)])
    proper = (np.all(s >= 0, axis=0) | np.all(s <= 0, axis=0)) & (orient(a, b, c) != 0)
    tri = np.stack([a, b, c])
    boxed = np.all((tri.min(axis=0) <= z) & (z <= tri.max(axis=0)), axis=1)
    flat = (orient(a, b, c) == 0) & np.all(s == 0, axis=0) & boxed
    count = int(np.sum(proper | flat))
    n = len(x)
    return count / (n * (n - 1) * (n - 2) // 6)


def _brute_halfspace(z, x):
    # the minimising closed half-plane has a boundary through z and, rotated, some x_i: it is
    # enough to test normals perpendicular to every x_i - z, nudged both ways.
    v = x - z
    t = (np.arctan2(v[:, 1], v[:, 0]) + np.pi / 2)[:, None] + np.array([1e-7, -1e-7])
    u = np.stack([np.cos(t.ravel()), np.sin(t.ravel())], axis=1)
    counts = np.sum(v @ np.concatenate([u, -u]).T >= 0, axis=0)
    return int(counts.min()) / len(x)


def test_against_brute_force(key, x64):
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.normal(k1, (13, 2), dtype=jnp.float64))
    z = np.asarray(jax.random.normal(k2, (6, 2), dtype=jnp.float64))
    np.testing.assert_allclose(
        simplicial_depth_planar(z, x), [_brute_simplicial(q, x) for q in z], atol=1e-12
    )
    np.testing.assert_allclose(
        halfspace_depth_planar(z, x), [_brute_halfspace(q, x) for q in z], atol=1e-12
    )


def test_float64_depths_are_exact_rationals(key, x64):
    # Both depths are ratios of integer counts: in float64 they must equal the correctly rounded
    # rational (rtol = 0; a float32 detour is off by ~1e-8), e.g. 1/3 for the centre of a
    # triangle, whose closed half-planes hold at least 1 of its 3 vertices.
    tri = [[1, 0], [-1, 1], [-1, -1]]
    third = halfspace_depth_planar(jnp.zeros((1, 2)), tri)
    chex.assert_type(third, jnp.float64)
    assert abs(float(third[0]) - 1 / 3) <= 1e-15
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.normal(k1, (13, 2), dtype=jnp.float64))
    z = np.asarray(jax.random.normal(k2, (8, 2), dtype=jnp.float64)) * 0.5
    half = np.asarray(halfspace_depth_planar(z, x))
    simp = np.asarray(simplicial_depth_planar(z, x))
    exact_half = [float(Fraction(round(_brute_halfspace(q, x) * 13), 13)) for q in z]
    exact_simp = [float(Fraction(round(_brute_simplicial(q, x) * 286), 286)) for q in z]
    assert len(set(exact_half)) > 2 and len(set(exact_simp)) > 2  # not only 0 and 1
    np.testing.assert_array_equal(half, exact_half)
    np.testing.assert_array_equal(simp, exact_simp)


@pytest.mark.slow
def test_against_brute_force_on_a_larger_anisotropic_sample(key, x64):
    # 60 points (34 220 triangles), stretched as in the peer comparison below
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.normal(k1, (60, 2), dtype=jnp.float64)) * [1.0, 0.3]
    z = np.asarray(jax.random.normal(k2, (40, 2), dtype=jnp.float64)) * [0.5, 0.15]
    half = [_brute_halfspace(q, x) for q in z]
    simp = [_brute_simplicial(q, x) for q in z]
    assert len(set(half)) > 3 and len(set(simp)) > 3
    np.testing.assert_allclose(halfspace_depth_planar(z, x), half, atol=1e-12)
    np.testing.assert_allclose(simplicial_depth_planar(z, x), simp, atol=1e-12)


def test_exact_ties_on_a_grid_against_brute_force(x64):
    # integer grid with repeated points: many reference points lie on common lines through the
    # queries (on both sides), some equal a query; integer coordinates make these ties exact.
    g = np.array([[i, j] for i in range(-2, 3) for j in range(-2, 3)], dtype=np.float64)
    x = np.concatenate([g, g[::3], [[4.0, 2.0], [-4.0, -2.0]]])
    z = np.concatenate([g[::2], [[0.5, 0.5], [0.0, 0.5], [2.0, 1.0]]])
    half = [_brute_halfspace(q, x) for q in z]
    simp = [_brute_simplicial_exact(q, x) for q in z]
    assert len(set(half)) > 3 and len(set(simp)) > 3
    np.testing.assert_array_equal(halfspace_depth_planar(z, x), half)
    np.testing.assert_array_equal(simplicial_depth_planar(z, x), simp)


def test_agrees_with_data_depth(key, x64):
    eucl = pytest.importorskip("depth.model.DepthEucl", reason="peer data-depth not installed")
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (400, 2), dtype=jnp.float64) * jnp.array([1.0, 0.3])
    z = jax.random.normal(k2, (60, 2), dtype=jnp.float64)
    model = eucl.DepthEucl().load_dataset(np.asarray(x))
    zn = np.asarray(z)
    np.testing.assert_allclose(halfspace_depth_planar(z, x), model.halfspace(zn), atol=1e-12)
    np.testing.assert_allclose(simplicial_depth_planar(z, x), model.simplicial(zn), atol=1e-10)


def _brute_simplicial_pairs(z, x):
    # in general position k_i = #{j : (x_i - z) × (x_j - z) > 0}, O(n^2) per query
    v = x - z
    k = np.sum(np.outer(v[:, 0], v[:, 1]) - np.outer(v[:, 1], v[:, 0]) > 0, axis=1)
    n = len(x)
    return 1 - np.sum(k * (k - 1) / 2) / (n * (n - 1) * (n - 2) / 6)


@pytest.mark.slow
def test_large_sample_sorted_by_xla_against_brute_force(key, x64):
    # above _NETWORK_MAX the keys go through XLA's sort instead of the network
    k1, k2 = jax.random.split(key)
    x = np.asarray(jax.random.normal(k1, (planar._NETWORK_MAX + 5, 2), dtype=jnp.float64))
    z = np.asarray(jax.random.normal(k2, (3, 2), dtype=jnp.float64)) * [0.5, 2.0]
    simp = [_brute_simplicial_pairs(q, x) for q in z]
    half = [_brute_halfspace(q, x) for q in z]
    assert len(set(half)) > 2
    np.testing.assert_allclose(simplicial_depth_planar(z, x), simp, atol=1e-12)
    np.testing.assert_allclose(halfspace_depth_planar(z, x), half, atol=1e-12)


@pytest.mark.slow
def test_network_sort_matches_numpy(key, x64):
    # powers of two from 1 to 256 (the depth tests at n = 1000 sort 1024 keys), few distinct
    # values (many ties), the padding key, and 64-bit keys differing only above bit 32
    sort = jax.jit(planar._network_sort)
    for size in (1, 2, 8, 256):
        key, sub = jax.random.split(key)
        small = jax.random.randint(sub, (size, 3), 0, size // 2 + 2).astype(jnp.uint32)
        keys = small.at[0].set(jnp.iinfo(jnp.uint32).max)
        np.testing.assert_array_equal(sort(keys), np.sort(keys, axis=0))
        wide = (small.astype(jnp.uint64) << 33) + 1
        np.testing.assert_array_equal(sort(wide), np.sort(wide, axis=0))


def test_grouped_scan_matches_numpy(key):
    # one row, one padded group, two groups (the second padded), many groups of 8 rows
    scans = jax.jit(lambda x: (planar._scan(jnp.add, x), planar._scan(jnp.maximum, x)))
    for size in (1, 5, 13, 64):
        key, sub = jax.random.split(key)
        x = jax.random.randint(sub, (size, 3), 0, 9, dtype=jnp.int32)
        total, running_max = scans(x)
        np.testing.assert_array_equal(total, np.cumsum(x, axis=0))
        np.testing.assert_array_equal(running_max, np.maximum.accumulate(x, axis=0))


def test_query_blocks_match_single_queries(key, monkeypatch):
    # one query more than a block holds: two blocks, the second padded when m is odd. The depth
    # is an integer count over n, so it does not depend on the blocks.
    monkeypatch.setattr(planar, "_BLOCK", 2**10)
    n = 100
    m = planar._BLOCK // n + 1
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (n, 2))
    z = jax.random.normal(k2, (m, 2))
    depth = halfspace_depth_planar(z, x)
    half = -(-m // 2)
    for i in (0, half - 1, half, m - 1):
        assert depth[i] == halfspace_depth_planar(z[i : i + 1], x)[0]


def test_points_on_the_sample_and_the_centre():
    square = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert float(halfspace_depth_planar(jnp.zeros((1, 2)), square)[0]) == 0.5
    # the centre lies in all 4 triangles (two of them on an edge): closed simplices
    assert float(simplicial_depth_planar(jnp.zeros((1, 2)), square)[0]) == 1.0
    # a vertex lies in the 3 triangles that use it, and its half-planes hold it and one more
    np.testing.assert_allclose(simplicial_depth_planar(square[:1], square), 0.75)
    np.testing.assert_allclose(halfspace_depth_planar(square[:1], square), 0.25)


@pytest.mark.slow
def test_affine_invariant(key):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (200, 2))
    z = jax.random.normal(k2, (30, 2))
    a = jnp.array([[1.5, 0.4], [-0.3, 0.8]])
    for f in (halfspace_depth_planar, simplicial_depth_planar):
        np.testing.assert_allclose(f(z @ a.T - 1.0, x @ a.T - 1.0), f(z, x), atol=1e-6)


def test_does_not_retrace(key):
    k1, k2 = jax.random.split(key)
    halfspace_depth_planar(jax.random.normal(k1, (5, 2)), jax.random.normal(k2, (30, 2)))
    before = planar._halfspace._cache_size()
    halfspace_depth_planar(jax.random.normal(k2, (5, 2)), jax.random.normal(k1, (30, 2)))
    assert planar._halfspace._cache_size() == before


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="dimension 2"):
        halfspace_depth_planar(jnp.zeros((1, 3)), jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match="x_query"):
        simplicial_depth_planar(jnp.zeros((1, 3)), x)
    with pytest.raises(ValueError, match="at least 3"):
        simplicial_depth_planar(jnp.zeros((1, 2)), x[:2])
    with pytest.raises(ValueError, match="x_ref"):
        halfspace_depth_planar(jnp.zeros((1, 2)), x.at[2].set(jnp.nan))
