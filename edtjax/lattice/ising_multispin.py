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

The random words are by default counter-based (Threefry-2x32 of the site and plane under a key
drawn once per sweep) and computed next to the comparison that consumes them, so a sweep reads
and writes only the spins: the same update runs as fused ``jax.numpy`` or as a Pallas kernel,
bit for bit.

References:
    Jacobs, L. and Rebbi, C. (1981). Multi-spin coding: a very efficient technique for Monte
    Carlo simulations of spin systems. J. Comput. Phys. 41, 203.

    Block, B., Virnau, P. and Preis, T. (2010). Multi-GPU accelerated multi-spin Monte Carlo
    simulations of the 2D Ising model. Comput. Phys. Commun. 181, 1549.

    Salmon, J. K., Moraes, M. A., Dror, R. O. and Shaw, D. E. (2011). Parallel random numbers:
    as easy as 1, 2, 3. Proc. SC'11, 16.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from edtjax._checks import check_choice, check_int
from edtjax._typing import ArrayLike, DTypeLike, PRNGKey
from edtjax.lattice._counter_rng import sweep_seed, threefry2x32
from edtjax.lattice.ising import check_couplings, check_spins, float_dtype
from edtjax.mcmc.kernel import Kernel

__all__ = [
    "IsingPackedState",
    "MULTISPIN_GENERATORS",
    "ising_multispin_kernel",
    "ising_pack",
    "ising_packed_energy",
    "ising_packed_magnetisation",
    "ising_unpack",
]

_BITS = 32
_RANDOM_BITS = 24
_CLASSES = 10

MULTISPIN_GENERATORS = ("threefry", "key")
"""Random-word sources accepted by :func:`ising_multispin_kernel`'s ``generator``."""


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


def _acceptance_table(beta, J, h, dtype) -> jax.Array:
    """The ``(1 + 24, 10)`` ``uint32`` table of the ten classes ``(b, s)`` of :func:`_class_masks`.

    Row 0 is all ones where the class always flips (:math:`p = 1`), else zero; row ``1 + k`` is
    all ones where bit ``k`` (least significant first) of the threshold
    :math:`\\lfloor p\\, 2^{24} \\rfloor` is set, so that a spin flips when its 24-bit random
    integer is below the threshold.
    """
    scale = jnp.asarray(2.0**_RANDOM_BITS, dtype)
    always, levels = [], []
    for b in range(5):
        for sign in (1.0, -1.0):
            delta_e = 2.0 * J * (4.0 - 2.0 * b) + 2.0 * h * sign
            level = jnp.floor(jnp.exp(-beta * jnp.maximum(delta_e, 0.0)) * scale)
            # p = 1 (Delta E <= 0 or beta = 0): always flip; else flip when r < floor(p 2^24).
            always.append(level >= scale)
            levels.append(jnp.where(level >= scale, 0.0, level).astype(jnp.uint32))
    levels = jnp.stack(levels)
    shifts = jnp.arange(_RANDOM_BITS, dtype=jnp.uint32)[:, None]
    bits = jnp.concatenate([jnp.stack(always)[None], ((levels >> shifts) & 1) == 1])
    return jnp.where(bits, jnp.uint32(0xFFFFFFFF), jnp.uint32(0))


def _class_masks(spins: jax.Array, neighbours) -> list[jax.Array]:
    """Words marking the spins of each class ``(b, s)``: ``b`` antiparallel neighbours (0-4),
    spin up then down, in the order of :func:`_acceptance_table`."""
    b0, b1, b2 = _count_antiparallel(spins, neighbours)
    nb0, nb1, nb2, nspin = ~b0, ~b1, ~b2, ~spins
    count_masks = (nb2 & nb1 & nb0, nb2 & nb1 & b0, nb2 & b1 & nb0, nb2 & b1 & b0, b2)
    return [count & spin for count in count_masks for spin in (spins, nspin)]


