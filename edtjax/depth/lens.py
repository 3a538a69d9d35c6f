"""Lens depth (Liu & Modarres 2011) and weighted lens depth, for any distance."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array, is_concrete
from edtjax._typing import ArrayLike
from edtjax.depth import _validate

__all__ = [
    "euclidean_distances",
    "lens_depth",
    "lens_depth_from_distances",
    "weighted_lens_depth",
    "weighted_lens_depth_from_distances",
]

_BATCH = 8

Distance = Callable[[jax.Array, jax.Array], jax.Array]


def euclidean_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """``(p, q)`` Euclidean distances between rows of ``a (p, d)`` and ``b (q, d)``.

    Computed from differences (not the Gram expansion) so that it is exact at zero and has a
    defined gradient away from coinciding points. Cost ``O(p q d)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import euclidean_distances
        >>> euclidean_distances(jnp.zeros((1, 2)), jnp.array([[3.0, 4.0]])).tolist()
        [[5.0]]
    """
    sq = jnp.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=-1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _pairs_inside(a: jax.Array, d_ref: jax.Array, weights: jax.Array) -> jax.Array:
    # weights are zero outside the upper triangle: each unordered pair is read once, at i < j,
    # so a tie max(a_i, a_j) = d_ij counts 1 (never 1/2 through a last-bit asymmetry of d_ref).
    inside = (a[:, None] <= d_ref) & (a[None, :] <= d_ref)
    return jnp.sum(jnp.where(inside, weights, 0.0))


@jax.jit
def _weighted_from_distances(
    d_query_ref: jax.Array, d_ref_ref: jax.Array, weights: jax.Array
) -> jax.Array:
    weights = jnp.triu(weights, k=1)
    total = jnp.sum(weights)
    counts = jax.lax.map(
        lambda a: _pairs_inside(a, d_ref_ref, weights), d_query_ref, batch_size=_BATCH
    )
    return counts / total


def _check_distances(d_query_ref: ArrayLike, d_ref_ref: ArrayLike) -> tuple[jax.Array, jax.Array]:
    # +inf is a distance (points in different components of a graph); NaN is not
    d_ref_ref = as_array("d_ref_ref", d_ref_ref, ndim=2, finite=False)
    d_query_ref = as_array("d_query_ref", d_query_ref, ndim=2, finite=False)
    for name, d in (("d_ref_ref", d_ref_ref), ("d_query_ref", d_query_ref)):
        if is_concrete(d) and bool(np.isnan(np.asarray(d)).any()):
            raise ValueError(f"{name} must not contain NaN (+inf marks unreachable points)")
    n = d_ref_ref.shape[0]
    if d_ref_ref.shape != (n, n):
        raise ValueError(f"d_ref_ref must be square, got shape {d_ref_ref.shape}")
    if n < 2:
        raise ValueError(f"d_ref_ref must describe at least 2 reference points, got {n}")
    if d_query_ref.shape[1] != n:
        raise ValueError(
            f"d_query_ref must have {n} columns (one per reference point), "
            f"got {d_query_ref.shape[1]}"
        )
    dtype = jnp.promote_types(jnp.result_type(d_query_ref, d_ref_ref), jnp.float32)
    return d_query_ref.astype(dtype), d_ref_ref.astype(dtype)


def lens_depth_from_distances(d_query_ref: ArrayLike, d_ref_ref: ArrayLike) -> jax.Array:
    """Lens depth from a query-to-reference and a reference-to-reference distance matrix.

    ``LD(z) = C(n, 2)⁻¹ Σ_{i<j} 1{max(δ(z, x_i), δ(z, x_j)) <= δ(x_i, x_j)}``: the fraction of
    "lenses" (intersections of the two balls of radius ``δ(x_i, x_j)`` centred at ``x_i`` and
    ``x_j``) that contain ``z``. Works for any distance ``δ``, e.g. the sample Fermat distance.

    Args:
        d_query_ref: ``(m, n)`` distances ``δ(z_a, x_i)``.
        d_ref_ref: ``(n, n)`` symmetric distances ``δ(x_i, x_j)``; only the upper triangle
            ``i < j`` is read. Entries may be ``+inf`` (points in different components of a
            graph, as in a disconnected :class:`edtjax.depth.FermatGraph`), not NaN.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n²)`` time, ``O(8 n²)`` memory.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import lens_depth_from_distances
        >>> x = jnp.array([0.0, 1.0, 2.0])
        >>> d = jnp.abs(x[:, None] - x[None, :])
        >>> lens_depth_from_distances(jnp.abs(1.0 - x)[None, :], d).tolist()
        [1.0]

    References:
        Liu, Z. & Modarres, R. (2011). Lens data depth and median. J. Nonparametric Stat.
        23(4), 1063-1074.
    """
    d_query_ref, d_ref_ref = _check_distances(d_query_ref, d_ref_ref)
    return _weighted_from_distances(d_query_ref, d_ref_ref, jnp.ones_like(d_ref_ref))


def lens_depth(
    x_query: ArrayLike, x_ref: ArrayLike, *, distance: Distance = euclidean_distances
) -> jax.Array:
    """Lens depth of queries in a reference sample under a distance (Euclidean by default).

    See :func:`lens_depth_from_distances` for the definition. In ``d = 1`` with the absolute
    distance, ``z`` lies in the lens of ``x_i, x_j`` iff it lies between them, so the population
    depth is ``2 F(z) (1 - F(z))``. Invariant under isometries of ``distance``.

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample, ``n >= 2``.
        distance: ``distance(a (p, d), b (q, d)) -> (p, q)``.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n²)`` plus the distance computations.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import lens_depth
        >>> x = jax.random.normal(jax.random.key(0), (100, 2))
        >>> lens_depth(jnp.zeros((1, 2)), x).shape
        (1,)

    References:
        Liu, Z. & Modarres, R. (2011). Lens data depth and median. J. Nonparametric Stat.
        23(4), 1063-1074.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, min_ref=2)
    return _lens(x_query, x_ref, distance)


