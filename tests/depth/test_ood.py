"""OOD scores: LD-Fermat against an independent oracle, Mahalanobis and kNN (moons, ring)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from edtjax.depth import (
    auroc,
    fermat,
    fermat_distance_to_reference,
    fermat_fit,
    knn_distance_score,
    lens,
    lens_depth_fermat,
    lens_depth_from_distances,
    mahalanobis_depth_from_fit,
    mahalanobis_fit,
)


def _moons(key, n, noise=0.05):
    k1, k2, k3 = jax.random.split(key, 3)
    t = jax.random.uniform(k1, (n,)) * jnp.pi
    upper = jax.random.bernoulli(k2, 0.5, (n,))[:, None]
    x = jnp.where(
        upper,
        jnp.stack([jnp.cos(t), jnp.sin(t)], 1),
        jnp.stack([1 - jnp.cos(t), 0.5 - jnp.sin(t)], 1),
    )
    return x + noise * jax.random.normal(k3, (n, 2))


def _ring(key, n, noise=0.05):
    k1, k2 = jax.random.split(key)
    t = jax.random.uniform(k1, (n,)) * 2 * jnp.pi
    return jnp.stack([jnp.cos(t), jnp.sin(t)], 1) + noise * jax.random.normal(k2, (n, 2))


def _hanley_mcneil_se(a, n_in, n_out):
    q1, q2 = a / (2 - a), 2 * a**2 / (1 + a)
    var = (a * (1 - a) + (n_out - 1) * (q1 - a**2) + (n_in - 1) * (q2 - a**2)) / (n_in * n_out)
    return np.sqrt(max(var, 0.0))


def _far_from(key, generator, low, high, margin, n):
    curve = generator(jax.random.key(99), 4000, noise=0.0)
    c = jax.random.uniform(key, (20 * n, 2)) * (high - low) + low
    dmin = jnp.min(jnp.linalg.norm(c[:, None] - curve[None], axis=-1), axis=1)
    return c[dmin > margin][:n]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "generator", "low", "high"),
    [
        ("moons", _moons, jnp.array([-1.5, -1.0]), jnp.array([2.5, 1.5])),
        ("ring", _ring, jnp.array([-0.7, -0.7]), jnp.array([0.7, 0.7])),  # OOD in the hole
    ],
)
def test_ld_fermat_beats_mahalanobis_on_non_convex_data(key, name, generator, low, high):
    k1, k2, k3 = jax.random.split(key, 3)
    ref, x_in = generator(k1, 500), generator(k2, 300)
    x_out = _far_from(k3, generator, low, high, 0.3, 300)
    chex.assert_shape(x_out, (300, 2))
    graph = fermat_fit(ref, alpha=2.0, n_neighbors=10)
    ld = auroc(-lens_depth_fermat(graph, x_in), -lens_depth_fermat(graph, x_out))
    fit = mahalanobis_fit(ref)
    mah = auroc(-mahalanobis_depth_from_fit(fit, x_in), -mahalanobis_depth_from_fit(fit, x_out))
    knn = auroc(knn_distance_score(x_in, ref, n_neighbors=5), knn_distance_score(x_out, ref))
    print(f"{name}: AUROC LD-Fermat {ld:.4f}, Mahalanobis {mah:.4f}, kNN {knn:.4f}")
    se = np.hypot(_hanley_mcneil_se(float(ld), 300, 300), _hanley_mcneil_se(float(mah), 300, 300))
    assert ld - mah > 5 * se  # 5 standard errors of the difference (independence bound)
    assert ld > 0.95


def _oracle_fermat(x, z, alpha, k):
    """Independent Fermat distances: Dijkstra on the kNN graph with the queries as extra nodes.

    A query links (one way) to its ``k + 1`` nearest reference points, so no path between
    reference points or from a query can pass through a query; rows ``n:`` of the result are
    the query distances, rows ``:n`` the reference matrix (symmetrised with the minimum).
    """
    n, m = len(x), len(z)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nbr = np.argsort(d, axis=1)[:, :k]
    dz = np.linalg.norm(z[:, None] - x[None], axis=-1)
    znbr = np.argsort(dz, axis=1)[:, : k + 1]
    w = np.zeros((n + m, n + m))  # dense: 0 is "no edge"; no distance here is 0
    rows = np.arange(n)[:, None]
    w[rows, nbr] = d[rows, nbr] ** alpha
    w[nbr, rows] = d[rows, nbr] ** alpha
    w[n + np.arange(m)[:, None], znbr] = dz[np.arange(m)[:, None], znbr] ** alpha
    full = dijkstra(w, directed=True)
    return np.minimum(full[:n, :n], full[:n, :n].T), full[n:, :n]


def _lens_counts(a, d_ref):
    iu, ju = np.triu_indices(d_ref.shape[0], 1)
    return np.array([np.sum(np.maximum(r[iu], r[ju]) <= d_ref[iu, ju]) for r in a])


def test_lens_depth_fermat_counts_equal_an_independent_oracle(key, x64):
    # Points of the reference sample and fresh queries, float64: the depth times C(n, 2) must be
    # exactly the oracle's integer count. A sample point x_i lies in every lens with a vertex
    # x_i (exact ties max(0, D_im) = D_im), which a last-bit asymmetry of D used to half-count.
    k1, k2 = jax.random.split(key)
    n, k, alpha = 200, 8, 2.0
    x = np.asarray(jax.random.normal(k1, (n, 2), dtype=jnp.float64)) * np.array([3.0, 0.5])
    fresh = np.asarray(jax.random.normal(k2, (40, 2), dtype=jnp.float64)) * np.array([4.0, 1.0])
    graph = fermat_fit(x, alpha=alpha, n_neighbors=k)
    dist = np.asarray(graph.distances)
    np.testing.assert_array_equal(dist, dist.T)
    d_ref, d_fresh = _oracle_fermat(x, fresh, alpha, k)
    np.testing.assert_allclose(dist, d_ref, rtol=1e-12)
    pairs = n * (n - 1) // 2
    for z, d_query in ((x[:60], d_ref[:60]), (fresh, d_fresh)):
        np.testing.assert_allclose(fermat_distance_to_reference(graph, z), d_query, rtol=1e-12)
        count = np.asarray(lens_depth_fermat(graph, z)) * pairs
        assert np.all(np.abs(count - np.rint(count)) < 1e-9)  # whole counts, no halves
        np.testing.assert_array_equal(np.rint(count), _lens_counts(d_query, d_ref))


def test_float32_lens_depth_fermat_is_within_near_ties_of_the_oracle(key):
    # float32 distances carry relative errors below 1e-6 (see test_depth_fermat): a lens can
    # only flip where the float64 oracle's margin D_ij - max(a_i, a_j) is within 1e-5 D_ij of
    # zero, so |count32 - oracle| <= the number of such near ties (a deterministic bound). The
    # exact ties of a sample point's own lenses (margin 0) are not allowed to flip.
    k1, k2 = jax.random.split(key)
    n, k, alpha = 200, 8, 2.0
    x32 = jax.random.normal(k1, (n, 2)) * jnp.array([3.0, 0.5])
    fresh32 = jax.random.normal(k2, (40, 2)) * jnp.array([4.0, 1.0])
    x, fresh = np.asarray(x32, np.float64), np.asarray(fresh32, np.float64)
    graph = fermat_fit(x32, alpha=alpha, n_neighbors=k)
    d_ref, d_fresh = _oracle_fermat(x, fresh, alpha, k)
    iu, ju = np.triu_indices(n, 1)
    pairs = n * (n - 1) // 2
    for z32, d_query, own in ((x32[:60], d_ref[:60], True), (fresh32, d_fresh, False)):
        count = np.asarray(lens_depth_fermat(graph, z32), np.float64) * pairs
        assert np.all(np.abs(count - np.rint(count)) < 1e-2)  # whole counts (float32 ratio)
        oracle = _lens_counts(d_query, d_ref)
        for i, r in enumerate(d_query):
            margin = d_ref[iu, ju] - np.maximum(r[iu], r[ju])
            near = np.abs(margin) <= 1e-5 * d_ref[iu, ju]
            if own:
                near &= (iu != i) & (ju != i)
            assert abs(np.rint(count[i]) - oracle[i]) <= np.sum(near)


def test_lens_depth_fermat_is_lens_depth_of_fermat_distances(key):
    k1, k2 = jax.random.split(key)
    graph = fermat_fit(jax.random.normal(k1, (80, 2)), alpha=2.0, n_neighbors=6)
    z = jax.random.normal(k2, (7, 2))
    np.testing.assert_allclose(
        lens_depth_fermat(graph, z),
        lens_depth_from_distances(fermat_distance_to_reference(graph, z), graph.distances),
    )


def test_lens_depth_fermat_on_a_disconnected_graph_equals_the_oracle(key, x64):
    # two clusters 100 apart with k = 3: the kNN graph has two components, distances between
    # them are +inf, and a lens (x_i, x_j) across components holds every query reaching both.
    k1, k2 = jax.random.split(key)
    centres = np.array([[0.0, 0.0], [100.0, 100.0]])
    x = np.asarray(jax.random.normal(k1, (30, 2), dtype=jnp.float64)) + centres.repeat(15, 0)
    z = np.asarray(jax.random.normal(k2, (6, 2), dtype=jnp.float64)) + centres.repeat(3, 0)
    graph = fermat_fit(x, alpha=2.0, n_neighbors=3)
    d_ref, d_query = _oracle_fermat(x, z, 2.0, 3)
    assert np.isinf(np.asarray(graph.distances)).any()
    count = np.asarray(lens_depth_fermat(graph, z)) * (30 * 29 // 2)
    np.testing.assert_array_equal(np.rint(count), _lens_counts(d_query, d_ref))
    with pytest.raises(ValueError, match="d_ref_ref must not contain NaN"):
        lens_depth_from_distances(d_query, np.where(np.isinf(d_ref), np.nan, d_ref))


def test_knn_distance_exact_case():
    x = jnp.array([[3.0, 4.0], [6.0, 8.0], [0.0, 1.0]])
    z = jnp.zeros((1, 2))
    assert knn_distance_score(z, x, n_neighbors=1).tolist() == [1.0]
    assert knn_distance_score(z, x, n_neighbors=2).tolist() == [5.0]
    assert knn_distance_score(z, x, n_neighbors=3).tolist() == [10.0]


@pytest.mark.parametrize(("n", "k"), [(3000, 1), (3000, 7), (2000, 20), (50, 3)])
def test_knn_distance_equals_brute_force_with_ties(n, k, x64):
    # integer points: many exact ties and duplicates at the k-th distance; the candidate chunks
    # (n = 2000, 3000) and the all-candidates path (n = 50) must both give the exact k-th value.
    rng = np.random.default_rng(n + k)
    x = rng.integers(0, 6, (n, 3)).astype(np.float64)
    z = rng.integers(0, 6, (40, 3)) + 0.5 * (rng.random((40, 3)) < 0.5)
    dist = np.sqrt(np.sum((z[:, None] - x[None]) ** 2, axis=-1))
    expected = np.sort(dist, axis=1)[:, k - 1]
    np.testing.assert_array_equal(knn_distance_score(z, x, n_neighbors=k), expected)


def test_float32_knn_distance_far_from_the_origin_is_accurate(key):
    # |x|^2 ~ 5e8 in float32: the product identity on raw coordinates would round squared
    # distances by ~30, more than the distances themselves; centring and the direct
    # recomputation of the candidates' distances keep float32 relative accuracy.
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (4000, 5)) + 1e4
    z = jax.random.normal(k2, (30, 5)) + 1e4
    xd, zd = np.asarray(x, np.float64), np.asarray(z, np.float64)
    dist = np.sqrt(np.sum((zd[:, None] - xd[None]) ** 2, axis=-1))
    expected = np.sort(dist, axis=1)[:, 2]
    # differences of float32 inputs near 1e4 are exact; the sum of 5 squares and the square root
    # add a few float32 roundings: rtol 1e-6
    np.testing.assert_allclose(knn_distance_score(z, x, n_neighbors=3), expected, rtol=1e-6)


def test_knn_distance_gradient_is_the_unit_vector_from_the_kth_neighbour(key, x64):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (500, 3), dtype=jnp.float64)
    z = jax.random.normal(k2, (3,), dtype=jnp.float64) * 0.3
    grad = jax.grad(lambda q: knn_distance_score(q[None], x, n_neighbors=4)[0])(z)
    d = np.linalg.norm(np.asarray(x - z), axis=1)
    nearest4 = np.asarray(x)[np.argsort(d)[3]]
    unit = (np.asarray(z) - nearest4) / np.linalg.norm(np.asarray(z) - nearest4)
    np.testing.assert_allclose(grad, unit, rtol=1e-12)


@pytest.mark.parametrize(("n", "k"), [(300, 2), (50, 3)])
def test_knn_distance_agrees_jitted_and_not_jitted(key, n, k):
    # the docstring promises jit; both selection paths (candidate chunks for n = 300, all
    # candidates for n = 50) with queries and reference traced. XLA may fuse and reorder the
    # jitted float32 arithmetic by a few ulps: relative 1e-5 (~80 ulps), absolute 1e-6 near 0.
    k1, k2 = jax.random.split(key)
    x, z = jax.random.normal(k1, (n, 3)), 1.5 * jax.random.normal(k2, (11, 3))
    eager = knn_distance_score(z, x, n_neighbors=k)
    jitted = jax.jit(lambda q, ref: knn_distance_score(q, ref, n_neighbors=k))(z, x)
    chex.assert_shape(eager, (11,))
    chex.assert_trees_all_equal_shapes_and_dtypes(jitted, eager)
    chex.assert_trees_all_close(jitted, eager, rtol=1e-5, atol=1e-6)


def test_scores_do_not_retrace(key):
    k1, k2 = jax.random.split(key)
    graph = fermat_fit(jax.random.normal(k1, (30, 2)), n_neighbors=4)
    lens_depth_fermat(graph, jax.random.normal(k1, (3, 2)))
    before = fermat._to_reference._cache_size(), lens._weighted_from_distances._cache_size()
    lens_depth_fermat(graph, jax.random.normal(k2, (3, 2)))
    after = fermat._to_reference._cache_size(), lens._weighted_from_distances._cache_size()
    assert after == before


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_distance_score(jnp.zeros((1, 2)), x, n_neighbors=11)
    with pytest.raises(ValueError, match="n_neighbors"):
        knn_distance_score(jnp.zeros((1, 2)), x, n_neighbors=0)
    with pytest.raises(ValueError, match="x_query"):
        lens_depth_fermat(fermat_fit(x, n_neighbors=3), jnp.zeros((1, 3)))
