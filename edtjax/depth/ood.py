"""Out-of-distribution scores: lens depth with the sample Fermat distance, kNN distance."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from edtjax.depth import _validate
from edtjax.depth.fermat import FermatGraph, _to_reference
from edtjax.depth.lens import _weighted_from_distances

__all__ = ["knn_distance_score", "lens_depth_fermat"]

_BATCH = 256


@jax.jit
def _ld_fermat(graph: FermatGraph, x_query: jax.Array) -> jax.Array:
    d_query = _to_reference(graph, x_query)
    return _weighted_from_distances(d_query, graph.distances, jnp.ones_like(graph.distances))


def lens_depth_fermat(graph: FermatGraph, x_query: Any) -> jax.Array:
    """LD-Fermat: lens depth of queries under the sample Fermat distance of the reference set.

    ``LD(z) = C(n, 2)⁻¹ Σ_{i<j} 1{max(D(z, x_i), D(z, x_j)) <= D(x_i, x_j)}`` with ``D`` the
    sample Fermat distance (:func:`edtjax.depth.fermat_fit`). Because ``D`` follows the density
    and shape of the reference set, the lenses hug non-convex supports (moons, rings), so low
    depth flags out-of-distribution inputs without a parametric model; use ``-depth`` as the OOD
    score.

    Args:
        graph: a fitted :class:`edtjax.depth.FermatGraph`.
        x_query: ``(m, d)`` query points.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n (d + k) + m n²)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import fermat_fit, lens_depth_fermat
        >>> graph = fermat_fit(jax.random.normal(jax.random.key(0), (100, 2)), n_neighbors=8)
        >>> lens_depth_fermat(graph, jnp.zeros((2, 2))).shape
        (2,)

    References:
        Nguyen, H. L., Elhajji, A., Nguyen, T. & Dao, N. (2024). Combining statistical depth and
        Fermat distance for uncertainty quantification. NeurIPS 2024. Liu, Z. & Modarres, R.
        (2011). Lens data depth and median. J. Nonparametric Stat. 23(4), 1063-1074.
    """
    x_query = _validate.query_for(x_query, graph.x_ref.shape[1], graph.x_ref.dtype)
    return _ld_fermat(graph, x_query)


def _kth_distance(z: jax.Array, x_ref: jax.Array, k: int) -> jax.Array:
    sq = jnp.sum((x_ref - z) ** 2, axis=1)
    kth = -jax.lax.top_k(-sq, k)[0][k - 1]
    positive = kth > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, kth, 1.0)), 0.0)


@functools.partial(jax.jit, static_argnames=("k",))
def _knn_score(x_query: jax.Array, x_ref: jax.Array, k: int) -> jax.Array:
    return jax.lax.map(lambda z: _kth_distance(z, x_ref, k), x_query, batch_size=_BATCH)


def knn_distance_score(x_query: Any, x_ref: Any, *, n_neighbors: int = 1) -> jax.Array:
    """Distance from each query to its ``k``-th nearest reference point (higher = more OOD).

    The non-parametric baseline of Sun, Ming, Zhu & Li (2022).

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample.
        n_neighbors: ``k`` in ``[1, n]``.

    Returns:
        ``(m,)`` distances. Cost ``O(m n d)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import knn_distance_score
        >>> knn_distance_score(jnp.zeros((1, 2)), jnp.array([[3.0, 4.0], [6.0, 8.0]])).tolist()
        [5.0]

    References:
        Sun, Y., Ming, Y., Zhu, X. & Li, Y. (2022). Out-of-distribution detection with deep
        nearest neighbors. ICML 2022.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref)
    k = _validate.positive_int("n_neighbors", n_neighbors)
    if k > x_ref.shape[0]:
        raise ValueError(f"n_neighbors must be <= {x_ref.shape[0]} (rows of x_ref), got {k}")
    return _knn_score(x_query, x_ref, k)
