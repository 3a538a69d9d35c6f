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

import functools
import pathlib
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_choice, check_int
from edtjax._typing import ArrayLike, DTypeLike, PRNGKey

__all__ = [
    "SaltelliDesign",
    "saltelli_design",
    "sobol_sequence",
    "uniform_sample",
]

_BITS = 32
_TABLE = pathlib.Path(__file__).with_name("joe_kuo_6_21201_4096.npz")
_MAX_SOBOL_DIMS = 4096


@functools.lru_cache(maxsize=16)
def _direction_numbers(num_dims: int) -> np.ndarray:
    """Integer direction numbers ``V[d, k] = m_{d,k+1} * 2^(32-k-1)``, shape ``(num_dims, 32)``.

    Recurrence of Bratley & Fox (1988) with the primitive polynomials and initial values of
    Joe & Kuo (2008): ``m_k = m_{k-s} ^ (m_{k-s} << s) ^ XOR_{i<s} a_i (m_{k-i} << i)``.
    """
    with np.load(_TABLE) as table:
        poly = table["poly"][:num_dims].astype(np.int64)
        vinit = table["vinit"][:num_dims].astype(np.int64)
    degree = np.floor(np.log2(poly)).astype(np.int64)
    degree[0] = 0
    m = np.zeros((num_dims, _BITS), dtype=np.int64)
    m[0, :] = 1
    for k in range(_BITS):
        init = k < degree
        if init.any():
            m[init, k] = vinit[init, k]
        rec = (~init) & (np.arange(num_dims) > 0)
        if not rec.any():
            continue
        s = degree[rec]
        rows = np.nonzero(rec)[0]
        new = m[rows, k - s] ^ (m[rows, k - s] << s)
        for i in range(1, int(s.max())):
            use = i < s
            a_i = (poly[rows] >> (s - i)) & 1
            term = np.where(use & (a_i == 1), m[rows, np.maximum(k - i, 0)] << i, 0)
            new = new ^ term
        m[rows, k] = new
    shifts = _BITS - 1 - np.arange(_BITS)
    return (m << shifts).astype(np.uint32)


def _to_unit_interval(bits: jax.Array, dtype) -> jax.Array:
    """Map 32-bit integers to the centres of dyadic cells in the open interval ``(0, 1)``."""
    mantissa = jnp.finfo(dtype).nmant + 1
    keep = min(mantissa, _BITS)
    top = jnp.right_shift(bits, jnp.uint32(_BITS - keep)).astype(dtype)
    return (top + 0.5) * jnp.asarray(2.0**-keep, dtype)


def _scrambled_directions(key, num_dims: int) -> jax.Array:
    """Direction numbers after a random linear matrix scramble (lower triangular, unit diagonal)."""
    v = jnp.asarray(_direction_numbers(num_dims))
    if key is None:
        return v
    shifts = jnp.arange(_BITS - 1, -1, -1, dtype=jnp.uint32)  # bit k counted from the MSB
    bits = jnp.right_shift(v[:, :, None], shifts) & jnp.uint32(1)  # (D, 32 directions, 32 bits)
    lower = jax.random.bernoulli(key, 0.5, (num_dims, _BITS, _BITS)).astype(jnp.uint32)
    lower = jnp.tril(lower, -1) + jnp.eye(_BITS, dtype=jnp.uint32)
    mixed = jnp.einsum("dkl,djl->djk", lower, bits) & jnp.uint32(1)
    return jnp.sum(jnp.left_shift(mixed, shifts), axis=-1, dtype=jnp.uint32)


def _sobol_points(directions, shift, index, dtype, num_bits=_BITS) -> jax.Array:
    """Sobol' points with integer ``index`` (any shape) from prepared direction numbers.

    ``index`` must be below ``2^num_bits``: the Gray code's higher bits are zero and select
    no direction number, so they are skipped.
    """
    gray = jnp.bitwise_xor(index, jnp.right_shift(index, jnp.uint32(1))).astype(jnp.uint32)
    acc = jnp.broadcast_to(shift, (*gray.shape, directions.shape[0])).astype(jnp.uint32)
    for k in range(num_bits):
        on = (jnp.right_shift(gray, jnp.uint32(k)) & jnp.uint32(1)).astype(bool)
        acc = jnp.bitwise_xor(acc, jnp.where(on[..., None], directions[:, k], jnp.uint32(0)))
    return _to_unit_interval(acc, dtype)


