"""Simplicial depth in any dimension from randomly drawn simplices."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._typing import ArrayLike, PRNGKey
from edtjax.depth import _validate

__all__ = ["SimplicialFit", "simplicial_depth", "simplicial_depth_from_fit", "simplicial_fit"]

_BATCH = 64


class SimplicialFit(NamedTuple):
    """Random simplices of the reference sample in barycentric form.

    Attributes:
        origin: ``(K, d)`` first vertex ``v_0`` of each simplex.
        inverse: ``(K, d, d)`` inverse of ``[v_1 - v_0, ..., v_d - v_0]``.
    """

    origin: jax.Array
    inverse: jax.Array


def _distinct_indices(key: jax.Array, n: int, size: int, rows: int) -> jax.Array:
    """``(rows, size)`` uniform draws of ``size`` distinct indices in ``[0, n)``, ``O(rows size²)``.

    The ``t``-th index is uniform on the ``n - t`` unused values: draw ``r`` in ``[0, n - t)`` and
    step it past each used value (in increasing order) that it reaches.
    """
    chosen = jnp.zeros((rows, 0), dtype=jnp.int32)
    for t, k in enumerate(jax.random.split(key, size)):
        r = jax.random.randint(k, (rows,), 0, n - t)
        for c in jnp.unstack(jnp.sort(chosen, axis=1), axis=1):
            r = r + (r >= c)
        chosen = jnp.concatenate([chosen, r[:, None]], axis=1)
    return chosen


@functools.partial(jax.jit, static_argnames=("n_simplices",))
def _fit(key: jax.Array, x_ref: jax.Array, n_simplices: int) -> SimplicialFit:
    n, d = x_ref.shape
    idx = _distinct_indices(key, n, d + 1, n_simplices)
    v = x_ref[idx]  # (K, d + 1, d)
    edges = jnp.swapaxes(v[:, 1:] - v[:, :1], 1, 2)  # columns v_j - v_0
    return SimplicialFit(v[:, 0], jnp.linalg.inv(edges))


def _inside(z: jax.Array, fit: SimplicialFit) -> jax.Array:
    lam = jnp.einsum("kij,kj->ki", fit.inverse, z - fit.origin)
    inside = jnp.all(lam >= 0, axis=1) & (jnp.sum(lam, axis=1) <= 1)
    return jnp.mean(inside.astype(z.dtype))


@jax.jit
def _simplicial(fit: SimplicialFit, x_query: jax.Array) -> jax.Array:
    return jax.lax.map(lambda z: _inside(z, fit), x_query, batch_size=_BATCH)


def simplicial_fit(key: PRNGKey, x_ref: ArrayLike, *, n_simplices: int = 1000) -> SimplicialFit:
    """Draw ``K`` simplices, each from ``d + 1`` distinct reference points.

    Args:
        key: PRNG key.
        x_ref: ``(n, d)`` reference sample, ``n >= d + 1``.
        n_simplices: ``K >= 1``.

    Returns:
        :class:`SimplicialFit`. Cost ``O(K (n + d^3))``.
    """
    x_ref = _validate.reference(x_ref)
    d = x_ref.shape[1]
    if x_ref.shape[0] < d + 1:
        raise ValueError(f"x_ref must have at least d + 1 = {d + 1} rows, got {x_ref.shape[0]}")
    n_simplices = _validate.positive_int("n_simplices", n_simplices)
    return _fit(key, x_ref, n_simplices)


def simplicial_depth_from_fit(fit: SimplicialFit, x_query: ArrayLike) -> jax.Array:
    """Simplicial depth of queries for a fitted reference (see :func:`simplicial_depth`).

    Args:
        fit: output of :func:`simplicial_fit`.
        x_query: ``(m, d)`` query points.

    Returns:
        ``(m,)`` fractions of the fitted simplices that contain each query, in ``[0, 1]``
        (higher = inside). Cost ``O(m K d^2)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import simplicial_depth_from_fit, simplicial_fit
        >>> fit = simplicial_fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (50, 3)))
        >>> simplicial_depth_from_fit(fit, jnp.full((1, 3), 50.0)).tolist()
        [0.0]
    """
    x_query = _validate.query_for(x_query, fit.origin.shape[1], fit.origin.dtype)
    return _simplicial(fit, x_query)


def simplicial_depth(
    key: PRNGKey, x_query: ArrayLike, x_ref: ArrayLike, *, n_simplices: int = 1000
) -> jax.Array:
    """Simplicial depth estimated from ``K`` random simplices.

    ``D(z) = P(z ∈ conv{X_0, ..., X_d})``; the sample version is the fraction of the
    ``C(n, d + 1)`` simplices with reference vertices that contain ``z``, estimated without bias
    by ``K`` simplices drawn uniformly (standard error ``≤ 1 / (2 √K)``). ``z`` lies in a simplex
    iff its barycentric coordinates ``λ = A⁻¹ (z - v_0)`` satisfy ``λ >= 0, Σ λ <= 1``. Affine
    invariant. In ``d = 2`` use the exact :func:`edtjax.depth.simplicial_depth_planar`.

    Args:
        key: PRNG key.
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample, ``n >= d + 1``.
        n_simplices: ``K``.

    Returns:
        ``(m,)`` depths in ``[0, 1]``. Cost ``O(K (n + d^3) + m K d^2)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import simplicial_depth
        >>> x = jax.random.normal(jax.random.key(0), (200, 3))
        >>> simplicial_depth(jax.random.key(1), jnp.zeros((1, 3)), x).shape
        (1,)

    References:
        Liu, R. Y. (1990). On a notion of data depth based on random simplices. Ann. Statist.
        18(1), 405-414.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref)
    return simplicial_depth_from_fit(simplicial_fit(key, x_ref, n_simplices=n_simplices), x_query)
