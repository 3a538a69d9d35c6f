r"""Hallin's discretised spherical uniform reference measure on the unit ball.

The spherical uniform :math:`U_d` is the law of :math:`R\,S` with :math:`R \sim U[0, 1]`
independent of :math:`S` uniform on the sphere :math:`\mathcal{S}^{d-1}`; so
:math:`\|U\|` is uniform and :math:`U/\|U\|` is uniform on directions. For :math:`n` points it is
discretised as in Hallin, del Barrio, Cuesta-Albertos and Matrán (2021): factor
:math:`n = n_R n_S + n_0` with :math:`0 \le n_0 < \min(n_R, n_S)` and take the product grid

.. math::

    \Big\{ \tfrac{j}{n_R + 1}\, s_k : j = 1..n_R,\; k = 1..n_S \Big\}
    \;\cup\; \{n_0 \text{ copies of the origin}\}.

Directions :math:`s_k`: in :math:`d = 1`, :math:`\{-1, +1\}` (so :math:`n_S = 2`); in
:math:`d = 2`, the regular polygon :math:`(\cos 2\pi k/n_S, \sin 2\pi k/n_S)`; in
:math:`d > 2`, a low-discrepancy set: Halton points in :math:`(0,1)^d` sent through the normal
quantile function and normalised (the normal law being rotation invariant, this is a
quasi-uniform design on the sphere).

Default factorisation (documented choice): :math:`n_R = \lfloor n^{1/d}\rfloor`,
:math:`n_S = \lfloor n / n_R \rfloor`, :math:`n_0 = n - n_R n_S`. In :math:`d = 2` this is
Hallin's :math:`n_R \approx n_S \approx \sqrt n`; in general it balances the radial spacing
:math:`1/n_R` against the angular spacing :math:`n_S^{-1/(d-1)} \approx n^{-1/d}`. It gives
:math:`n_0 < n_R \le n_S`, both factors growing to infinity and :math:`n_0 / n \to 0`, the
conditions of Hallin et al. (2021) for Glivenko–Cantelli consistency. Cost :math:`O(nd)`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri

from edtjax import _checks
from edtjax._typing import DTypeLike

__all__ = [
    "ReferenceGrid",
    "grid_factorisation",
    "reference_grid",
    "reference_points",
    "sphere_directions",
]


class ReferenceGrid(NamedTuple):
    r"""Discretised spherical uniform measure.

    Attributes:
        points: grid points, shape ``(n, d)``, ordered radius-major (all directions of radius
            ``1/(n_R+1)`` first), origin copies last.
        radial_ranks: integer radius index ``j`` in ``0..n_R`` of each point (0 = origin),
            shape ``(n,)``.
        n_radii: :math:`n_R`.
        n_directions: :math:`n_S`.
        n_origin: :math:`n_0`.
    """

    points: jax.Array
    radial_ranks: jax.Array
    n_radii: int
    n_directions: int
    n_origin: int


def grid_factorisation(n: int, d: int, n_radii: int | None = None) -> tuple[int, int, int]:
    r"""Return :math:`(n_R, n_S, n_0)` with :math:`n = n_R n_S + n_0`, :math:`n_0 < \min(n_R,n_S)`.

    Args:
        n: number of points, at least 2.
        d: dimension, at least 1.
        n_radii: optional :math:`n_R`; by default :math:`\lfloor n^{1/d} \rfloor` (``d >= 2``) or
            :math:`\lfloor n/2 \rfloor` (``d = 1``, where :math:`n_S = 2`).

    Example:
        >>> grid_factorisation(103, 2)
        (10, 10, 3)

    References:
        Hallin, M., del Barrio, E., Cuesta-Albertos, J., Matrán, C. (2021). Distribution and
        quantile functions, ranks and signs in dimension d: a measure transportation approach.
        Ann. Statist. 49(2), 1139-1165.
    """
    n = _checks.check_int("n", n, minimum=2)
    d = _checks.check_int("d", d, minimum=1)
    if d == 1:
        n_r, n_s = n // 2, 2
        if n_radii is not None and _checks.check_int("n_radii", n_radii) != n_r:
            raise ValueError(f"n_radii must be n // 2 = {n_r} in dimension 1, got {n_radii}")
        return n_r, n_s, n - n_r * n_s
    if n_radii is None:
        n_r = _integer_root(n, d)
    else:
        n_r = _checks.check_int("n_radii", n_radii, minimum=1, maximum=n // 2)
    n_s = n // n_r
    n_0 = n - n_r * n_s
    if n_0 >= min(n_r, n_s):
        raise ValueError(
            f"n_radii={n_r} leaves n_0={n_0} origin copies, which must be < min(n_R, n_S) = "
            f"{min(n_r, n_s)}; choose n_radii closer to sqrt(n)"
        )
    return n_r, n_s, n_0


def _integer_root(n: int, d: int) -> int:
    r"""Largest integer ``r`` with ``r**d <= n``."""
    r = round(n ** (1.0 / d))
    while r**d > n:
        r -= 1
    while (r + 1) ** d <= n:
        r += 1
    return max(r, 1)


def _halton(num: int, d: int) -> np.ndarray:
    r"""First ``num`` points (index 1..num) of the ``d``-dimensional Halton sequence."""
    primes, candidate = [], 2
    while len(primes) < d:
        if all(candidate % p for p in primes):
            primes.append(candidate)
        candidate += 1
    idx = np.arange(1, num + 1)
    out = np.zeros((num, d))
    for col, base in enumerate(primes):
        frac, i, value = 1.0, idx.copy(), np.zeros(num)
        while np.any(i > 0):
            frac /= base
            value += frac * (i % base)
            i //= base
        out[:, col] = value
    return out


def sphere_directions(num: int, d: int) -> np.ndarray:
    r"""Deterministic, evenly spread unit vectors in :math:`\mathbb{R}^d`, shape ``(num, d)``.

    ``d = 1``: :math:`(-1, +1)` (``num`` must be 2); ``d = 2``: regular polygon; ``d > 2``:
    normalised normal quantiles of Halton points (low discrepancy). Returns NumPy float64.

    Example:
        >>> sphere_directions(4, 2).round(3).tolist()
        [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-0.0, -1.0]]

    References:
        Hallin et al. (2021), Ann. Statist. 49(2), Section 2.3; Fang, K.-T., Wang, Y. (1994).
        Number-theoretic Methods in Statistics. Chapman & Hall.
    """
    num = _checks.check_int("num", num, minimum=1)
    d = _checks.check_int("d", d, minimum=1)
    if d == 1:
        if num != 2:
            raise ValueError(f"num must be 2 in dimension 1, got {num}")
        return np.array([[-1.0], [1.0]])
    if d == 2:
        angle = 2.0 * np.pi * np.arange(num) / num
        return np.stack([np.cos(angle), np.sin(angle)], axis=1)
    z = ndtri(_halton(num, d))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _grid_points(n_r: int, n_s: int, n_0: int, d: int) -> np.ndarray:
    r"""The grid's points in NumPy float64, shape ``(n_R n_S + n_0, d)``, radius-major."""
    directions = sphere_directions(n_s, d)
    radii = np.arange(1, n_r + 1) / (n_r + 1)
    shell = (radii[:, None, None] * directions[None]).reshape(n_r * n_s, d)
    return np.concatenate([shell, np.zeros((n_0, d))], axis=0)