@functools.partial(jax.jit, static_argnames=("distance",))
def _lens(x_query: jax.Array, x_ref: jax.Array, distance: Distance) -> jax.Array:
    d_ref = distance(x_ref, x_ref)
    return _weighted_from_distances(distance(x_query, x_ref), d_ref, jnp.ones_like(d_ref))


def weighted_lens_depth_from_distances(
    d_query_ref: ArrayLike, d_ref_ref: ArrayLike, *, bandwidth: float
) -> jax.Array:
    """Weighted lens depth from distance matrices.

    Each lens ``L(x_i, x_j)`` is weighted by a Gaussian kernel of its diameter,
    ``w_ij = exp(-(δ(x_i, x_j) / h)²)``, and the depth is the weighted fraction of lenses that
    contain ``z``: ``WLD(z) = Σ_{i<j} w_ij 1{z ∈ L(x_i, x_j)} / Σ_{i<j} w_ij``. Small lenses
    dominate, so the depth follows the local density and the shape of non-convex supports;
    ``h → ∞`` recovers :func:`lens_depth_from_distances`.

    Args:
        d_query_ref: ``(m, n)`` query-to-reference distances.
        d_ref_ref: ``(n, n)`` reference distances (upper triangle ``i < j`` read); ``+inf``
            allowed (weight 0), NaN not.
        bandwidth: ``h > 0``.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n²)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import weighted_lens_depth_from_distances
        >>> x = jnp.array([0.0, 1.0, 2.0])
        >>> d = jnp.abs(x[:, None] - x[None, :])
        >>> weighted_lens_depth_from_distances(jnp.abs(1.0 - x)[None, :], d, bandwidth=1.0).shape
        (1,)

    References:
        Cholaquidis, A., Fraiman, R., Gamboa, F. & Moreno, L. (2023). Weighted lens depth: some
        applications to supervised classification. Canad. J. Statist. 51(2), 652-673.
    """
    d_query_ref, d_ref_ref = _check_distances(d_query_ref, d_ref_ref)
    bandwidth = _validate.positive_real("bandwidth", bandwidth)
    weights = jnp.exp(-((d_ref_ref / bandwidth) ** 2))
    return _weighted_from_distances(d_query_ref, d_ref_ref, weights)


def weighted_lens_depth(
    x_query: ArrayLike,
    x_ref: ArrayLike,
    *,
    bandwidth: float,
    distance: Distance = euclidean_distances,
) -> jax.Array:
    """Weighted lens depth of queries in a reference sample under a distance.

    See :func:`weighted_lens_depth_from_distances` for the definition.

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample, ``n >= 2``.
        bandwidth: ``h > 0``, the lens diameter scale.
        distance: ``distance(a (p, d), b (q, d)) -> (p, q)``.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n²)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import weighted_lens_depth
        >>> x = jax.random.normal(jax.random.key(0), (100, 2))
        >>> weighted_lens_depth(jnp.zeros((1, 2)), x, bandwidth=1.0).shape
        (1,)

    References:
        Cholaquidis, A., Fraiman, R., Gamboa, F. & Moreno, L. (2023). Weighted lens depth: some
        applications to supervised classification. Canad. J. Statist. 51(2), 652-673.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, min_ref=2)
    bandwidth = _validate.positive_real("bandwidth", bandwidth)
    return _weighted_lens(x_query, x_ref, jnp.asarray(bandwidth, x_ref.dtype), distance)


@functools.partial(jax.jit, static_argnames=("distance",))
def _weighted_lens(
    x_query: jax.Array, x_ref: jax.Array, bandwidth: jax.Array, distance: Distance
) -> jax.Array:
    d_ref = distance(x_ref, x_ref)
    weights = jnp.exp(-((d_ref / bandwidth) ** 2))
    return _weighted_from_distances(distance(x_query, x_ref), d_ref, weights)
