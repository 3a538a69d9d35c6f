"""Centring shared by the translation-invariant depths (runs inside ``jit``).

Float32 holds ``x + c`` for an offset ``c`` only to ``ulp(c) / 2`` (``0.03`` at ``c = 10^6``), and
a quantity formed from such values, a squared norm ``‖x‖²`` used in ``‖x‖² - 2 xᵀz`` or a
projection ``uᵀx``, carries that absolute error however small the differences between points
are. The translation-invariant depths therefore subtract a centre ``c`` near the data first,
chosen so that ``x - c`` is exact wherever the dtype can hold the difference
(:func:`coarse_centre`): the depth of the centred points is then the depth of the points the
input holds, to the precision of the dtype at the scale of the data.

Nothing here relies on the rounding of an intermediate sum (compilers may contract ``a * b + c``
into one fused multiply-add): the centre is a multiple of a power of two, which makes the
subtractions exact whatever the rounding of the terms around them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def coarse_centre(x: jax.Array) -> jax.Array:
    """A centre for ``x (n, d)`` that makes ``x - c`` exact wherever the dtype allows it.

    The column mean rounded to a multiple of ``g = 2^⌊log₂ s⌋``, ``s`` the largest distance of
    the column's values from its mean: every value is a multiple of its own ulp and ``c`` a
    multiple of ``g`` (a power of two at least that ulp unless the column is constant to
    rounding), so ``x - c`` is exact whenever it has no more significant bits than the dtype
    holds. Data at an offset ``|offset| >> s`` are centred exactly (Sterbenz), and data around
    zero (``|mean| < g / 2``) get ``c = 0``, i.e. are left as they are. A constant column gets
    its value.
    """
    mean = jnp.sum(x / x.shape[0], axis=0)  # no overflow of the sum for values near the max
    spread = jnp.max(jnp.abs(x - mean), axis=0)
    positive = spread > 0
    g = jnp.exp2(jnp.floor(jnp.log2(jnp.where(positive, spread, 1.0))))
    return jnp.where(positive, jnp.round(mean / g) * g, x[0])


def column_mean(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Column mean of ``x (n, d)`` as an unevaluated sum ``hi + lo``.

    ``hi`` is the mean to the dtype's rounding and ``lo`` the part it misses: with ``c`` the
    :func:`coarse_centre`, ``m`` the mean of the exact differences ``x - c``, ``hi = c + m``
    and ``lo = m - (hi - c)``, where ``hi - c`` is exact (both are multiples of ``ulp(hi)`` and
    the difference is at most ``|m|``). So ``hi + lo`` has the summation error of ``x - c``
    only, ``O(ε s)`` with ``s`` the spread of the data, not ``O(ε |offset|)``.
    """
    c = coarse_centre(x)
    m = jnp.mean(x - c, axis=0)
    hi = c + m
    return hi, m - (hi - c)
