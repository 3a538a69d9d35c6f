"""Multi-spin coded checkerboard Metropolis for the 2-D Ising model: 32 spins per ``uint32``.

The lattice is split into its two checkerboard sublattices, each stored as an ``(L, L/2)`` array
of spins packed 32 to a ``uint32`` word along the row (bit ``j`` of word ``w`` is sublattice
column ``32 w + j``; bit 1 means spin +1). In this layout the four neighbours of a whole word of
one colour are four words of the other colour (the row above, the row below, the same word and
the word shifted by one spin with the carry bit taken from the adjacent word), so one sweep is a
handful of bitwise operations per 32 spins:

1. the neighbour disagreements :math:`a_d = s \\oplus n_d` are added with a bit-sliced adder into
   the 3-bit count :math:`b \\in \\{0..4\\}` of antiparallel neighbours, so that
   :math:`\\Delta E = 2J(4 - 2b) + 2hs`;
2. the ten classes :math:`(b, s)` have acceptance probabilities
   :math:`p = \\min(1, e^{-\\beta\\Delta E})`; classes with :math:`\\Delta E \\le 0` always flip,
   the others flip when a per-spin 24-bit random integer :math:`r` satisfies
   :math:`r < \\lfloor p\\, 2^{24} \\rfloor`, evaluated for all 32 spins at once by a bit-serial
   comparison against 24 random words (the same 2^-24 resolution as a float32 uniform);
3. the accepted spins are flipped by one XOR.

Each spin gets its own independent random bits, so the chain is exactly the checkerboard
Metropolis chain of :func:`~edtjax.lattice.ising_metropolis_kernel` (up to the 2^-24 rounding of
the acceptance probabilities, which the float32 kernel shares). ``L`` must be a multiple of 64.

References:
    Jacobs, L. and Rebbi, C. (1981). Multi-spin coding: a very efficient technique for Monte
    Carlo simulations of spin systems. J. Comput. Phys. 41, 203.

    Block, B., Virnau, P. and Preis, T. (2010). Multi-GPU accelerated multi-spin Monte Carlo
    simulations of the 2D Ising model. Comput. Phys. Commun. 181, 1549.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from edtjax.lattice.ising import check_couplings, check_spins, float_dtype
from edtjax.mcmc.kernel import Kernel

__all__ = [
    "IsingPackedState",
    "ising_multispin_kernel",
    "ising_pack",
    "ising_packed_energy",
    "ising_packed_magnetisation",
    "ising_unpack",
]

_BITS = 32
_RANDOM_BITS = 24


class IsingPackedState(NamedTuple):
    """Multi-spin coded state of one chain.

    Attributes:
        black: ``uint32`` array ``(L, L // 64)``: spins with ``i + j`` even, 32 per word.
        white: ``uint32`` array ``(L, L // 64)``: spins with ``i + j`` odd, 32 per word.
    """

    black: jax.Array
    white: jax.Array


def _row_parity(size: int) -> jax.Array:
    return (jnp.arange(size) % 2 == 0)[:, None]


def _pack_bits(sub: jax.Array) -> jax.Array:
    size, half = sub.shape
    bits = (sub > 0).astype(jnp.uint32).reshape(size, half // _BITS, _BITS)
    return jnp.sum(bits << jnp.arange(_BITS, dtype=jnp.uint32), axis=-1, dtype=jnp.uint32)


def _unpack_bits(words: jax.Array) -> jax.Array:
    size = words.shape[0]
    bits = (words[..., None] >> jnp.arange(_BITS, dtype=jnp.uint32)) & 1
    return (2 * bits.astype(jnp.int8) - 1).reshape(size, -1)


def ising_pack(spins: jax.Array) -> IsingPackedState:
    """Pack an ``(L, L)`` array of +-1 (``L`` a multiple of 64) into an :class:`IsingPackedState`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import ising_pack, ising_unpack
        >>> spins = jnp.ones((64, 64), jnp.int8).at[3, 5].set(-1)
        >>> bool(jnp.all(ising_unpack(ising_pack(spins)) == spins))
        True

    References:
        Jacobs and Rebbi (1981), J. Comput. Phys. 41, 203.
    """
    size = spins.shape[0]
    pairs = spins.reshape(size, size // 2, 2)
    even_row = _row_parity(size)
    black = jnp.where(even_row, pairs[:, :, 0], pairs[:, :, 1])
    white = jnp.where(even_row, pairs[:, :, 1], pairs[:, :, 0])
    return IsingPackedState(_pack_bits(black), _pack_bits(white))


def ising_unpack(state: IsingPackedState) -> jax.Array:
    """Inverse of :func:`ising_pack`: the ``(L, L)`` ``int8`` spin array.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import ising_pack, ising_unpack
        >>> ising_unpack(ising_pack(-jnp.ones((64, 64), jnp.int8))).shape
        (64, 64)

    References:
        Jacobs and Rebbi (1981), J. Comput. Phys. 41, 203.
    """
    black, white = _unpack_bits(state.black), _unpack_bits(state.white)
    size = black.shape[0]
    even_row = _row_parity(size)
    first = jnp.where(even_row, black, white)
    second = jnp.where(even_row, white, black)
    return jnp.stack([first, second], axis=-1).reshape(size, size)


def _shift_minus(words: jax.Array) -> jax.Array:
    """Packed rows whose column ``k`` holds column ``k - 1`` (periodic)."""
    return (words << 1) | (jnp.roll(words, 1, axis=-1) >> (_BITS - 1))


def _shift_plus(words: jax.Array) -> jax.Array:
    """Packed rows whose column ``k`` holds column ``k + 1`` (periodic)."""
    return (words >> 1) | (jnp.roll(words, -1, axis=-1) << (_BITS - 1))


def _neighbours(other: jax.Array, black: bool) -> tuple[jax.Array, ...]:
    """The four neighbour words of every word of one colour, from the other colour's words."""
    even_row = _row_parity(other.shape[0])
    minus, plus = _shift_minus(other), _shift_plus(other)
    side = jnp.where(even_row, minus, plus) if black else jnp.where(even_row, plus, minus)
    return jnp.roll(other, 1, axis=0), jnp.roll(other, -1, axis=0), other, side


def _count_antiparallel(spins: jax.Array, neighbours) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Bit-sliced count ``b = sum_d (s xor n_d)`` as bit planes ``(b0, b1, b2)``."""
    a1, a2, a3, a4 = (spins ^ n for n in neighbours)
    s1, c1 = a1 ^ a2, a1 & a2
    s2, c2 = a3 ^ a4, a3 & a4
    b0, carry = s1 ^ s2, s1 & s2
    b1 = c1 ^ c2 ^ carry
    b2 = (c1 & c2) | (carry & (c1 ^ c2))
    return b0, b1, b2


def _half_sweep(key, spins, other, black, beta, J, h, dtype):
    b0, b1, b2 = _count_antiparallel(spins, _neighbours(other, black))
    ones = jnp.uint32(0xFFFFFFFF)
    nb0, nb1, nb2, nspin = ~b0, ~b1, ~b2, ~spins
    count_masks = (
        nb2 & nb1 & nb0,
        nb2 & nb1 & b0,
        nb2 & b1 & nb0,
        nb2 & b1 & b0,
        b2,
    )
    scale = jnp.asarray(2.0**_RANDOM_BITS, dtype)
    masks, always, thresholds = [], [], []
    for b, count_mask in enumerate(count_masks):
        for sign, spin_mask in ((1.0, spins), (-1.0, nspin)):
            delta_e = 2.0 * J * (4.0 - 2.0 * b) + 2.0 * h * sign
            level = jnp.floor(jnp.exp(-beta * jnp.maximum(delta_e, 0.0)) * scale)
            masks.append(count_mask & spin_mask)
            # p = 1 (Delta E <= 0 or beta = 0): always flip; else flip when r < floor(p 2^24).
            always.append(jnp.where(level >= scale, ones, jnp.uint32(0)))
            thresholds.append(jnp.where(level >= scale, 0.0, level).astype(jnp.uint32))
    accept = jnp.zeros_like(spins)
    for mask, all_or_none in zip(masks, always, strict=True):
        accept = accept | (mask & all_or_none)
    random_words = jax.random.bits(key, (_RANDOM_BITS, *spins.shape), jnp.uint32)
    masks = jnp.stack(masks)
    thresholds = jnp.stack(thresholds)

    def compare_bit(i, carry):
        # Most significant bit first: r < T once r and T first differ with r_i = 0, T_i = 1.
        less, equal = carry
        select = jnp.uint32(0) - ((thresholds >> jnp.uint32(_RANDOM_BITS - 1 - i)) & 1)
        t_bit = jnp.bitwise_or.reduce(masks & select.reshape(-1, 1, 1), axis=0)
        r_bit = random_words[i]
        return less | (equal & ~r_bit & t_bit), equal & ~(r_bit ^ t_bit)

    start = (jnp.zeros_like(spins), jnp.full_like(spins, ones))
    less, _ = jax.lax.fori_loop(0, _RANDOM_BITS, compare_bit, start)
    accept = accept | less
    n_flipped = jnp.sum(jax.lax.population_count(accept).astype(jnp.int32))
    return spins ^ accept, n_flipped


def ising_multispin_kernel(beta: Any, *, J: Any = 1.0, h: Any = 0.0) -> Kernel:
    """Multi-spin coded checkerboard Metropolis kernel; one ``step`` is one full sweep.

    Same Markov chain as :func:`~edtjax.lattice.ising_metropolis_kernel` (acceptance
    :math:`\\min(1, e^{-\\beta\\Delta E})` on the even then the odd sublattice) with 32 spins per
    ``uint32`` word; see the module docstring for the bitwise update. Cost per sweep
    :math:`O(L^2 / 32)` words, each with about 500 bitwise operations and 24 random words.

    Args:
        beta: inverse temperature, ``>= 0``.
        J: coupling, finite.
        h: field, finite.

    Returns:
        ``Kernel(init, step)``: ``init(spins)`` packs an ``(L, L)`` array of +-1 with ``L`` a
        multiple of 64 into an :class:`IsingPackedState`; ``step(key, state)`` returns
        ``(state, info)`` with ``info["flip_rate"]``. Observables:
        :func:`ising_packed_energy`, :func:`ising_packed_magnetisation`, :func:`ising_unpack`.

    Raises:
        ValueError: if ``beta`` is negative or NaN, ``J``/``h`` are not finite, or the spins are
            not a square +-1 array with ``L`` a multiple of 64.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.lattice import ising_multispin_kernel, ising_packed_energy
        >>> kernel = ising_multispin_kernel(0.44)
        >>> state = kernel.init(jnp.ones((64, 64), jnp.int8))
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), state)
        >>> energy = ising_packed_energy(state)

    References:
        Jacobs and Rebbi (1981), J. Comput. Phys. 41, 203; Block, Virnau and Preis (2010),
        Comput. Phys. Commun. 181, 1549.
    """
    check_couplings(beta, J, h)
    dtype = float_dtype(beta, J, h)

    def init(spins: jax.Array) -> IsingPackedState:
        spins = check_spins(spins)
        size = spins.shape[0]
        if size % (2 * _BITS):
            msg = f"L must be a multiple of {2 * _BITS} for multi-spin coding, got {size}"
            raise ValueError(msg)
        return ising_pack(spins)

    def step(key, state: IsingPackedState) -> tuple[IsingPackedState, dict[str, jax.Array]]:
        k_black, k_white = jax.random.split(key)
        black, n_black = _half_sweep(k_black, state.black, state.white, True, beta, J, h, dtype)
        white, n_white = _half_sweep(k_white, state.white, black, False, beta, J, h, dtype)
        n_sites = 2 * state.black.size * _BITS
        rate = (n_black + n_white).astype(dtype) / n_sites
        return IsingPackedState(black, white), {"flip_rate": rate}

    return Kernel(init=init, step=step)


def _popcount_sum(words: jax.Array) -> jax.Array:
    return jnp.sum(jax.lax.population_count(words).astype(jnp.int32), axis=(-2, -1))


def ising_packed_magnetisation(state: IsingPackedState, dtype: Any = None) -> jax.Array:
    """Magnetisation per site of a packed state, by population count.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import ising_pack, ising_packed_magnetisation
        >>> float(ising_packed_magnetisation(ising_pack(jnp.ones((64, 64), jnp.int8))))
        1.0

    References:
        Jacobs and Rebbi (1981), J. Comput. Phys. 41, 203.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    n_sites = 2 * state.black.shape[-2] * state.black.shape[-1] * _BITS
    up = _popcount_sum(state.black) + _popcount_sum(state.white)
    return (2 * up - n_sites).astype(dtype) / n_sites


def ising_packed_energy(state: IsingPackedState, J: Any = 1.0, h: Any = 0.0) -> jax.Array:
    """Energy per site of a packed state: :math:`-J(2N - 2 n_{\\uparrow\\downarrow}) - hM`, over N.

    :math:`n_{\\uparrow\\downarrow}` (antiparallel bonds) is the population count of the XOR of
    every even-sublattice word with its four neighbour words (each bond has one even end).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import ising_pack, ising_packed_energy
        >>> float(ising_packed_energy(ising_pack(jnp.ones((64, 64), jnp.int8))))
        -2.0

    References:
        Jacobs and Rebbi (1981), J. Comput. Phys. 41, 203.
    """
    dtype = float_dtype(J, h)
    n_sites = 2 * state.black.shape[-2] * state.black.shape[-1] * _BITS
    anti = sum(_popcount_sum(state.black ^ n) for n in _neighbours(state.white, True))
    m_total = ising_packed_magnetisation(state, dtype) * n_sites
    total = -J * (2.0 * n_sites - 2.0 * anti.astype(dtype)) - h * m_total
    return total / n_sites
