"""Depths defined through one-dimensional projections: projection and halfspace (Tukey) depth.

Both are infima over directions ``u`` on the unit sphere; here the infimum runs over ``K``
directions drawn uniformly on the sphere, which gives an upper bound on the depth that decreases
to it as ``K`` grows (Dyckerhoff, Mozharovskyi & Nagy 2021). In ``d = 2`` the exact halfspace
depth is :func:`edtjax.depth.halfspace_depth_planar`.

Both depths are translation invariant, and the fits project the reference sample minus a centre
near the data (stored as ``centre``; queries are centred the same way): a projection ``uᵀx`` of
points at a large offset would otherwise carry the offset's rounding (``0.03`` at ``10^6`` in
float32) into every comparison.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import is_concrete
from edtjax._typing import ArrayLike, DTypeLike, PRNGKey
from edtjax.depth import _validate
from edtjax.depth._centring import coarse_centre

__all__ = [
    "HalfspaceFit",
    "ProjectionFit",
    "halfspace_depth",
    "halfspace_depth_from_fit",
    "halfspace_fit",
    "projection_depth",
    "projection_depth_from_fit",
    "projection_fit",
    "random_directions",
]


def random_directions(
    key: PRNGKey, n_directions: int, dim: int, dtype: DTypeLike = float
) -> jax.Array:
    """``(n_directions, dim)`` directions drawn uniformly on the unit sphere (normalised normals).

    Example:
        >>> import jax
        >>> from edtjax.depth import random_directions
        >>> random_directions(jax.random.key(0), 3, 2).shape
        (3, 2)
    """
    g = jax.random.normal(key, (n_directions, dim), dtype=dtype)
    return g / jnp.linalg.norm(g, axis=1, keepdims=True)


class ProjectionFit(NamedTuple):
    """Directions and robust location/scale of the projected reference sample.

    Attributes:
        directions: ``(K, d)`` unit directions.
        median: ``(K,)`` median of ``uᵀ (x_i - c)`` for each direction.
        mad: ``(K,)`` median absolute deviation of ``uᵀ x_i`` (unscaled).
        centre: ``(d,)`` the centre ``c`` of the reference sample (its mean rounded to a power
            of two at the scale of the data), subtracted before projecting.
    """

    directions: jax.Array
    median: jax.Array
    mad: jax.Array
    centre: jax.Array


class HalfspaceFit(NamedTuple):
    """Directions and sorted projections of the reference sample.

    Attributes:
        directions: ``(K, d)`` unit directions.
        sorted_projections: ``(K, n)`` sorted ``uᵀ (x_i - c)`` for each direction.
        centre: ``(d,)`` the centre ``c`` of the reference sample (its mean rounded to a power
            of two at the scale of the data), subtracted before projecting.
    """

    directions: jax.Array
    sorted_projections: jax.Array
    centre: jax.Array


@functools.partial(jax.jit, static_argnames=("n_directions",))
def _projection_fit(key: jax.Array, x_ref: jax.Array, n_directions: int) -> ProjectionFit:
    u = random_directions(key, n_directions, x_ref.shape[1], x_ref.dtype)
    centre = coarse_centre(x_ref)
    proj = jnp.matmul(x_ref - centre, u.T, precision=jax.lax.Precision.HIGHEST)
    med = jnp.median(proj, axis=0)
    mad = jnp.median(jnp.abs(proj - med), axis=0)
    return ProjectionFit(u, med, mad, centre)


def _outlyingness(fit: ProjectionFit, x_query: jax.Array) -> jax.Array:
    proj = jnp.matmul(x_query - fit.centre, fit.directions.T, precision=jax.lax.Precision.HIGHEST)
    return jnp.max(jnp.abs(proj - fit.median) / fit.mad, axis=1)


@jax.jit
def _projection(fit: ProjectionFit, x_query: jax.Array) -> jax.Array:
    return 1.0 / (1.0 + _outlyingness(fit, x_query))


def projection_fit(key: PRNGKey, x_ref: ArrayLike, *, n_directions: int = 1000) -> ProjectionFit:
    """Draw ``K`` directions and store the median and MAD of the projected reference sample.

    Args:
        key: PRNG key for the directions.
        x_ref: ``(n, d)`` reference sample.
        n_directions: ``K >= 1``.

    Returns:
        :class:`ProjectionFit`. Cost ``O(K n d + K n log n)``.

    Raises:
        ValueError: bad input, or a zero MAD along some direction (at least half of the points
            project to one value), where the outlyingness would be NaN or infinite.
    """
    x_ref = _validate.reference(x_ref, min_ref=2)
    n_directions = _validate.positive_int("n_directions", n_directions)
    fit = _projection_fit(key, x_ref, n_directions)
    if is_concrete(fit.mad):
        flat = int(jnp.sum(~(fit.mad > 0)))
        if flat:
            raise ValueError(
                f"x_ref has degenerate projections: along {flat} of the {n_directions} "
                "directions at least half of its points project to one value (MAD = 0, e.g. "
                "duplicated rows), where the outlyingness |u'z - med| / MAD is undefined; "
                "remove the duplicates or use another depth"
            )
    return fit


def projection_depth_from_fit(fit: ProjectionFit, x_query: ArrayLike) -> jax.Array:
    """Projection depth of queries for a fitted reference (see :func:`projection_depth`).

    Args:
        fit: output of :func:`projection_fit`.
        x_query: ``(m, d)`` query points.

    Returns:
        ``(m,)`` depths in ``(0, 1]`` (higher = inside). Cost ``O(m K d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import projection_depth_from_fit, projection_fit
        >>> fit = projection_fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (100, 2)))
        >>> projection_depth_from_fit(fit, jnp.zeros((3, 2))).shape
        (3,)
    """
    x_query = _validate.query_for(x_query, fit.directions.shape[1], fit.median.dtype)
    return _projection(fit, x_query)


def projection_depth(
    key: PRNGKey, x_query: ArrayLike, x_ref: ArrayLike, *, n_directions: int = 1000
) -> jax.Array:
    """Projection depth ``D(z) = 1 / (1 + O(z))``, ``O(z) = sup_u |uᵀz - med(uᵀX)| / MAD(uᵀX)``.

    The supremum is taken over ``K`` random unit directions (an upper bound on the depth that
    converges as ``K`` grows). ``MAD`` is the unscaled median absolute deviation. Affine
    invariant (exactly for the population version; up to the direction sample here).

    Args:
        key: PRNG key for the directions.
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample with non-degenerate projections.
        n_directions: ``K``.

    Returns:
        ``(m,)`` depths in ``(0, 1]``. Cost ``O(K (n + m) d + K n log n)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import projection_depth
        >>> x = jax.random.normal(jax.random.key(0), (500, 2))
        >>> projection_depth(jax.random.key(1), jnp.zeros((1, 2)), x).shape
        (1,)

    References:
        Zuo, Y. (2003). Projection-based depth functions and associated medians. Ann. Statist.
        31(5), 1460-1490. Dyckerhoff, R., Mozharovskyi, P. & Nagy, S. (2021). Approximate
        computation of projection depths. Comput. Statist. Data Anal. 157, 107166.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, min_ref=2)
    return projection_depth_from_fit(projection_fit(key, x_ref, n_directions=n_directions), x_query)