def reference_points(n: int, d: int, *, n_radii: int | None = None) -> np.ndarray:
    r"""The points of :func:`reference_grid` as a NumPy float64 array, whatever JAX's precision.

    The same points, in the same order (radius-major, origin copies last), computed on the
    host in float64: an exact assignment to the grid (:func:`center_outward_ranks`) uses
    them so that its result does not depend on whether JAX runs in float32.

    Args:
        n: number of points, at least 2.
        d: dimension.
        n_radii: optional number of radii, see :func:`grid_factorisation`.

    Returns:
        Shape ``(n, d)``, float64. Cost: :math:`O(n d)`.

    Example:
        >>> p = reference_points(10, 2)
        >>> p.shape, p.dtype, float(abs(p[:9]).max().round(2))
        ((10, 2), dtype('float64'), 0.75)

    References:
        Hallin, M., del Barrio, E., Cuesta-Albertos, J., Matrán, C. (2021). Ann. Statist.
        49(2), 1139-1165.
    """
    n_r, n_s, n_0 = grid_factorisation(n, d, n_radii)
    return _grid_points(n_r, n_s, n_0, d)


def reference_grid(
    n: int, d: int, *, n_radii: int | None = None, dtype: DTypeLike = jnp.float32
) -> ReferenceGrid:
    r"""Hallin's regular grid of ``n`` points discretising the spherical uniform on the ball.

    Args:
        n: number of points (the sample size), at least 2.
        d: dimension.
        n_radii: optional number of radii, see :func:`grid_factorisation`.
        dtype: floating dtype of the points.

    Returns:
        :class:`ReferenceGrid`; its empirical measure puts mass :math:`1/n` on each point.

    Example:
        >>> g = reference_grid(10, 2)
        >>> (g.n_radii, g.n_directions, g.n_origin, g.points.shape)
        (3, 3, 1, (10, 2))

    References:
        Hallin, M., del Barrio, E., Cuesta-Albertos, J., Matrán, C. (2021). Ann. Statist.
        49(2), 1139-1165.
    """
    n_r, n_s, n_0 = grid_factorisation(n, d, n_radii)
    points = _grid_points(n_r, n_s, n_0, d)
    ranks = np.concatenate([np.repeat(np.arange(1, n_r + 1), n_s), np.zeros(n_0, dtype=int)])
    return ReferenceGrid(
        points=jnp.asarray(points, dtype=dtype),
        radial_ranks=jnp.asarray(ranks, dtype=jnp.int32),
        n_radii=n_r,
        n_directions=n_s,
        n_origin=n_0,
    )
