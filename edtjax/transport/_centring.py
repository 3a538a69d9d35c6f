"""Means of point clouds that keep the offset out of the spread, shared by the Sinkhorn solvers
and the center-outward fit."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def weighted_row_mean(w: jax.Array, x: jax.Array) -> jax.Array:
    """``sum_i w_i x_i`` for weights summing to one, computed as ``x_0 + sum_i w_i (x_i - x_0)``.

    The differences carry the spread, not the offset, and are exactly zero when all points are
    equal, so the mean of a point mass is that point exactly (a plain mean, computed as a sum
    times a rounded reciprocal, is off by an ulp and leaves a spurious spread). Elementwise
    products, no reduced-precision matrix product.
    """
    return x[0] + jnp.sum(w[:, None] * (x - x[0]), axis=0)


def row_mean(x: jax.Array) -> jax.Array:
    """Unweighted :func:`weighted_row_mean` of the rows of ``x``."""
    return x[0] + jnp.mean(x - x[0], axis=0)
