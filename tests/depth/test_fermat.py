"""Sample Fermat distance: Euclidean limit, Dijkstra peer, arc length on a circle, gradients."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

from edtjax.depth import fermat, fermat_distance, fermat_distance_to_reference, fermat_fit


def test_alpha_one_on_the_complete_graph_is_euclidean(key):
    x = jax.random.normal(key, (80, 3))
    graph = fermat_fit(x, alpha=1.0, n_neighbors=79)
    euclid = jnp.linalg.norm(x[:, None] - x[None], axis=-1)
    np.testing.assert_allclose(graph.distances, euclid, atol=2e-6)


def test_alpha_one_complete_graph_queries_are_euclidean(key, x64):
    # k = n - 1: a query links to every reference point (k + 1 = n of them), so with alpha = 1
    # the triangle inequality makes the direct hop optimal: D(z, x_j) = |z - x_j| to rounding.
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (80, 3), dtype=jnp.float64)
    z = 2.0 * jax.random.normal(k2, (20, 3), dtype=jnp.float64)
    graph = fermat_fit(x, alpha=1.0, n_neighbors=79)
    euclid = np.linalg.norm(np.asarray(z)[:, None] - np.asarray(x)[None], axis=-1)
    np.testing.assert_allclose(fermat_distance_to_reference(graph, z), euclid, rtol=1e-13)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_distance_matrix_is_exactly_symmetric(key, x64, dtype):
    # Dijkstra from i and from j sum the same path in opposite orders: without symmetrising,
    # most pairs differed in the last bit (and a lens count over ordered pairs saw halves).
    x = jax.random.normal(key, (150, 2), dtype=dtype) * jnp.array([3.0, 0.5], dtype)
    graph = fermat_fit(x, alpha=2.0, n_neighbors=8)
    chex.assert_type(graph.distances, dtype)
    np.testing.assert_array_equal(graph.distances, graph.distances.T)
    idx, sq = fermat._knn(x, 8)
    nbr, w = fermat._symmetric_neighbours(np.asarray(idx), np.asarray(sq))
    swept = fermat._all_pairs_relaxation(jnp.asarray(nbr), jnp.asarray(w), jnp.asarray(2.0, dtype))
    np.testing.assert_array_equal(swept, swept.T)


def test_agrees_with_dijkstra_on_the_same_knn_graph(key, x64):
    x = np.asarray(jax.random.normal(key, (250, 2), dtype=jnp.float64))
    k, alpha = 5, 2.5
    graph = fermat_fit(x, alpha=alpha, n_neighbors=k)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    nbr = np.argsort(d, axis=1)[:, :k]
    rows = np.repeat(np.arange(250), k)
    w = coo_matrix((d[rows, nbr.ravel()] ** alpha, (rows, nbr.ravel())), shape=(250, 250))
    peer = shortest_path(w.tocsr(), method="D", directed=False)
    np.testing.assert_allclose(graph.distances, peer, rtol=1e-10)


def test_dijkstra_fit_equals_relaxation_on_a_random_graph(key, x64):
    # Two well separated clusters (k = 4 keeps them disconnected: inf across) and a duplicated
    # point (a zero-weight edge): the CPU fit (Dijkstra) and the accelerator fit (relaxation
    # sweeps) must give the same matrix; both are exact in float64, so rtol 1e-12.
    k1, k2 = jax.random.split(key)
    a = jax.random.normal(k1, (90, 2), dtype=jnp.float64)
    b = jax.random.normal(k2, (60, 2), dtype=jnp.float64) + 100.0
    x = jnp.concatenate([a, b, a[:1]])
    alpha = 1.7
    graph = fermat_fit(x, alpha=alpha, n_neighbors=4)
    idx, sq = fermat._knn(x, 4)
    nbr, w = fermat._symmetric_neighbours(np.asarray(idx), np.asarray(sq))
    old = fermat._all_pairs_relaxation(jnp.asarray(nbr), jnp.asarray(w), jnp.asarray(alpha))
    dist = np.asarray(graph.distances)
    chex.assert_type(graph.distances, jnp.float64)
    assert np.all(np.isinf(dist[:90, 90:150])) and np.all(np.isfinite(dist[:90, :90]))
    assert dist[0, 150] == 0.0
    np.testing.assert_allclose(dist, np.asarray(old), rtol=1e-12)


def test_float32_fit_matches_float64_dijkstra(key):
    # The CPU fit runs Dijkstra in float64 and rounds once: 1e-6 relative to the float64 fit of
    # the same float32 sample (the float32 kNN distances carry ~1e-7 relative error).
    x = jax.random.normal(key, (300, 2))
    graph = fermat_fit(x, alpha=2.0, n_neighbors=10)
    chex.assert_type(graph.distances, jnp.float32)
    d = np.linalg.norm(
        np.asarray(x, np.float64)[:, None] - np.asarray(x, np.float64)[None], axis=-1
    )
    np.fill_diagonal(d, np.inf)
    nbr = np.argsort(d, axis=1)[:, :10]
    rows = np.repeat(np.arange(300), 10)
    w = coo_matrix((d[rows, nbr.ravel()] ** 2, (rows, nbr.ravel())), shape=(300, 300))
    peer = shortest_path(w.tocsr(), method="D", directed=False)
    np.testing.assert_allclose(graph.distances, peer, rtol=1e-6)


def test_circle_distance_is_proportional_to_arc_length(key):
    n = 600
    h = 2 * np.pi / n
    theta = (jnp.arange(n) + jax.random.uniform(key, (n,))) * h  # stratified uniform on circle
    x = jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)
    graph = fermat_fit(x, alpha=2.0, n_neighbors=4)
    arc = np.asarray(theta - theta[0])
    sel = (arc > np.pi / 4) & (arc < 3 * np.pi / 4)
    # alpha = 2 never skips a point, so D = sum of squared spacings s_i = h (1 + V_i): the V_i
    # telescope and E[s^2] = 7/6 h^2, so D = 7/6 h arc (1 + e), sd(e) <= 0.17 / sqrt(N) with
    # N >= 75 spacings, plus O(1/N) ends: 5 sd + 4/N < 0.15.
    ratio = np.asarray(graph.distances[0])[sel] / (7 / 6 * h * arc[sel])
    np.testing.assert_allclose(ratio, 1.0, atol=0.15)
    # proportional: one constant for all arcs, much tighter than the level itself.
    assert np.std(ratio) < 0.05


def test_query_on_a_reference_point_reads_its_row(key):
    x = jax.random.normal(key, (100, 2))
    graph = fermat_fit(x, alpha=3.0, n_neighbors=6)
    np.testing.assert_allclose(
        fermat_distance_to_reference(graph, x[:5]), graph.distances[:5], atol=1e-6
    )
    np.testing.assert_allclose(
        fermat_distance(x[:5], x, alpha=3.0, n_neighbors=6), graph.distances[:5], atol=1e-6
    )


@pytest.mark.slow
def test_gradient_in_the_query_matches_finite_differences(key, x64):
    k1, k2 = jax.random.split(key)
    x = jax.random.normal(k1, (60, 2), dtype=jnp.float64)
    graph = fermat_fit(x, alpha=2.0, n_neighbors=5)
    z0 = jax.random.normal(k2, (2,), dtype=jnp.float64) * 0.3

    def f(z):
        return jnp.sum(fermat_distance_to_reference(graph, z[None])[0, :10])

    eps = 1e-6
    fd = jnp.array([(f(z0 + eps * e) - f(z0 - eps * e)) / (2 * eps) for e in jnp.eye(2)])
    np.testing.assert_allclose(jax.grad(f)(z0), fd, rtol=1e-5)


def test_scoring_does_not_retrace(key):
    k1, k2 = jax.random.split(key)
    graph = fermat_fit(jax.random.normal(k1, (40, 2)), n_neighbors=5)
    fermat_distance_to_reference(graph, jax.random.normal(k1, (3, 2)))
    before = fermat._to_reference._cache_size()
    fermat_distance_to_reference(graph, jax.random.normal(k2, (3, 2)))
    assert fermat._to_reference._cache_size() == before


def test_bad_input(key):
    x = jax.random.normal(key, (10, 2))
    with pytest.raises(ValueError, match="alpha"):
        fermat_fit(x, alpha=0.5)
    with pytest.raises(ValueError, match="n_neighbors"):
        fermat_fit(x, n_neighbors=0)
    with pytest.raises(ValueError, match="n_neighbors"):
        fermat_fit(x, n_neighbors=10)
    with pytest.raises(ValueError, match="x_ref"):
        fermat_fit(x.at[1, 1].set(jnp.nan))
    with pytest.raises(ValueError, match="x_ref"):
        fermat_fit(jnp.zeros((0, 2)))
    graph = fermat_fit(x, n_neighbors=3)
    with pytest.raises(ValueError, match="x_query"):
        fermat_distance_to_reference(graph, jnp.zeros((1, 3)))
