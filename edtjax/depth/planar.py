"""Exact halfspace and simplicial depths in the plane by an angular sweep.

For a query ``z`` the reference points are sorted by their angle around ``z`` (one integer sort
of pseudo-angle keys, no ``atan2``); both depths are then counts of points in half-planes through
``z``, read off the sorted keys with prefix sums: ``O(n log n)`` per query, vectorised over
blocks of queries. Collinear points and duplicates are exact ties: opposite directions share a
key, so a point on a line through ``z`` is counted on the side it lies on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from edtjax._typing import ArrayLike
from edtjax.depth import _validate

__all__ = ["halfspace_depth_planar", "simplicial_depth_planar"]

_BATCH = 256  # queries sorted together: memory O(_BATCH n)


def _sorted_keys(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    """Sorted integer keys ``2 bits(q) + side`` of the directions ``x_i - z``.

    A direction is reflected into the upper half-plane (``side`` 1 if it was reflected) and its
    angle in ``[0, π)`` replaced by the monotone pseudo-angle ``q ∈ [0, 2]`` (no ``atan2``);
    opposite directions get the same ``q`` exactly. Non-negative floats sort like their bit
    patterns, so one unsigned integer sort orders by line, then side. Points equal to ``z`` get
    the largest key and sort last.
    """
    diff = x_ref - z
    dx, dy = diff[:, 0], diff[:, 1]
    upper = (dy > 0) | ((dy == 0) & (dx > 0))
    valid = (dx != 0) | (dy != 0)
    ax = jnp.where(upper, dx, -dx)
    ay = jnp.where(upper, dy, -dy)
    r = ay / (jnp.abs(ax) + ay)
    q = jnp.where(ax >= 0, r, 2.0 - r)
    utype = jnp.uint64 if x_ref.dtype == jnp.float64 else jnp.uint32
    top = jnp.array(jnp.iinfo(utype).max, utype)
    bits = jax.lax.bitcast_convert_type(q, utype) & (top >> 1)  # drop the sign of -0.0
    key = (bits << 1) | (~upper).astype(utype)
    return jnp.sort(jnp.where(valid, key, top))


def _prefix_side1(key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``valid``, ``side1`` flags of sorted keys and ``p1[t] = #{side-1 points among the first
    t}`` (length ``n + 1``)."""
    valid = key != jnp.array(jnp.iinfo(key.dtype).max, key.dtype)
    side1 = valid & ((key & 1) == 1)
    p1 = jnp.concatenate([jnp.zeros(1, jnp.int32), jnp.cumsum(side1, dtype=jnp.int32)])
    return valid, side1, p1