def _index_bits(num_points: int | None) -> int:
    """Bits that hold every index below ``num_points`` (all 32 when unknown)."""
    return _BITS if num_points is None else max(1, (num_points - 1).bit_length())


def _sobol_sampler(key, num_dims: int, dtype, num_points: int | None = None):
    """Return ``points(index) -> (*index.shape, num_dims)`` for a (scrambled) Sobol' sequence;
    with ``num_points``, for indices below it only."""
    if key is None:
        directions = _scrambled_directions(None, num_dims)
        shift = jnp.zeros((num_dims,), jnp.uint32)
    else:
        k_scramble, k_shift = jax.random.split(key)
        directions = _scrambled_directions(k_scramble, num_dims)
        shift = jax.random.bits(k_shift, (num_dims,), jnp.uint32)
    bits = _index_bits(num_points)
    return lambda index: _sobol_points(directions, shift, index.astype(jnp.uint32), dtype, bits)


def _mc_sampler(key, num_dims: int, dtype, num_points: int | None = None):
    """Return ``points(index)``: i.i.d. uniform rows, row ``n`` from ``fold_in(key, n)``
    (``num_points`` is not needed)."""

    def point(n: jax.Array) -> jax.Array:
        bits = jax.random.bits(jax.random.fold_in(key, n), (num_dims,), jnp.uint32)
        return _to_unit_interval(bits, dtype)

    def points(index: jax.Array) -> jax.Array:
        flat = jax.vmap(point)(index.reshape(-1).astype(jnp.uint32))
        return flat.reshape(*index.shape, num_dims)

    return points


def _check_dims(num_dims, sampler: str) -> int:
    num_dims = check_int("num_dims", num_dims, minimum=1)
    if sampler == "sobol" and num_dims > _MAX_SOBOL_DIMS:
        raise ValueError(
            f"num_dims must be <= {_MAX_SOBOL_DIMS} for the Sobol' sequence, got {num_dims}"
        )
    return num_dims


def _check_saltelli_sobol(num_dims: int, num_samples: int, message) -> None:
    """Checks for a Sobol' Saltelli design, which draws ``2 * num_dims`` sequence dimensions.

    Raises ``ValueError(message(limit))`` when ``num_dims`` exceeds ``limit``, the largest
    allowed count, and warns (at the public function's caller) when ``num_samples`` is not a
    power of two.
    """
    if 2 * num_dims > _MAX_SOBOL_DIMS:
        raise ValueError(message(_MAX_SOBOL_DIMS // 2))
    if num_samples & (num_samples - 1):
        warnings.warn(
            f"num_samples={num_samples} is not a power of two; Sobol' points keep their "
            "balance properties only for powers of two",
            UserWarning,
            stacklevel=3,
        )


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
    if num_points + offset > 2**_BITS:
        raise ValueError(f"offset + num_points must be <= 2^{_BITS}, got {offset + num_points}")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    points = _sobol_sampler(key, num_dims, dtype, num_points + offset)
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
    return _mc_sampler(key, num_dims, dtype)(jnp.arange(num_points, dtype=jnp.uint32))


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


def _unit_rows(key, sampler: str, num_dims: int, dtype, num_points: int | None = None):
    """``rows(index) -> (a, b)`` uniform rows of ``A`` and ``B`` (each ``(*index.shape, d)``),
    for indices below ``num_points`` (any ``uint32`` when ``None``)."""
    make = _sobol_sampler if sampler == "sobol" else _mc_sampler
    points = make(key, 2 * num_dims, dtype, num_points)

    def rows(index: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = points(index)
        return x[..., :num_dims], x[..., num_dims:]

    return rows


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
        _check_saltelli_sobol(
            num_dims,
            num_samples,
            lambda limit: (
                f"num_dims must be <= {limit} for a Sobol' Saltelli design "
                f"(it uses 2 * num_dims dimensions), got {num_dims}"
            ),
        )
    mask = _group_mask(groups, num_dims)
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.zeros(()).dtype
    rows = _unit_rows(key, sampler, num_dims, dtype, num_samples)
    a, b = rows(jnp.arange(num_samples, dtype=jnp.uint32))
    ab, ba = _cross(a, b, mask)
    return SaltelliDesign(a, b, ab, ba if second_order else None)