@functools.partial(jax.jit, static_argnames=("n_directions",))
def _halfspace_fit(key: jax.Array, x_ref: jax.Array, n_directions: int) -> HalfspaceFit:
    u = random_directions(key, n_directions, x_ref.shape[1], x_ref.dtype)
    centre = coarse_centre(x_ref)
    proj = jnp.matmul(x_ref - centre, u.T, precision=jax.lax.Precision.HIGHEST)
    return HalfspaceFit(u, jnp.sort(proj, axis=0).T, centre)


def _count_closed_halfspaces(sorted_proj: jax.Array, q: jax.Array) -> jax.Array:
    n = sorted_proj.shape[0]
    below = jnp.searchsorted(sorted_proj, q, side="right")
    above = n - jnp.searchsorted(sorted_proj, q, side="left")
    return jnp.minimum(below, above)


@jax.jit
def _halfspace(fit: HalfspaceFit, x_query: jax.Array) -> jax.Array:
    proj = jnp.matmul(x_query - fit.centre, fit.directions.T, precision=jax.lax.Precision.HIGHEST)
    counts = jax.vmap(_count_closed_halfspaces, in_axes=(0, 1), out_axes=1)(
        fit.sorted_projections, proj
    )
    n = fit.sorted_projections.shape[1]
    # searchsorted counts are int32: cast before dividing, or int32 / int rounds via float32.
    return jnp.min(counts, axis=1).astype(x_query.dtype) / n


