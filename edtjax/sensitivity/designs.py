"""Sampling designs for variance-based sensitivity analysis.

Two sources of uniform points on the open unit cube, both jittable and both addressable by point
index (so that a design can be generated chunk by chunk without being held in memory):

* :func:`sobol_sequence`: Sobol' low-discrepancy points with the Joe & Kuo direction numbers
  (``new-joe-kuo-6.21201``, first 4096 dimensions shipped with the package), optionally
  randomised by a linear matrix scramble plus a digital shift (Matousek 1998), which keeps the
  (t, m, s)-net structure and makes every point uniform on the cube.
* :func:`uniform_sample`: plain Monte Carlo from ``jax.random``.

:func:`saltelli_design` assembles the pick-freeze matrices ``A``, ``B``, ``AB_i`` (``A`` with the
columns of factor/group ``i`` taken from ``B``) and ``BA_i`` of Saltelli (2002, 2010).

The direction numbers are those published by S. Joe and F. Y. Kuo, freely usable with attribution
(https://web.maths.unsw.edu.au/~fkuo/sobol/).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_choice, check_int
from edtjax._typing import ArrayLike, DTypeLike, PRNGKey
from edtjax.sensitivity._sequences import (
    BITS,
    MAX_SOBOL_DIMS,
    check_saltelli_sobol,
    mc_sampler,
    sobol_sampler,
    unit_rows,
)

__all__ = [
    "SaltelliDesign",
    "saltelli_design",
    "sobol_sequence",
    "uniform_sample",
]


def _check_dims(num_dims, sampler: str) -> int:
    num_dims = check_int("num_dims", num_dims, minimum=1)
    if sampler == "sobol" and num_dims > MAX_SOBOL_DIMS:
        raise ValueError(
            f"num_dims must be <= {MAX_SOBOL_DIMS} for the Sobol' sequence, got {num_dims}"
        )
    return num_dims


def sobol_sequence(
    key: PRNGKey,
    num_points: int,
    num_dims: int,
    *,
    offset: int = 0,
    dtype: DTypeLike | None = None,
) -> jax.Array:
    """Points of the (optionally scrambled) Sobol' sequence on the open unit cube.

    Point ``n`` is ``x_n = XOR_k g_k(n) V_k`` where ``g(n) = n ^ (n >> 1)`` is the Gray code of
    ``n`` and ``V_k`` are the Joe & Kuo direction numbers; with a key, the direction numbers are
    multiplied (over GF(2)) by a random unit lower-triangular matrix per dimension and XORed with
    a random digital shift (Matousek's linear matrix scramble), so every point is uniform and the
    net structure is kept. The 32-bit integers are mapped to the centres of dyadic cells,
    ``(bits + 1/2) 2^-b`` with ``b = min(32, mantissa bits)``, so points lie in the open ``(0, 1)``.

    Cost ``O(num_points * num_dims * 32)`` integer operations, plus ``O(num_dims * 32^3)`` for the
    scramble. Jittable (``num_points``, ``num_dims`` static); ``key=None`` gives the unscrambled
    sequence (identical to ``scipy.stats.qmc.Sobol(scramble=False)`` up to the cell centring).

    Args:
        key: PRNG key for the scramble, or ``None`` for the plain sequence.
        num_points: number of points ``n`` (a power of two keeps the balance properties).
        num_dims: dimension ``d``, at most 4096.
        offset: index of the first point returned.
        dtype: floating dtype of the result (default: JAX's default float).

    Returns:
        Array of shape ``(num_points, num_dims)`` in ``(0, 1)``.

    Example:
        >>> import jax
        >>> x = sobol_sequence(jax.random.key(0), 8, 3)
        >>> x.shape
        (8, 3)

    References:
        Joe, S. and Kuo, F. Y. (2008). Constructing Sobol sequences with better two-dimensional
        projections. SIAM J. Sci. Comput. 30(5), 2635-2654.
        Matousek, J. (1998). On the L2-discrepancy for anchored boxes. J. Complexity 14, 527-556.
    """
    num_points = check_int("num_points", num_points, minimum=1)
    num_dims = _check_dims(num_dims, "sobol")
    offset = check_int("offset", offset, minimum=0)
    if num_points + offset > 2**BITS:
        raise ValueError(f"offset + num_points must be <= 2^{BITS}, got {offset + num_points}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    points = sobol_sampler(key, num_dims, dtype, num_points + offset)
    return points(jnp.arange(num_points, dtype=jnp.uint32) + jnp.uint32(offset))


def uniform_sample(
    key: PRNGKey, num_points: int, num_dims: int, *, dtype: DTypeLike | None = None
) -> jax.Array:
    """I.i.d. uniform points on the open unit cube (cell centres of a ``2^-b`` grid).

    Row ``n`` is drawn from ``jax.random.fold_in(key, n)``, so any subset of rows can be
    regenerated independently (used for chunked designs). Cost ``O(num_points * num_dims)``.

    Args:
        key: PRNG key.
        num_points: number of points.
        num_dims: dimension.
        dtype: floating dtype (default: JAX's default float).

    Returns:
        Array of shape ``(num_points, num_dims)`` in ``(0, 1)``.

    Example:
        >>> import jax
        >>> uniform_sample(jax.random.key(0), 4, 2).shape
        (4, 2)

    References:
        Saltelli, A. et al. (2010). Variance based sensitivity analysis of model output. Design
        and estimator for the total sensitivity index. Comput. Phys. Commun. 181, 259-270.
    """
    num_points = check_int("num_points", num_points, minimum=1)
    num_dims = _check_dims(num_dims, "mc")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    return mc_sampler(key, num_dims, dtype)(jnp.arange(num_points, dtype=jnp.uint32))


class SaltelliDesign(NamedTuple):
    """Pick-freeze matrices on the unit cube.

    Attributes:
        a: ``(n, d)`` base matrix ``A``.
        b: ``(n, d)`` independent matrix ``B``.
        ab: ``(g, n, d)``; ``ab[i]`` is ``A`` with the columns of group ``i`` taken from ``B``.
        ba: ``(g, n, d)``; ``ba[i]`` is ``B`` with the columns of group ``i`` taken from ``A``,
            or ``None`` when second-order indices are not requested.
    """

    a: jax.Array
    b: jax.Array
    ab: jax.Array
    ba: jax.Array | None


def _group_mask(groups, num_dims: int) -> np.ndarray:
    """Boolean ``(num_groups, num_dims)`` membership matrix from one group id per column."""
    if groups is None:
        return np.eye(num_dims, dtype=bool)
    ids = np.asarray(groups)
    if ids.shape != (num_dims,):
        raise ValueError(f"groups must have shape ({num_dims},), got {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0:
        raise ValueError("groups must hold non-negative integer group ids")
    num_groups = int(ids.max()) + 1
    if set(ids.tolist()) != set(range(num_groups)):
        raise ValueError(f"groups must use every id in 0..{num_groups - 1}")
    return ids[None, :] == np.arange(num_groups)[:, None]


def _cross(a, b, mask):
    """``AB`` and ``BA`` for a ``(g, d)`` mask: ``(g, *a.shape)`` each."""
    m = jnp.asarray(mask)[:, None, :]
    return jnp.where(m, b[None], a[None]), jnp.where(m, a[None], b[None])


def saltelli_design(
    key: PRNGKey,
    num_samples: int,
    num_dims: int,
    *,
    sampler: str = "sobol",
    groups: ArrayLike | None = None,
    second_order: bool = False,
    dtype: DTypeLike | None = None,
) -> SaltelliDesign:
    """Saltelli pick-freeze design on the unit cube.

    ``A`` and ``B`` are the first and last ``d`` columns of a ``2d``-dimensional sequence (the
    scrambled Sobol' sequence, or Monte Carlo); ``AB_i = A`` with group ``i``'s columns from
    ``B``, ``BA_i = B`` with group ``i``'s columns from ``A``. A full analysis costs
    ``n (g + 2)`` model runs, ``n (2g + 2)`` with second order; the design holds that many rows.

    Args:
        key: PRNG key (scramble for ``"sobol"``, draws for ``"mc"``).
        num_samples: ``n``, base sample size (power of two for Sobol': warns otherwise).
        num_dims: ``d``, number of scalar factors.
        sampler: ``"sobol"`` or ``"mc"``.
        groups: optional ``(d,)`` integer group id per column (ids ``0..g-1``).
        second_order: also build the ``BA`` matrices.
        dtype: floating dtype (default: JAX's default float).

    Returns:
        A :class:`SaltelliDesign`.

    Example:
        >>> import jax
        >>> design = saltelli_design(jax.random.key(0), 16, 3)
        >>> design.ab.shape
        (3, 16, 3)

    References:
        Saltelli, A. (2002). Making best use of model evaluations to compute sensitivity indices.
        Comput. Phys. Commun. 145, 280-297.
        Saltelli, A. et al. (2010). Comput. Phys. Commun. 181, 259-270.
    """
    sampler = check_choice("sampler", sampler, ("sobol", "mc"))
    num_samples = check_int("num_samples", num_samples, minimum=2)
    num_dims = _check_dims(num_dims, sampler)
    if sampler == "sobol":
        check_saltelli_sobol(
            num_dims,
            num_samples,
            lambda limit: (
                f"num_dims must be <= {limit} for a Sobol' Saltelli design "
                f"(it uses 2 * num_dims dimensions), got {num_dims}"
            ),
        )
    mask = _group_mask(groups, num_dims)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    rows = unit_rows(key, sampler, num_dims, dtype, num_samples)
    a, b = rows(jnp.arange(num_samples, dtype=jnp.uint32))
    ab, ba = _cross(a, b, mask)
    return SaltelliDesign(a, b, ab, ba if second_order else None)
