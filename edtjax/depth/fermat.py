"""Sample Fermat distance on a k-nearest-neighbour graph (Groisman, Jonckheere & Sapienza 2022).

For a sample ``Q`` and ``α >= 1`` the sample Fermat distance between ``x, y`` is

    ``D(x, y) = min over paths x = q_0, ..., q_K = y in Q ∪ {x, y} of Σ_k ‖q_{k+1} - q_k‖^α``.

Raising edge lengths to ``α > 1`` makes short hops cheap, so optimal paths run through dense
regions and along the data manifold: ``n^{(α-1)/d} D_Q,α`` converges to a density-weighted
geodesic distance with weight ``f^{(1-α)/d}`` (``d`` the intrinsic dimension). With high
probability the optimal paths only use edges between ``k``-nearest neighbours for
``k = O(log n)``, so the graph is restricted to the symmetrised kNN graph.

Fit (:func:`fermat_fit`) computes all-pairs graph distances on the reference set, picking the
algorithm by the backend that holds the reference sample:

* CPU: Dijkstra from every source (``scipy.sparse.csgraph.dijkstra``, compiled C, binary heap)
  on the sparse symmetrised graph, outside ``jit``, in float64: ``O(n · E log n)`` with
  ``E <= 2 n k`` edges, i.e. ``O(n² k log n)``; about 30 s at ``n = 10^4``, ``k = 10`` on two
  CPU cores.
* accelerators: repeated Bellman-Ford relaxation of every row along the padded neighbour lists,
  ``D[i, :] <- min(D[i, :], w_ij + D[j, :])``, until nothing changes, as dense gathers that
  parallelise over the ``n²`` entries: each sweep costs ``O(n² deg)`` work and the number of
  sweeps is the largest hop count of a shortest path (at most ``n``; ``O(n^{1/d})`` for a kNN
  graph on ``d``-dimensional data), so the total work grows faster than Dijkstra's and this path
  is only chosen where the parallel width pays for it.

Both return the same distances (up to float rounding). The distance is translation invariant,
and the fit subtracts a centre of the reference sample (its column mean rounded to a power of
two at the scale of the data, which makes the subtraction exact wherever the dtype allows;
stored as ``centre``) from the reference and query points before any distance: float32 holds
``x + c`` for a large offset ``c`` only to ``ulp(c) / 2``, and the squared norms that select the
neighbours would carry that error (at an offset of ``10^5`` the depth of
:func:`edtjax.depth.lens_depth_fermat` was off by 0.3). Memory is ``O(n²)``: the float64 result
plus its cast (1.2 GB at ``n = 10^4`` on CPU), or about three ``n × n`` arrays in the input dtype
on accelerators. Scoring (:func:`fermat_distance_to_reference`) adds each
query to the graph through its ``k + 1`` nearest reference points (what a reference point
sees: itself and its ``k`` neighbours, so ``k = n - 1`` links a query to every point, as in the
fit) and is one min-plus step, ``D(z, x_j) = min_{i ∈ N(z)} ‖z - x_i‖^α + D(x_i, x_j)``,
``O(m (n d + k n))``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from edtjax._checks import check_int, check_real
from edtjax._typing import ArrayLike
from edtjax.depth import _validate
from edtjax.depth._centring import coarse_centre

__all__ = ["FermatGraph", "fermat_distance", "fermat_distance_to_reference", "fermat_fit"]

_BATCH = 64


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["x_ref", "centre", "distances", "alpha"],
    meta_fields=["n_neighbors"],
)
@dataclasses.dataclass(frozen=True)
class FermatGraph:
    """A reference sample with its all-pairs sample Fermat distances.

    Attributes:
        x_ref: ``(n, d)`` reference sample.
        centre: ``(d,)`` a centre of the reference sample (its mean rounded to a power of two
            at the scale of the data), subtracted from reference and query points before
            distances are computed.
        distances: ``(n, n)`` sample Fermat distances on the symmetrised kNN graph.
        alpha: scalar exponent ``α >= 1``.
        n_neighbors: ``k``, the number of neighbours per point (static).
    """

    x_ref: jax.Array
    centre: jax.Array
    distances: jax.Array
    alpha: jax.Array
    n_neighbors: int


def _safe_power(sq: jax.Array, alpha: jax.Array) -> jax.Array:
    """``sqrt(sq) ** alpha`` with a zero value and zero gradient at ``sq = 0``."""
    positive = sq > 0
    return jnp.where(positive, jnp.where(positive, sq, 1.0) ** (alpha / 2), 0.0)


@functools.partial(jax.jit, static_argnames=("k",))
def _knn(x_ref: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    sq_norm = jnp.sum(x_ref**2, axis=1)
    sq = (
        sq_norm[:, None]
        + sq_norm[None, :]
        - 2 * jnp.matmul(x_ref, x_ref.T, precision=jax.lax.Precision.HIGHEST)
    )
    sq = jnp.where(jnp.eye(x_ref.shape[0], dtype=bool), jnp.inf, sq)
    _, idx = jax.lax.top_k(-sq, k)
    exact = jnp.sum((x_ref[:, None, :] - x_ref[idx]) ** 2, axis=-1)
    return idx, exact


def _symmetric_neighbours(idx: np.ndarray, sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Padded neighbour lists of the undirected kNN graph (pads point to self, weight inf)."""
    n, k = idx.shape
    src = np.concatenate([np.repeat(np.arange(n), k), idx.ravel()])
    dst = np.concatenate([idx.ravel(), np.repeat(np.arange(n), k)])
    val = np.concatenate([sq.ravel(), sq.ravel()])
    order = np.lexsort((dst, src))
    src, dst, val = src[order], dst[order], val[order]
    keep = np.ones(src.shape[0], dtype=bool)
    keep[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, val = src[keep], dst[keep], val[keep]
    degree = np.bincount(src, minlength=n)
    width = int(degree.max())
    start = np.concatenate([[0], np.cumsum(degree)[:-1]])
    slot = np.arange(src.shape[0]) - start[src]
    nbr = np.tile(np.arange(n)[:, None], (1, width))
    w = np.full((n, width), np.inf, dtype=sq.dtype)
    nbr[src, slot] = dst
    w[src, slot] = val
    return nbr, w


def _all_pairs_dijkstra(nbr: np.ndarray, sq: np.ndarray, alpha: float) -> np.ndarray:
    """All-pairs distances by Dijkstra from every source on the padded neighbour lists (float64)."""
    n = nbr.shape[0]
    edge = np.isfinite(sq)
    indptr = np.concatenate([[0], np.cumsum(edge.sum(axis=1))])
    weight = sq[edge].astype(np.float64) ** (alpha / 2)  # alpha >= 1, so 0 ** (alpha / 2) = 0
    # Built from (data, indices, indptr): no duplicate summing, and explicit zero weights
    # (duplicate points) stay edges. The lists are already symmetric, so directed=True.
    graph = csr_matrix((weight, nbr[edge], indptr), shape=(n, n))
    return _symmetrise_min(dijkstra(graph, directed=True))


def _symmetrise_min(dist: np.ndarray, block: int = 1024) -> np.ndarray:
    """``min(D, Dᵀ)`` in place, by blocks (no ``n × n`` temporary).

    The two orderings of a pair sum the same shortest path in opposite orders, so they can differ
    in the last bit; both are lengths of a shortest path and the smaller one is kept.
    """
    n = dist.shape[0]
    for s in range(0, n, block):
        for t in range(s, n, block):
            m = np.minimum(dist[s : s + block, t : t + block], dist[t : t + block, s : s + block].T)
            dist[s : s + block, t : t + block] = m
            dist[t : t + block, s : s + block] = m.T
    return dist


@jax.jit
def _all_pairs_relaxation(nbr: jax.Array, sq: jax.Array, alpha: jax.Array) -> jax.Array:
    n, width = nbr.shape
    w = jnp.where(
        jnp.isfinite(sq), _safe_power(jnp.where(jnp.isfinite(sq), sq, 1.0), alpha), jnp.inf
    )
    dist = jnp.full((n, n), jnp.inf, dtype=sq.dtype).at[jnp.arange(n), jnp.arange(n)].set(0.0)

    def sweep(dist: jax.Array) -> jax.Array:
        def relax(col: jax.Array, dist: jax.Array) -> jax.Array:
            return jnp.minimum(dist, dist[nbr[:, col], :] + w[:, col, None])

        return jax.lax.fori_loop(0, width, relax, dist)

    def cond(carry: tuple[jax.Array, jax.Array]) -> jax.Array:
        return carry[1]

    def body(carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        dist, _ = carry
        new = sweep(dist)
        return new, jnp.any(new < dist)

    dist, _ = jax.lax.while_loop(cond, body, (dist, jnp.asarray(True)))
    # Rows sum each path from opposite ends: keep the smaller of the two, as on CPU.
    return jnp.minimum(dist, dist.T)


def _platform(x: jax.Array) -> str:
    return next(iter(x.devices())).platform


def fermat_fit(x_ref: ArrayLike, *, alpha: float = 2.0, n_neighbors: int = 10) -> FermatGraph:
    """All-pairs sample Fermat distances on the symmetrised kNN graph of a reference sample.

    Args:
        x_ref: ``(n, d)`` reference sample, ``n >= 2``.
        alpha: ``α >= 1``; ``α = 1`` on the complete graph is the Euclidean distance.
        n_neighbors: ``k`` in ``[1, n - 1]``; ``k = n - 1`` is the complete graph (and queries
            scored by :func:`fermat_distance_to_reference` then link to every point too).

    Returns:
        :class:`FermatGraph`. Cost ``O(n² d)`` for the neighbours, then on CPU Dijkstra from
        every source, ``O(n² k log n)``, and on accelerators ``O(n² deg)`` per relaxation sweep
        (module docstring); memory ``O(n²)``. Not traceable (the graph is built in numpy and
        the CPU path runs compiled C): call it outside ``jit``. Pairs in different connected
        components of the graph are at distance ``inf``. The matrix is exactly symmetric: the
        two orderings of a pair, which sum a path in opposite orders, are replaced by the
        smaller of the two.

    Example:
        >>> import jax
        >>> from edtjax.depth import fermat_fit
        >>> graph = fermat_fit(jax.random.normal(jax.random.key(0), (200, 2)), alpha=2.0)
        >>> graph.distances.shape
        (200, 200)

    References:
        Groisman, P., Jonckheere, M. & Sapienza, F. (2022). Nonhomogeneous Euclidean first-passage
        percolation and distance learning. Bernoulli 28(1), 255-276.
    """
    x_ref = _validate.reference(x_ref, min_ref=2)
    alpha = check_real("alpha", alpha, minimum=1.0)
    n_neighbors = check_int("n_neighbors", n_neighbors, minimum=1, maximum=x_ref.shape[0] - 1)
    centre = _centre(x_ref)
    idx, sq = _knn(x_ref - centre, n_neighbors)
    nbr, sq_sym = _symmetric_neighbours(np.asarray(idx), np.asarray(sq))
    alpha_arr = jnp.asarray(alpha, x_ref.dtype)
    if _platform(x_ref) == "cpu":
        dist = jnp.asarray(_all_pairs_dijkstra(nbr, sq_sym, alpha).astype(x_ref.dtype))
    else:
        dist = _all_pairs_relaxation(jnp.asarray(nbr), jnp.asarray(sq_sym), alpha_arr)
    return FermatGraph(x_ref, centre, dist, alpha_arr, n_neighbors)


@jax.jit
def _centre(x_ref: jax.Array) -> jax.Array:
    return coarse_centre(x_ref)


def _query_one(z: jax.Array, x_ref: jax.Array, graph: FermatGraph) -> jax.Array:
    sq = jnp.sum((x_ref - z) ** 2, axis=1)
    _, idx = jax.lax.top_k(-sq, graph.n_neighbors + 1)
    first_hop = _safe_power(sq[idx], graph.alpha)
    return jnp.min(first_hop[:, None] + graph.distances[idx], axis=0)


@jax.jit
def _to_reference(graph: FermatGraph, x_query: jax.Array) -> jax.Array:
    # the same centred reference as in the fit (the same elementwise subtraction)
    x_ref = graph.x_ref - graph.centre
    return jax.lax.map(
        lambda z: _query_one(z, x_ref, graph), x_query - graph.centre, batch_size=_BATCH
    )


def fermat_distance_to_reference(graph: FermatGraph, x_query: ArrayLike) -> jax.Array:
    """Sample Fermat distances from queries to every reference point, one min-plus step.

    ``D(z, x_j) = min_{i ∈ N(z)} ‖z - x_i‖^α + D(x_i, x_j)``: the query joins the graph
    through the set ``N(z)`` of its ``k + 1`` nearest reference points, what a reference point
    sees of the sample: itself and its ``k`` nearest neighbours. So a query equal to a reference
    point ``x_i`` links to ``x_i`` (weight 0) and to the ``k`` neighbours ``x_i`` has in the fit,
    and reads ``D(x_i, ·)`` (up to rounding); with ``k = n - 1`` the query links to every
    reference point, the graph with the query is complete, and for ``α = 1`` the distances are
    Euclidean. Differentiable in ``x_query`` (almost everywhere).

    Args:
        graph: output of :func:`fermat_fit`.
        x_query: ``(m, d)`` query points.

    Returns:
        ``(m, n)`` distances. Cost ``O(m n (d + k))``, memory ``O(64 k n)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import fermat_distance_to_reference, fermat_fit
        >>> x = jnp.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
        >>> graph = fermat_fit(x, alpha=1.0, n_neighbors=2)  # complete graph
        >>> fermat_distance_to_reference(graph, jnp.array([[0.0, 4.0]])).tolist()
        [[4.0, 4.123105525970459, 5.0]]

    References:
        Groisman, P., Jonckheere, M. & Sapienza, F. (2022). Nonhomogeneous Euclidean first-passage
        percolation and distance learning. Bernoulli 28(1), 255-276.
    """
    x_query = _validate.query_for(x_query, graph.x_ref.shape[1], graph.x_ref.dtype)
    return _to_reference(graph, x_query)


def fermat_distance(
    x_query: ArrayLike, x_ref: ArrayLike, *, alpha: float = 2.0, n_neighbors: int = 10
) -> jax.Array:
    """Sample Fermat distances ``(m, n)`` from queries to a reference sample.

    Fits the reference graph (:func:`fermat_fit`) and scores the queries
    (:func:`fermat_distance_to_reference`); fit once and score many times when the reference
    set is reused. For ``α > 1`` the distances shrink with ``n``; multiply by
    ``n^{(α-1)/d}`` (``d`` the intrinsic dimension) to compare across sample sizes.

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample.
        alpha: ``α >= 1``.
        n_neighbors: ``k`` in ``[1, n - 1]``.

    Returns:
        ``(m, n)`` distances.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import fermat_distance
        >>> x = jax.random.normal(jax.random.key(0), (100, 2))
        >>> fermat_distance(jnp.zeros((3, 2)), x, alpha=2.0, n_neighbors=8).shape
        (3, 100)

    References:
        Groisman, P., Jonckheere, M. & Sapienza, F. (2022). Nonhomogeneous Euclidean first-passage
        percolation and distance learning. Bernoulli 28(1), 255-276.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, min_ref=2)
    graph = fermat_fit(x_ref, alpha=alpha, n_neighbors=n_neighbors)
    return fermat_distance_to_reference(graph, x_query)
