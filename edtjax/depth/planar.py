"""Exact halfspace and simplicial depths in the plane by an angular sweep.

For a query ``z`` the reference points are sorted by their angle around ``z``; both depths are
then counts of points in half-planes through ``z``, read off the sorted angles with binary
searches: ``O(n log n)`` per query, vectorised over queries.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from edtjax.depth import _validate

__all__ = ["halfspace_depth_planar", "simplicial_depth_planar"]

_BATCH = 64
_PAST = 10.0  # sorts after every angle in [-pi, pi] shifted by +pi


def _sorted_angles(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    diff = x_ref - z
    valid = jnp.any(diff != 0, axis=1)
    theta = jnp.arctan2(diff[:, 1], diff[:, 0])
    return jnp.sort(jnp.where(valid, theta, _PAST))


def _arc_counts(s: jax.Array, *, closed_start: bool) -> jax.Array:
    """For each sorted angle ``s_j``: ``#{i : s_i - s_j mod 2 pi in [0, pi)}`` when
    ``closed_start``, else in ``(0, pi)`` (three binary searches, ``O(n log n)``)."""
    return (
        jnp.searchsorted(s, s + jnp.pi, side="left")
        - jnp.searchsorted(s, s, side="left" if closed_start else "right")
        + jnp.searchsorted(s, s - jnp.pi, side="left")
    )


def _halfspace_one(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    n = x_ref.shape[0]
    s = _sorted_angles(z, x_ref)
    valid_sorted = s < _PAST
    # c_j = #{i : theta_i - s_j mod 2 pi in [0, pi)}: the largest open half-plane count.
    c = jnp.where(valid_sorted, _arc_counts(s, closed_start=True), 0)
    # searchsorted counts are int32: cast before dividing, or int32 / int rounds via float32.
    return (n - jnp.max(c)).astype(x_ref.dtype) / n


def _simplicial_one(z: jax.Array, x_ref: jax.Array) -> jax.Array:
    n = x_ref.shape[0]
    s = _sorted_angles(z, x_ref)
    valid_sorted = s < _PAST
    # k_i = #{j : theta_j - s_i mod 2 pi in (0, pi)}; triangles missing z are counted once,
    # at their first vertex in counter-clockwise order (Rousseeuw & Ruts 1996).
    k = _arc_counts(s, closed_start=False).astype(x_ref.dtype)
    missing = jnp.sum(jnp.where(valid_sorted, k * (k - 1) / 2, 0.0))
    total = n * (n - 1.0) * (n - 2.0) / 6.0
    return (total - missing) / total


@jax.jit
def _halfspace(x_query: jax.Array, x_ref: jax.Array) -> jax.Array:
    return jax.lax.map(lambda z: _halfspace_one(z, x_ref), x_query, batch_size=_BATCH)


@jax.jit
def _simplicial(x_query: jax.Array, x_ref: jax.Array) -> jax.Array:
    return jax.lax.map(lambda z: _simplicial_one(z, x_ref), x_query, batch_size=_BATCH)


def halfspace_depth_planar(x_query: Any, x_ref: Any) -> jax.Array:
    """Exact Tukey halfspace depth in ``d = 2`` by angular sweep.

    ``D(z) = min over closed half-planes H ∋ z of #{i : x_i ∈ H} / n``. With ``θ_i`` the angles
    of ``x_i - z`` (points equal to ``z`` lie in every half-plane), the complement of a closed
    half-plane is an open one, whose largest count is ``max_j #{i : θ_i - θ_j mod 2π ∈ [0, π)}``,
    so ``D(z) = (n - max_j c_j) / n``. Ties in angle are resolved at floating-point precision.

    Args:
        x_query: ``(m, 2)`` query points.
        x_ref: ``(n, 2)`` reference sample.

    Returns:
        ``(m,)`` depths in ``{0, 1/n, ..., 1}``. Cost ``O(m n log n)`` time, ``O(64 n)`` memory.

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
    return _halfspace(x_query, x_ref)


def simplicial_depth_planar(x_query: Any, x_ref: Any) -> jax.Array:
    """Exact simplicial depth in ``d = 2``: the fraction of the ``C(n, 3)`` closed triangles
    with vertices in the reference sample that contain ``z``.

    With ``k_i`` the number of reference points whose angle around ``z`` lies in the open
    half-turn ``(θ_i, θ_i + π)``, the triangles that miss ``z`` number ``Σ_i C(k_i, 2)``, so
    ``D(z) = 1 - Σ_i C(k_i, 2) / C(n, 3)``. In ``d = 1`` the analogue is ``2 F (1 - F)``.

    Args:
        x_query: ``(m, 2)`` query points.
        x_ref: ``(n, 2)`` reference sample, ``n >= 3``.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(m n log n)``.

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
    return _simplicial(x_query, x_ref)
