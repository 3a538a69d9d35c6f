"""Uniform points on the open unit cube addressable by index, for the sensitivity designs.

The engine under :mod:`edtjax.sensitivity.designs` and the chunked evaluation of
:func:`edtjax.sensitivity.sobol_indices`: a (scrambled) Sobol' sequence and Monte Carlo rows
that generate any subset of points from their indices, the rows of the pick-freeze base
matrices ``A`` and ``B`` built on them, and the checks a Sobol' Saltelli design needs.
"""

from __future__ import annotations

import functools
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np

BITS = 32
_TABLE = pathlib.Path(__file__).with_name("joe_kuo_6_21201_4096.npz")
MAX_SOBOL_DIMS = 4096


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
    m = np.zeros((num_dims, BITS), dtype=np.int64)
    m[0, :] = 1
    for k in range(BITS):
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
    shifts = BITS - 1 - np.arange(BITS)
    return (m << shifts).astype(np.uint32)


def _to_unit_interval(bits: jax.Array, dtype) -> jax.Array:
    """Map 32-bit integers to the centres of dyadic cells in the open interval ``(0, 1)``."""
    mantissa = jnp.finfo(dtype).nmant + 1
    keep = min(mantissa, BITS)
    top = jnp.right_shift(bits, jnp.uint32(BITS - keep)).astype(dtype)
    return (top + 0.5) * jnp.asarray(2.0**-keep, dtype)


def _scrambled_directions(key, num_dims: int) -> jax.Array:
    """Direction numbers after a random linear matrix scramble (lower triangular, unit diagonal)."""
    v = jnp.asarray(_direction_numbers(num_dims))
    if key is None:
        return v
    shifts = jnp.arange(BITS - 1, -1, -1, dtype=jnp.uint32)  # bit k counted from the MSB
    bits = jnp.right_shift(v[:, :, None], shifts) & jnp.uint32(1)  # (D, 32 directions, 32 bits)
    lower = jax.random.bernoulli(key, 0.5, (num_dims, BITS, BITS)).astype(jnp.uint32)
    lower = jnp.tril(lower, -1) + jnp.eye(BITS, dtype=jnp.uint32)
    mixed = jnp.einsum("dkl,djl->djk", lower, bits) & jnp.uint32(1)
    return jnp.sum(jnp.left_shift(mixed, shifts), axis=-1, dtype=jnp.uint32)


def _sobol_points(directions, shift, index, dtype, num_bits=BITS) -> jax.Array:
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
    return BITS if num_points is None else max(1, (num_points - 1).bit_length())


def sobol_sampler(key, num_dims: int, dtype, num_points: int | None = None):
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


def mc_sampler(key, num_dims: int, dtype, num_points: int | None = None):
    """Return ``points(index)``: i.i.d. uniform rows, row ``n`` from ``fold_in(key, n)``
    (``num_points`` is not needed)."""

    def point(n: jax.Array) -> jax.Array:
        bits = jax.random.bits(jax.random.fold_in(key, n), (num_dims,), jnp.uint32)
        return _to_unit_interval(bits, dtype)

    def points(index: jax.Array) -> jax.Array:
        flat = jax.vmap(point)(index.reshape(-1).astype(jnp.uint32))
        return flat.reshape(*index.shape, num_dims)

    return points


def check_saltelli_sobol(num_dims: int, num_samples: int, message) -> None:
    """Checks for a Sobol' Saltelli design, which draws ``2 * num_dims`` sequence dimensions.

    Raises ``ValueError(message(limit))`` when ``num_dims`` exceeds ``limit``, the largest
    allowed count, and warns (at the public function's caller) when ``num_samples`` is not a
    power of two.
    """
    if 2 * num_dims > MAX_SOBOL_DIMS:
        raise ValueError(message(MAX_SOBOL_DIMS // 2))
    if num_samples & (num_samples - 1):
        warnings.warn(
            f"num_samples={num_samples} is not a power of two; Sobol' points keep their "
            "balance properties only for powers of two",
            UserWarning,
            stacklevel=3,
        )


def unit_rows(key, sampler: str, num_dims: int, dtype, num_points: int | None = None):
    """``rows(index) -> (a, b)`` uniform rows of ``A`` and ``B`` (each ``(*index.shape, d)``),
    for indices below ``num_points`` (any ``uint32`` when ``None``)."""
    make = sobol_sampler if sampler == "sobol" else mc_sampler
    points = make(key, 2 * num_dims, dtype, num_points)

    def rows(index: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = points(index)
        return x[..., :num_dims], x[..., num_dims:]

    return rows