def _flip_words(
    spins: jax.Array, neighbours, always, thresholds, plane_pair, unroll: bool
) -> jax.Array:
    """Words marking the spins that flip, given the random words of every spin.

    The comparison :math:`r < T` of a spin's 24-bit random integer with the threshold of its
    class runs bit-serially from the least significant bit, with one carried word:
    :math:`\\ell_k = (\\bar r_k\\, t_k) \\lor (\\overline{r_k \\oplus t_k}\\, \\ell_{k-1})` is
    :math:`r \\bmod 2^{k+1} < T \\bmod 2^{k+1}`, over the twelve pairs of bits.

    Args:
        spins: words of the colour being updated.
        neighbours: its four neighbour words (:func:`_neighbours`).
        always: the ten words of row 0 of :func:`_acceptance_table`, indexable by class.
        thresholds: ``thresholds(p)[i][c]`` is the word of bit ``2p + i`` of class ``c``'s
            threshold (rows ``1 + 2p + i`` of :func:`_acceptance_table`); ``p`` is traced.
        plane_pair: ``plane_pair(p)`` returns the random words of bits ``2p`` and ``2p + 1``.
        unroll: unroll the loop over the pairs. XLA then fuses the whole comparison and the
            random words into one pass over the words (two to three times faster on a CPU than
            a rolled loop); a GPU kernel keeps the loop rolled.
    """
    masks = _class_masks(spins, neighbours)
    accept = functools.reduce(jnp.bitwise_or, [m & always[c] for c, m in enumerate(masks)])

    def compare_pair(p: jax.Array, less: jax.Array) -> jax.Array:
        selectors = thresholds(p)
        for i, r_bit in enumerate(plane_pair(p)):
            t_bit = functools.reduce(
                jnp.bitwise_or, [m & selectors[i][c] for c, m in enumerate(masks)]
            )
            less = (~r_bit & t_bit) | (~(r_bit ^ t_bit) & less)
        return less

    zeros = jnp.zeros_like(spins)
    less = jax.lax.fori_loop(0, _RANDOM_BITS // 2, compare_pair, zeros, unroll=unroll)
    return accept | less


def _counter_plane_pair(seed, counter: jax.Array, colour: int):
    """``plane_pair`` of :func:`_flip_words` for the counter-based generator.

    Pair ``p`` of the word with index ``counter`` in its colour's ``(L, L // 64)`` array is
    Threefry-2x32 of the counter ``(counter, 12 colour + p)`` under the key ``seed``, so no two
    random words of a sweep share a counter.
    """

    def plane_pair(p: jax.Array) -> tuple[jax.Array, jax.Array]:
        tag = (p + colour * (_RANDOM_BITS // 2)).astype(jnp.uint32)
        return threefry2x32(seed[0], seed[1], counter, tag)

    return plane_pair


def _word_counters(shape: tuple[int, int]) -> jax.Array:
    """Row-major index of every word of an ``(L, L // 64)`` colour array, as ``uint32``."""
    rows = jax.lax.broadcasted_iota(jnp.uint32, shape, 0)
    cols = jax.lax.broadcasted_iota(jnp.uint32, shape, 1)
    return rows * jnp.uint32(shape[1]) + cols


def _stored_pair(words: jax.Array, p: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``plane_pair`` of :func:`_flip_words` for 24 random words drawn into an array, the first
    being the most significant bit."""
    last = _RANDOM_BITS - 1
    return words[last - 2 * p], words[last - 1 - 2 * p]


def _half_sweep(spins, other, black, table, plane_pair):
    neighbours = _neighbours(other, black)
    pairs = table[1:].reshape(_RANDOM_BITS // 2, 2, -1)
    accept = _flip_words(spins, neighbours, table[0], lambda p: pairs[p], plane_pair, True)
    n_flipped = jnp.sum(jax.lax.population_count(accept).astype(jnp.int32))
    return spins ^ accept, n_flipped


def _pallas_half_sweep(seed, table, spins, other, black, block_rows):
    """One colour's update as a Pallas kernel over blocks of ``block_rows`` word rows.

    Each program reads its block of spins and the neighbour words of the other colour (its rows,
    the rows above and below, and the adjacent word for the carry bit), computes the random
    words of its sites in registers and writes the updated block and its per-row flip counts.
    On CPU the kernel runs in Pallas interpret mode.
    """
    size, width = spins.shape
    colour = 0 if black else 1

    def kernel(seed_ref, table_ref, other_ref, spins_ref, out_ref, count_ref) -> None:
        shape = (block_rows, width)
        rows = pl.program_id(0) * block_rows + jax.lax.broadcasted_iota(jnp.int32, shape, 0)
        cols = jax.lax.broadcasted_iota(jnp.int32, shape, 1)
        # Same neighbours as _neighbours: the carry comes from the word before (``minus``) on
        # rows where the colour's sites sit left of the other colour's, else from the word after.
        minus = (rows % 2 == 0) == black
        centre = other_ref[rows, cols]
        adjacent = other_ref[rows, (cols + jnp.where(minus, width - 1, 1)) % width]
        side = jnp.where(
            minus,
            (centre << 1) | (adjacent >> (_BITS - 1)),
            (centre >> 1) | (adjacent << (_BITS - 1)),
        )
        up = other_ref[(rows + size - 1) % size, cols]
        down = other_ref[(rows + 1) % size, cols]
        counter = (rows * width + cols).astype(jnp.uint32)
        plane_pair = _counter_plane_pair((seed_ref[0], seed_ref[1]), counter, colour)
        words = spins_ref[...]
        always = [table_ref[0, c] for c in range(_CLASSES)]

        def thresholds(p: jax.Array) -> list[list[jax.Array]]:
            return [[table_ref[1 + 2 * p + i, c] for c in range(_CLASSES)] for i in range(2)]

        neighbours = (up, down, centre, side)
        accept = _flip_words(words, neighbours, always, thresholds, plane_pair, False)
        out_ref[...] = words ^ accept
        count_ref[...] = jnp.sum(jax.lax.population_count(accept).astype(jnp.int32), axis=1)

    def whole(array: jax.Array) -> pl.BlockSpec:
        return pl.BlockSpec(array.shape, lambda i: (0,) * array.ndim)

    new, counts = pl.pallas_call(
        kernel,
        out_shape=(
            jax.ShapeDtypeStruct(spins.shape, jnp.uint32),
            jax.ShapeDtypeStruct((size,), jnp.int32),
        ),
        grid=(size // block_rows,),
        in_specs=[
            whole(seed),
            whole(table),
            whole(other),
            pl.BlockSpec((block_rows, width), lambda i: (i, 0)),
        ],
        out_specs=(
            pl.BlockSpec((block_rows, width), lambda i: (i, 0)),
            pl.BlockSpec((block_rows,), lambda i: (i,)),
        ),
        interpret=jax.default_backend() == "cpu",
    )(seed, table, other, spins)
    return new, jnp.sum(counts)


def ising_multispin_kernel(
    beta: ArrayLike,
    *,
    J: ArrayLike = 1.0,
    h: ArrayLike = 0.0,
    generator: str = "threefry",
    implementation: str = "xla",
    block_rows: int | None = None,
) -> Kernel:
    """Multi-spin coded checkerboard Metropolis kernel; one ``step`` is one full sweep.

    Same Markov chain as :func:`~edtjax.lattice.ising_metropolis_kernel` (acceptance
    :math:`\\min(1, e^{-\\beta\\Delta E})` on the even then the odd sublattice) with 32 spins per
    ``uint32`` word; see the module docstring for the bitwise update. Cost per sweep
    :math:`O(L^2 / 32)` words, each with about 650 bitwise operations and 24 random words (twelve
    Threefry-2x32 evaluations, about 1,400 integer operations in registers, with
    ``generator="threefry"``).

    The random words (:data:`MULTISPIN_GENERATORS`):

    - ``"threefry"`` (default): counter-based. Two key words are drawn from ``key`` once per
      sweep; the 24 words of every site are Threefry-2x32-20 of (word index, colour and pair of
      bits) under that key, computed where they are compared and never stored. Threefry-2x32-20
      is the bijection behind ``jax.random``'s default generator (the same words as
      ``jax.extend.random.threefry_2x32``), so the quality is that of ``jax.random``, and a sweep
      moves only the spins through memory: on a CPU it is several times faster than ``"key"``
      (``benchmarks/ising.py``), and it is the generator the Pallas kernel computes in
      registers.
    - ``"key"``: ``jax.random.bits(key, (24, L, L // 64))`` per colour, written to memory and
      read back, with the implementation of ``key`` (threefry, or e.g.
      ``jax.random.key(seed, impl="rbg")``). This is the stream of earlier releases.

    Args:
        beta: inverse temperature, ``>= 0``.
        J: coupling, finite.
        h: field, finite.
        generator: one of :data:`MULTISPIN_GENERATORS`.
        implementation: ``"xla"`` (``jax.numpy``, fused by XLA) or ``"pallas"``, a Pallas
            kernel per colour with the random words generated in registers, written for GPUs
            (``generator="threefry"`` only; on a CPU it runs in Pallas interpret mode, slowly,
            for checking). Both give bit-identical chains for the same key.
        block_rows: word rows per Pallas program (``implementation="pallas"``), a divisor of
            ``L``; ``None`` takes :math:`\\gcd(L, \\max(1, \\lfloor 65536 / L \\rfloor))`, about
            1,024 words per program.

    Returns:
        ``Kernel(init, step)``: ``init(spins)`` packs an ``(L, L)`` array of +-1 with ``L`` a
        multiple of 64 into an :class:`IsingPackedState`; ``step(key, state)`` returns
        ``(state, info)`` with ``info["flip_rate"]``. Observables:
        :func:`ising_packed_energy`, :func:`ising_packed_magnetisation`, :func:`ising_unpack`.

    Raises:
        ValueError: if ``beta`` is negative or NaN, ``J``/``h`` are not finite, ``generator`` or
            ``implementation`` is unknown, ``"pallas"`` is asked with ``generator="key"``,
            ``block_rows`` is not a positive integer, or (in ``init``) the spins are not a
            square +-1 array with ``L`` a multiple of 64 and of ``block_rows``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.lattice import ising_multispin_kernel, ising_packed_energy
        >>> kernel = ising_multispin_kernel(0.44)
        >>> state = kernel.init(jnp.ones((64, 64), jnp.int8))
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), state)
        >>> energy = ising_packed_energy(state)

    References:
        Jacobs and Rebbi (1981), J. Comput. Phys. 41, 203; Block, Virnau and Preis (2010),
        Comput. Phys. Commun. 181, 1549; Salmon et al. (2011), Parallel random numbers: as
        easy as 1, 2, 3, Proc. SC'11.
    """
    check_couplings(beta, J, h)
    check_choice("generator", generator, MULTISPIN_GENERATORS)
    check_choice("implementation", implementation, ("xla", "pallas"))
    if implementation == "pallas" and generator != "threefry":
        msg = f"implementation='pallas' needs generator='threefry', got generator={generator!r}"
        raise ValueError(msg)
    if block_rows is not None:
        block_rows = check_int("block_rows", block_rows, minimum=1)
    dtype = float_dtype(beta, J, h)

    def init(spins: jax.Array) -> IsingPackedState:
        spins = check_spins(spins)
        size = spins.shape[0]
        if size % (2 * _BITS):
            msg = f"L must be a multiple of {2 * _BITS} for multi-spin coding, got {size}"
            raise ValueError(msg)
        if implementation == "pallas" and block_rows is not None and size % block_rows:
            raise ValueError(f"L must be a multiple of block_rows={block_rows}, got {size}")
        return ising_pack(spins)

    def step(
        key: PRNGKey, state: IsingPackedState
    ) -> tuple[IsingPackedState, dict[str, jax.Array]]:
        table = _acceptance_table(beta, J, h, dtype)
        shape = state.black.shape
        if implementation == "pallas":
            rows = block_rows or math.gcd(shape[0], max(1, 65536 // shape[0]))
            # Power-of-two block shapes for GPU lowering; the kernel reads only the real entries.
            table = jnp.pad(table, ((0, 32 - table.shape[0]), (0, 16 - table.shape[1])))
            seed = sweep_seed(key)
            black, n_black = _pallas_half_sweep(seed, table, state.black, state.white, True, rows)
            white, n_white = _pallas_half_sweep(seed, table, state.white, black, False, rows)
        else:
            if generator == "key":
                keys = jax.random.split(key)
                words = [jax.random.bits(k, (_RANDOM_BITS, *shape), jnp.uint32) for k in keys]
                pairs = [functools.partial(_stored_pair, w) for w in words]
            else:
                seed, counter = sweep_seed(key), _word_counters(shape)
                pairs = [_counter_plane_pair(seed, counter, colour) for colour in (0, 1)]
            black, n_black = _half_sweep(state.black, state.white, True, table, pairs[0])
            white, n_white = _half_sweep(state.white, black, False, table, pairs[1])
        n_sites = 2 * state.black.size * _BITS
        rate = (n_black + n_white).astype(dtype) / n_sites
        return IsingPackedState(black, white), {"flip_rate": rate}

    return Kernel(init=init, step=step)


def _popcount_sum(words: jax.Array) -> jax.Array:
    return jnp.sum(jax.lax.population_count(words).astype(jnp.int32), axis=(-2, -1))


def ising_packed_magnetisation(state: IsingPackedState, dtype: DTypeLike = None) -> jax.Array:
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


def ising_packed_energy(
    state: IsingPackedState, J: ArrayLike = 1.0, h: ArrayLike = 0.0
) -> jax.Array:
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
