r"""The split-conformal core shared by :mod:`edtjax.uq`, :mod:`edtjax.transport` and
:mod:`edtjax.reliability`: the finite-sample rank, the threshold it selects, and conformal
p-values.

With ``n`` calibration scores exchangeable with a test score, the threshold is the
:math:`k`-th smallest score,

.. math::

    k = \lceil (n+1)(1-\alpha) \rceil = n + 1 - \lfloor (n+1)\alpha \rfloor,

and a test score at most the threshold has probability in
:math:`[1-\alpha,\ 1-\alpha+1/(n+1))` (upper bound for scores without ties); the conformal
p-value :math:`p(s) = (1 + \#\{i : s_i \ge s\})/(n+1)` is super-uniform, and
:math:`p(s) \le \alpha` exactly when :math:`s` exceeds the threshold (Vovk et al. 2005;
Bates et al. 2023).

**How** :math:`\alpha` **is read.** The rank only depends on which of the fractions
:math:`j/(n+1)` lie below :math:`\alpha`, and a float cannot say on which side of such a
fraction a user's level lies when the two agree to rounding: ``0.1`` is stored as
:math:`0.10000000000000000555\ldots`, ``1 - 0.9`` as :math:`0.09999999999999997779\ldots`, and
``1 - 0.7`` is :math:`0.30000000000000004441\ldots`, so a float formula lands on either side of
the integer (``ceil(10 * (1 - 0.7))`` is 4, not 3). The rank is therefore computed in exact
rational arithmetic (:class:`fractions.Fraction`, no float operation at all) on this reading of
``alpha``: when ``alpha`` lies within :math:`2^{-50}` (about :math:`8.9\times10^{-16}`, a few
rounding errors of a number in :math:`(0, 1)`) of a fraction :math:`j/(n+1)`, it is read as
that fraction, otherwise as the exact value of the float. So ``0.1``, ``1 - 0.9`` and
``1 / 10`` give the same rank for every ``n``, and the rank is the exact
:math:`\lceil (n+1)(1-\alpha)\rceil` of the level the user wrote. Two fractions
:math:`j/(n+1)` are :math:`1/(n+1)` apart, far more than :math:`2^{-49}` for any ``n`` below
:math:`5\times 10^{14}`, so at most one is in reach and the reading is unambiguous. At worst it
trades :math:`2^{-50}` of the coverage guarantee (a level deliberately set :math:`10^{-16}` below
:math:`j/(n+1)`) for the rank one lower, which keeps the documented upper bound
:math:`1-\alpha+1/(n+1)`.

References:
    Vovk, V., Gammerman, A. and Shafer, G. (2005). Algorithmic Learning in a Random World.
    Springer. Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. and Wasserman, L. (2018).
    Distribution-free predictive inference for regression. JASA 113(523), 1094-1111.
    Bates, S., Candès, E., Lei, L., Romano, Y. and Sesia, M. (2023). Testing for outliers with
    conformal p-values. Ann. Statist. 51(1), 149-178.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "conformal_rank",
    "log_p_values",
    "minimum_calibration_size",
    "order_statistic",
    "p_values",
    "smoothed_p_values",
]

_SNAP = Fraction(1, 2**50)


def _floor_level(m: int, alpha: Any) -> int:
    r""":math:`\lfloor m\alpha\rfloor` for the level read as in the module docstring."""
    a = Fraction(alpha)
    j = round(a * m)
    if abs(a - Fraction(j, m)) <= _SNAP:
        return j
    return math.floor(a * m)


def conformal_rank(n: int, alpha: Any) -> int:
    r"""The conformal rank :math:`k = \lceil (n+1)(1-\alpha)\rceil`, exactly.

    Computed in rational arithmetic on the level read as in the module docstring, so float
    rounding cannot move it across an integer. Host-side (Python ints), for use as a static
    argument.

    Args:
        n: number of calibration scores, ``>= 1``.
        alpha: miscoverage level in ``(0, 1)`` (a float, or an exact ``Fraction``).

    Returns:
        ``k`` in ``[1, n + 1]``; ``k = n + 1`` means no calibration score is large enough.

    Example:
        >>> conformal_rank(9, 0.7), conformal_rank(99, 0.1), conformal_rank(99, 1 - 0.9)
        (3, 90, 90)
    """
    m = int(n) + 1
    return max(1, m - _floor_level(m, alpha))


def minimum_calibration_size(alpha: Any) -> int:
    r"""Smallest ``n >= 1`` with :func:`conformal_rank` ``(n, alpha) <= n``.

    That is the smallest ``n`` with :math:`\lfloor (n+1)\alpha\rfloor \ge 1`, i.e.
    :math:`n \ge 1/\alpha - 1`, under the same reading of ``alpha``.

    Example:
        >>> minimum_calibration_size(0.1), minimum_calibration_size(0.3)
        (9, 3)
    """
    n = max(1, math.floor(1 / Fraction(alpha)) - 2)
    while conformal_rank(n, alpha) > n:
        n += 1
    return n


def order_statistic(scores: jax.Array, k: int, fill: Any = jnp.inf) -> jax.Array:
    r"""The ``k``-th smallest of ``scores`` along axis 0, or ``fill`` when ``k > n``.

    A building block (not jitted; ``k`` must be a Python int). Cost :math:`O(n\log n)` per
    column.

    Args:
        scores: shape ``(n,)`` or ``(n, d)``.
        k: the rank, from :func:`conformal_rank`.
        fill: the threshold when ``k > n`` (the whole space: :math:`+\infty` for an unbounded
            score, the score's upper bound otherwise).

    Returns:
        Shape ``scores.shape[1:]``.

    Example:
        >>> import jax.numpy as jnp
        >>> float(order_statistic(jnp.array([3.0, 1.0, 2.0]), 2))
        2.0
    """
    if k > scores.shape[0]:
        return jnp.full(scores.shape[1:], fill, scores.dtype)
    return jnp.sort(scores, axis=0)[k - 1]


def _at_least(sorted_scores: jax.Array, scores: jax.Array) -> jax.Array:
    return sorted_scores.shape[0] - jnp.searchsorted(sorted_scores, scores, side="left")


def p_values(sorted_scores: jax.Array, scores: jax.Array) -> jax.Array:
    r"""Conformal p-values :math:`p(s) = (1 + \#\{i : s_i \ge s\})/(n+1)`.

    Args:
        sorted_scores: ``(n,)`` calibration scores, sorted ascending.
        scores: query scores, any shape.

    Returns:
        p-values in ``(0, 1]``, shaped like ``scores``. Cost :math:`O(m\log n)`.

    Example:
        >>> import jax.numpy as jnp
        >>> p = p_values(jnp.arange(1.0, 10.0), jnp.array([0.5, 5.5, 9.5]))
        >>> [round(float(v), 3) for v in p]
        [1.0, 0.5, 0.1]
    """
    n = sorted_scores.shape[0]
    return (1.0 + _at_least(sorted_scores, scores)) / (n + 1.0)


def log_p_values(sorted_scores: jax.Array, scores: jax.Array) -> jax.Array:
    r"""Logarithm of :func:`p_values`, :math:`\log(1 + \#\{s_i \ge s\}) - \log(n+1)`.

    Example:
        >>> import jax.numpy as jnp
        >>> round(float(log_p_values(jnp.arange(1.0, 10.0), jnp.array(9.5))), 4)
        -2.3026
    """
    n = sorted_scores.shape[0]
    return jnp.log1p(_at_least(sorted_scores, scores)) - jnp.log(n + 1.0)


def smoothed_p_values(key: jax.Array, sorted_scores: jax.Array, scores: jax.Array) -> jax.Array:
    r"""Randomised conformal p-values, :math:`(\#\{s_i > s\} + U(1 + \#\{s_i = s\}))/(n+1)`.

    ``U`` uniform on ``[0, 1)`` from ``key``, one per query: ties are broken at random, so the
    p-value of an exchangeable query is exactly uniform (Vovk et al. 2005, Sec. 2.3).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> p = smoothed_p_values(jax.random.key(0), jnp.zeros(9), jnp.zeros(3))
        >>> bool(jnp.all((p >= 0) & (p <= 1)))
        True
    """
    n = sorted_scores.shape[0]
    above = n - jnp.searchsorted(sorted_scores, scores, side="right")
    ties = _at_least(sorted_scores, scores) - above
    u = jax.random.uniform(key, scores.shape, dtype=sorted_scores.dtype)
    return (above + u * (1.0 + ties)) / (n + 1.0)