def _halfspace_one(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    n = x_ref.shape[0]
    key = _sorted_keys(z, x_ref)
    valid, _, p1 = _prefix_side1(key)
    line = key >> 1
    # At the first point of each line, p1 and its complement count the points of either side
    # on smaller lines: l1, l0. The open half-plane starting at side 0 of that line holds the
    # side-0 points on this or larger lines and the side-1 points on smaller ones (and the
    # reverse for side 1); the largest of these counts, over all lines, is max_j c_j.
    first = jnp.concatenate([jnp.ones(1, bool), line[1:] != line[:-1]]) & valid
    l1 = p1[:-1]
    l0 = jnp.arange(n, dtype=jnp.int32) - l1
    n1 = p1[-1]
    n0 = jnp.sum(valid, dtype=jnp.int32) - n1
    c = jnp.maximum(n0 - l0 + l1, n1 - l1 + l0)
    return n - jnp.max(jnp.where(first, c, 0))


def _simplicial_one(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    n = x_ref.shape[0]
    key = _sorted_keys(z, x_ref)
    valid, side1, p1 = _prefix_side1(key)
    line = key >> 1
    # First and one-past-last sorted positions of each point's line (ties in angle).
    idx = jnp.arange(n, dtype=jnp.int32)
    change = line[1:] != line[:-1]
    first = jnp.where(jnp.concatenate([jnp.ones(1, bool), change]), idx, 0)
    start = jax.lax.associative_scan(jnp.maximum, first)
    last = jnp.where(jnp.concatenate([change, jnp.ones(1, bool)]), -(idx + 1), -n)
    end = -jax.lax.associative_scan(jnp.maximum, last, reverse=True)
    l1, u1 = p1[start], p1[end]
    l0, u0 = start - l1, end - u1
    n1 = p1[-1]
    n0 = jnp.sum(valid, dtype=jnp.int32) - n1
    # k_i = #{j : θ_j - θ_i mod 2π ∈ (0, π)} (the points of the same side on larger lines and of
    # the other side on smaller lines) + the points at angle θ_i after x_i in sorted order (the
    # rest of its run of equal keys). Triangles missing z have their vertices in an open
    # half-turn and are counted once, at their first vertex in that order (Rousseeuw & Ruts 1996).
    strict = jnp.where(side1, n1 - u1 + l0, n0 - u0 + l1)
    after = jnp.where(side1, end, start + u0 - l0) - 1 - idx
    k = (strict + after).astype(x_ref.dtype)
    return jnp.sum(jnp.where(valid, k * (k - 1) / 2, 0.0))


@jax.jit
def _halfspace(x_query: jax.Array, x_ref: jax.Array, n: jax.Array) -> jax.Array:
    # ``n`` is an ``(m,)`` argument, not a constant or a broadcast scalar: XLA turns division by
    # either into multiplication by a rounded reciprocal, and the depth is the correctly rounded
    # ratio of counts.
    inside = jax.lax.map(lambda z: _halfspace_one(z, x_ref), x_query, batch_size=_BATCH)
    return inside.astype(x_ref.dtype) / n


@jax.jit
def _simplicial(x_query: jax.Array, x_ref: jax.Array, total: jax.Array) -> jax.Array:
    # ``total`` = C(n, 3) repeated ``(m,)`` times, for a true division as in _halfspace
    missing = jax.lax.map(lambda z: _simplicial_one(z, x_ref), x_query, batch_size=_BATCH)
    return (total - missing) / total


def halfspace_depth_planar(x_query: ArrayLike, x_ref: ArrayLike) -> jax.Array:
    """Exact Tukey halfspace depth in ``d = 2`` by angular sweep.

    ``D(z) = min over closed half-planes H ∋ z of #{i : x_i ∈ H} / n``. With ``θ_i`` the angles
    of ``x_i - z`` (points equal to ``z`` lie in every half-plane), the complement of a closed
    half-plane is an open one, whose largest count is ``max_j #{i : θ_i - θ_j mod 2π ∈ [0, π)}``,
    so ``D(z) = (n - max_j c_j) / n``. Ties in angle are resolved at floating-point precision.

    Args:
        x_query: ``(m, 2)`` query points.
        x_ref: ``(n, 2)`` reference sample.

    Returns:
        ``(m,)`` depths in ``{0, 1/n, ..., 1}``. Cost ``O(m n log n)`` time, ``O(256 n)`` memory.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import halfspace_depth_planar
        >>> x = jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        >>> float(halfspace_depth_planar(jnp.zeros((1, 2)), x)[0])
        0.5

    References:
        Rousseeuw, P. J. & Ruts, I. (1996). Algorithm AS 307: Bivariate location depth. J. R.
        Stat. Soc. C 45(4), 516-526. Tukey, J. W. (1975). Mathematics and the picturing of data.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, dim=2)
    return _halfspace(x_query, x_ref, jnp.full(x_query.shape[0], x_ref.shape[0], x_ref.dtype))


def simplicial_depth_planar(x_query: ArrayLike, x_ref: ArrayLike) -> jax.Array:
    """Exact simplicial depth in ``d = 2``: the fraction of the ``C(n, 3)`` closed triangles
    with vertices in the reference sample that contain ``z``.

    A triangle misses ``z`` when its vertices' angles around ``z`` lie in an open half-turn.
    With ``k_i`` the number of reference points whose angle lies in ``(θ_i, θ_i + π)`` or
    equals ``θ_i`` and comes after ``x_i`` in a fixed order, the triangles that miss ``z``
    number ``Σ_i C(k_i, 2)``, so ``D(z) = 1 - Σ_i C(k_i, 2) / C(n, 3)``. Points on a line
    through ``z`` (exact ties, e.g. on a grid) and points equal to ``z`` are handled exactly.
    In ``d = 1`` the analogue is ``2 F (1 - F)``.

    Args:
        x_query: ``(m, 2)`` query points.
        x_ref: ``(n, 2)`` reference sample, ``n >= 3``.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n log n)`` time, ``O(256 n)`` memory.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.depth import simplicial_depth_planar
        >>> x = jnp.array([[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]])
        >>> float(simplicial_depth_planar(jnp.zeros((1, 2)), x)[0])
        1.0

    References:
        Liu, R. Y. (1990). On a notion of data depth based on random simplices. Ann. Statist.
        18(1), 405-414. Rousseeuw, P. J. & Ruts, I. (1996). Algorithm AS 307: Bivariate location
        depth. J. R. Stat. Soc. C 45(4), 516-526.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, min_ref=3, dim=2)
    n = x_ref.shape[0]
    total = jnp.full(x_query.shape[0], n * (n - 1) * (n - 2) // 6, x_ref.dtype)
    return _simplicial(x_query, x_ref, total)