def halfspace_fit(key: PRNGKey, x_ref: ArrayLike, *, n_directions: int = 1000) -> HalfspaceFit:
    """Draw ``K`` directions and sort the projected reference sample along each.

    Args:
        key: PRNG key for the directions.
        x_ref: ``(n, d)`` reference sample.
        n_directions: ``K >= 1``.

    Returns:
        :class:`HalfspaceFit`. Cost ``O(K n (d + log n))``, memory ``O(K n)``.
    """
    x_ref = _validate.reference(x_ref)
    n_directions = _validate.positive_int("n_directions", n_directions)
    return _halfspace_fit(key, x_ref, n_directions)


def halfspace_depth_from_fit(fit: HalfspaceFit, x_query: ArrayLike) -> jax.Array:
    """Halfspace depth of queries for a fitted reference (see :func:`halfspace_depth`).

    Args:
        fit: output of :func:`halfspace_fit`.
        x_query: ``(m, d)`` query points.

    Returns:
        ``(m,)`` depths in ``{0, 1/n, ..., 1/2}`` (higher = inside). Each direction costs two
        binary searches per query: ``O(m K (d + log n))``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import halfspace_depth_from_fit, halfspace_fit
        >>> fit = halfspace_fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (100, 2)))
        >>> halfspace_depth_from_fit(fit, jnp.full((1, 2), 50.0)).tolist()
        [0.0]
    """
    x_query = _validate.query_for(x_query, fit.directions.shape[1], fit.sorted_projections.dtype)
    return _halfspace(fit, x_query)


def halfspace_depth(
    key: PRNGKey, x_query: ArrayLike, x_ref: ArrayLike, *, n_directions: int = 1000
) -> jax.Array:
    """Tukey halfspace depth ``D(z) = min_u (1/n) #{i : uᵀ x_i >= uᵀ z}``, random directions.

    The minimum over all closed halfspaces containing ``z`` is approximated by the minimum over
    ``K`` random directions (and their opposites); the approximation is an upper bound and is
    exact once a direction falls in the optimal cone. In ``d = 1`` it equals
    ``min(F_n(z), 1 - F_n(z-))``. Affine invariant.

    Args:
        key: PRNG key for the directions.
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample.
        n_directions: ``K``.

    Returns:
        ``(m,)`` depths in ``{0, 1/n, ..., 1/2}``. Cost ``O(K (n + m)(d + log n))``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import halfspace_depth
        >>> x = jax.random.normal(jax.random.key(0), (500, 3))
        >>> halfspace_depth(jax.random.key(1), jnp.zeros((1, 3)), x).shape
        (1,)

    References:
        Tukey, J. W. (1975). Mathematics and the picturing of data. Proc. ICM Vancouver 2,
        523-531. Dyckerhoff, R., Mozharovskyi, P. & Nagy, S. (2021). Approximate computation of
        projection depths. Comput. Statist. Data Anal. 157, 107166.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref)
    return halfspace_depth_from_fit(halfspace_fit(key, x_ref, n_directions=n_directions), x_query)
