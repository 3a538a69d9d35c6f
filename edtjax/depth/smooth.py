"""Smooth (temperature-relaxed) lens, halfspace and projection depths, differentiable in the query.

Each replaces a hard indicator or maximum by a smooth surrogate with temperature ``τ > 0``; as
``τ → 0`` it converges to the hard depth computed with the same directions, and for ``τ > 0``
``jax.grad`` with respect to the query is informative (not zero almost everywhere), which makes
depth usable as a differentiable penalty or for adversarial search of low-depth inputs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from edtjax._typing import ArrayLike
from edtjax.depth import _validate
from edtjax.depth.lens import Distance, euclidean_distances
from edtjax.depth.projection import HalfspaceFit, ProjectionFit

__all__ = [
    "smooth_halfspace_depth_from_fit",
    "smooth_lens_depth",
    "smooth_projection_depth_from_fit",
]

_BATCH = 8


def _smooth_pairs(a: jax.Array, d_ref: jax.Array, temperature: jax.Array) -> jax.Array:
    gate = jax.nn.sigmoid((d_ref - a[:, None]) / temperature) * jax.nn.sigmoid(
        (d_ref - a[None, :]) / temperature
    )
    gate = jnp.where(jnp.eye(a.shape[0], dtype=bool), 0.0, gate)
    return jnp.sum(gate) / 2


@functools.partial(jax.jit, static_argnames=("distance",))
def _smooth_lens(
    x_query: jax.Array, x_ref: jax.Array, temperature: jax.Array, distance: Distance
) -> jax.Array:
    n = x_ref.shape[0]
    d_ref = distance(x_ref, x_ref)
    counts = jax.lax.map(
        lambda a: _smooth_pairs(a, d_ref, temperature), distance(x_query, x_ref), batch_size=_BATCH
    )
    return counts / (n * (n - 1) / 2)


def smooth_lens_depth(
    x_query: ArrayLike,
    x_ref: ArrayLike,
    *,
    temperature: float,
    distance: Distance = euclidean_distances,
) -> jax.Array:
    """Lens depth with each lens indicator relaxed by logistic gates.

    ``LD_τ(z) = C(n, 2)⁻¹ Σ_{i<j} σ((δ_ij - δ(z, x_i)) / τ) σ((δ_ij - δ(z, x_j)) / τ)``, with
    ``σ`` the logistic function; ``LD_τ → LD`` pointwise as ``τ → 0`` (wherever no distance
    ties). ``τ`` is in the units of the distance.

    Args:
        x_query: ``(m, d)`` query points.
        x_ref: ``(n, d)`` reference sample, ``n >= 2``.
        temperature: ``τ > 0``.
        distance: ``distance(a (p, d), b (q, d)) -> (p, q)``.

    Returns:
        ``(m,)`` smooth depths in ``(0, 1)``. Cost ``O(m n²)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import smooth_lens_depth
        >>> x = jax.random.normal(jax.random.key(0), (50, 2))
        >>> g = jax.grad(lambda z: smooth_lens_depth(z[None], x, temperature=0.1)[0])
        >>> g(jnp.ones(2)).shape
        (2,)

    References:
        Liu, Z. & Modarres, R. (2011). Lens data depth and median. J. Nonparametric Stat.
        23(4), 1063-1074.
    """
    x_query, x_ref = _validate.query_and_reference(x_query, x_ref, min_ref=2)
    temperature = _validate.positive_real("temperature", temperature)
    return _smooth_lens(x_query, x_ref, jnp.asarray(temperature, x_ref.dtype), distance)


@jax.jit
def _smooth_halfspace(fit: HalfspaceFit, x_query: jax.Array, temperature: jax.Array) -> jax.Array:
    proj = jnp.matmul(  # (m, K)
        x_query - fit.centre, fit.directions.T, precision=jax.lax.Precision.HIGHEST
    )
    t = (fit.sorted_projections[None, :, :] - proj[:, :, None]) / temperature  # (m, K, n)
    above = jnp.mean(jax.nn.sigmoid(t), axis=-1)
    return jnp.min(jnp.minimum(above, 1.0 - above), axis=1)


def smooth_halfspace_depth_from_fit(
    fit: HalfspaceFit, x_query: ArrayLike, *, temperature: float
) -> jax.Array:
    """Halfspace depth with the counts relaxed by logistic gates, for fitted directions.

    ``D_τ(z) = min_k min(A_k(z), 1 - A_k(z))``, ``A_k(z) = (1/n) Σ_i σ((u_kᵀ x_i - u_kᵀ z) / τ)``
    the smooth fraction of points above ``z`` along ``u_k`` (``fit`` from
    :func:`edtjax.depth.halfspace_fit`). Converges to :func:`edtjax.depth.halfspace_depth_from_fit`
    wherever no projection ties with the query, and is differentiable in ``z`` except where the
    minimising direction switches.

    Args:
        fit: :class:`edtjax.depth.HalfspaceFit`.
        x_query: ``(m, d)`` query points.
        temperature: ``τ > 0`` in the units of the data.

    Returns:
        ``(m,)`` smooth depths. Cost ``O(m K (n + d))`` time and memory.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import halfspace_fit, smooth_halfspace_depth_from_fit
        >>> fit = halfspace_fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (100, 2)))
        >>> smooth_halfspace_depth_from_fit(fit, jnp.zeros((1, 2)), temperature=0.05).shape
        (1,)

    References:
        Tukey, J. W. (1975). Mathematics and the picturing of data. Proc. ICM Vancouver 2,
        523-531.
    """
    x_query = _validate.query_for(x_query, fit.directions.shape[1], fit.sorted_projections.dtype)
    temperature = _validate.positive_real("temperature", temperature)
    return _smooth_halfspace(fit, x_query, jnp.asarray(temperature, x_query.dtype))


@jax.jit
def _smooth_projection(fit: ProjectionFit, x_query: jax.Array, temperature: jax.Array) -> jax.Array:
    proj = jnp.matmul(x_query - fit.centre, fit.directions.T, precision=jax.lax.Precision.HIGHEST)
    r = jnp.abs(proj - fit.median) / fit.mad
    n_dir = fit.directions.shape[0]
    outlying = temperature * (jax.nn.logsumexp(r / temperature, axis=1) - jnp.log(n_dir))
    return 1.0 / (1.0 + outlying)


def smooth_projection_depth_from_fit(
    fit: ProjectionFit, x_query: ArrayLike, *, temperature: float
) -> jax.Array:
    """Projection depth with the supremum over directions relaxed to a log-mean-exp.

    ``O_τ(z) = τ log((1/K) Σ_k exp(r_k(z) / τ))``, ``r_k = |u_kᵀ z - med_k| / MAD_k``, and
    ``D_τ = 1 / (1 + O_τ)``. Since ``max_k r_k - τ log K <= O_τ <= max_k r_k``, ``D_τ``
    converges to :func:`edtjax.depth.projection_depth_from_fit` as ``τ → 0`` and every direction
    contributes to the gradient.

    Args:
        fit: :class:`edtjax.depth.ProjectionFit`.
        x_query: ``(m, d)`` query points.
        temperature: ``τ > 0`` (outlyingness units).

    Returns:
        ``(m,)`` smooth depths. Cost ``O(m K d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.depth import projection_fit, smooth_projection_depth_from_fit
        >>> fit = projection_fit(jax.random.key(0), jax.random.normal(jax.random.key(1), (100, 2)))
        >>> smooth_projection_depth_from_fit(fit, jnp.zeros((1, 2)), temperature=0.01).shape
        (1,)

    References:
        Zuo, Y. (2003). Projection-based depth functions and associated medians. Ann. Statist.
        31(5), 1460-1490.
    """
    x_query = _validate.query_for(x_query, fit.directions.shape[1], fit.median.dtype)
    temperature = _validate.positive_real("temperature", temperature)
    return _smooth_projection(fit, x_query, jnp.asarray(temperature, x_query.dtype))
