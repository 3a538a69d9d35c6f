r"""Empirical center-outward ranks and signs by exact optimal assignment.

The empirical center-outward distribution function of Hallin et al. (2021) is the optimal
assignment of the sample :math:`x_1..x_n` to the reference grid :math:`u_1..u_n`
(:func:`~edtjax.transport.reference_grid`):

.. math::

    \mathbf{F}_\pm^{(n)}(x_i) = u_{\sigma^*(i)}, \qquad
    \sigma^* = \arg\min_{\sigma \in S_n} \sum_i \|x_i - u_{\sigma(i)}\|^2 .

The center-outward rank of :math:`x_i` is the radius index :math:`j \in \{0..n_R\}` of its grid
point (:math:`\|\mathbf{F}_\pm^{(n)}(x_i)\| = j/(n_R+1)`), its sign the direction
:math:`\mathbf{F}_\pm^{(n)}(x_i)/\|\mathbf{F}_\pm^{(n)}(x_i)\|` (zero at the origin). Under any
absolutely continuous law the assignment is a uniform random permutation of the grid, so ranks
and signs are distribution-free.

The assignment is solved exactly with :func:`scipy.optimize.linear_sum_assignment` (the
Jonker–Volgenant algorithm) outside ``jit``: JAX has no exact assignment solver, and the
definition is this exact permutation, not an entropic relaxation. It is computed on the host in
NumPy float64 from the input as given (a float64 NumPy array keeps its full precision even when
JAX's x64 mode is off) and with the grid's float64 points; only the returned values follow
JAX's default float dtype. Cost :math:`O(n^2 d)` memory
and time for the cost matrix and :math:`O(n^3)` worst-case time for the assignment; practical up
to a few thousand points. The result is piecewise constant in ``x`` (not differentiable): use
:func:`~edtjax.transport.center_outward_distribution` for the smooth version.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from edtjax import _checks
from edtjax._typing import ArrayLike
from edtjax.transport.reference import ReferenceGrid, reference_grid, reference_points

__all__ = ["CenterOutwardRanks", "center_outward_ranks"]


class CenterOutwardRanks(NamedTuple):
    r"""Empirical center-outward distribution values, ranks and signs of a sample.

    Attributes:
        distribution: :math:`\mathbf{F}_\pm^{(n)}(x_i)`, the assigned grid points, ``(n, d)``.
        ranks: radial ranks :math:`j \in \{0..n_R\}`, ``(n,)`` int32.
        signs: unit directions (zero rows for origin points), ``(n, d)``.
        grid: the reference grid used.
    """

    distribution: jax.Array
    ranks: jax.Array
    signs: jax.Array
    grid: ReferenceGrid


def _assignment(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    r"""Grid index assigned to each sample point by the exact squared-distance assignment."""
    # ||x - u||^2 = ||x||^2 - 2 x.u + ||u||^2; the row term does not change the argmin, and
    # neither does a translation of x (it adds -2 c.sum(u) to every permutation's cost), so x is
    # centred first: the cost entries then carry the spread of x, not its offset.
    x = x - np.mean(x, axis=0)
    cost = -2.0 * x @ u.T + np.sum(u * u, axis=1)[None, :]
    rows, cols = linear_sum_assignment(cost)
    out = np.empty(x.shape[0], dtype=np.int64)
    out[rows] = cols
    return out


def center_outward_ranks(
    x: ArrayLike, *, grid: ReferenceGrid | None = None, n_radii: int | None = None
) -> CenterOutwardRanks:
    r"""Exact empirical center-outward ranks and signs (Hallin et al. 2021).

    Args:
        x: sample, shape ``(n, d)`` (a 1-D array is read as ``(n, 1)``), ``n >= 2``.
        grid: reference grid with ``n`` points; built by :func:`reference_grid` if ``None``.
        n_radii: number of radii for the default grid.

    Note:
        The assignment runs in NumPy float64 on the input as given, whatever JAX's x64 setting:
        pass a float64 NumPy array to keep its precision when x64 is off. The returned
        ``distribution`` and ``signs`` are in JAX's float dtype (float32 when x64 is off).

    Returns:
        :class:`CenterOutwardRanks`. In ``d = 1`` this is the centred rank map: the sorted
        sample goes to the sorted grid :math:`\{\pm j/(n_R+1)\}`, i.e.
        :math:`\mathbf{F}_\pm^{(n)} \approx 2F_n - 1`.

    Raises:
        ValueError: if ``x`` has NaN/inf, fewer than 2 rows, or ``grid`` does not match.

    Example:
        >>> import jax
        >>> x = jax.random.normal(jax.random.key(0), (50, 2))
        >>> r = center_outward_ranks(x)
        >>> r.ranks.shape, int(r.ranks.max()) == r.grid.n_radii
        ((50,), True)

    References:
        Hallin, M., del Barrio, E., Cuesta-Albertos, J., Matrán, C. (2021). Distribution and
        quantile functions, ranks and signs in dimension d: a measure transportation approach.
        Ann. Statist. 49(2), 1139-1165. Jonker, R., Volgenant, A. (1987). Computing 38, 325-340.
    """
    x_in = x
    x = _checks.as_array("x", x, ndim=(1, 2))
    if x.ndim == 1:
        x = x[:, None]
    n, d = x.shape
    if n < 2:
        raise ValueError(f"x must have at least 2 points, got {n}")
    dtype = jnp.result_type(x.dtype, float)
    if grid is None:
        grid = reference_grid(n, d, n_radii=n_radii, dtype=dtype)
        u = reference_points(n, d, n_radii=n_radii)
    elif grid.points.shape != (n, d):
        raise ValueError(f"grid must have {n} points in dimension {d}, got {grid.points.shape}")
    else:
        u = np.asarray(grid.points, dtype=np.float64)
    # the host copy of the input as given, not the JAX array (float32 when x64 is off)
    x_host = np.asarray(x_in, dtype=np.float64).reshape(n, d)
    idx = _assignment(x_host, u)
    values = u[idx]
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    signs = np.where(norms > 0, values / np.where(norms > 0, norms, 1.0), 0.0)
    return CenterOutwardRanks(
        distribution=jnp.asarray(values, dtype=dtype),
        ranks=jnp.asarray(np.asarray(grid.radial_ranks)[idx], dtype=jnp.int32),
        signs=jnp.asarray(signs, dtype=dtype),
        grid=grid,
    )
