"""The 2-D Ising model: energy, observables and checkerboard Metropolis / heat-bath kernels.

The model lives on a periodic ``L x L`` square lattice of spins :math:`s_i \\in \\{-1, +1\\}`
(stored as ``int8``) with Hamiltonian

.. math::

    H(s) = -J \\sum_{\\langle ij \\rangle} s_i s_j - h \\sum_i s_i ,

where :math:`\\langle ij \\rangle` runs over the :math:`2 L^2` nearest-neighbour bonds, and
Boltzmann weight :math:`e^{-\\beta H}`. The critical point of the infinite ferromagnet (``J = 1``,
``h = 0``) is :math:`\\beta_c = \\ln(1 + \\sqrt 2) / 2 \\approx 0.4407`.

The local kernels update the two sublattices of the checkerboard (``(i + j)`` even, then odd) in
turn; spins of one colour only interact with spins of the other colour, so each half-sweep is an
exact parallel update. One ``step`` is one full sweep (every spin visited once). ``L`` must be
even for the checkerboard to tile the torus.

References:
    Metropolis, N., Rosenbluth, A. W., Rosenbluth, M. N., Teller, A. H. and Teller, E. (1953).
    Equation of state calculations by fast computing machines. J. Chem. Phys. 21, 1087.

    Newman, M. E. J. and Barkema, G. T. (1999). Monte Carlo Methods in Statistical Physics,
    chapters 3-4 (Metropolis and heat-bath algorithms, checkerboard decomposition). Oxford.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import check_even, check_int, check_real, is_concrete
from edtjax._typing import ArrayLike, DTypeLike
from edtjax.mcmc.kernel import Kernel

__all__ = [
    "BETA_CRITICAL",
    "IsingState",
    "ising_energy",
    "ising_heatbath_kernel",
    "ising_magnetisation",
    "ising_metropolis_kernel",
    "specific_heat",
]

BETA_CRITICAL = float(np.log1p(np.sqrt(2.0)) / 2.0)
"""Onsager's critical inverse temperature :math:`\\ln(1+\\sqrt 2)/2` of the ``J = 1`` model."""


class IsingState(NamedTuple):
    """State of one Ising chain.

    Attributes:
        spins: ``int8`` array of shape ``(L, L)`` with entries ``-1`` or ``+1``.
    """

    spins: jax.Array


def check_couplings(beta: ArrayLike, J: ArrayLike, h: ArrayLike) -> None:
    """Validate ``beta >= 0`` and finite ``J``, ``h`` (concrete values only)."""
    check_real("beta", beta, minimum=0.0)
    check_real("J", J)
    check_real("h", h)


def check_spins(spins: ArrayLike, *, even: bool = True) -> jax.Array:
    """Validate an ``(L, L)`` spin array of +-1 entries and return it as ``int8``."""
    arr = jnp.asarray(spins)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"spins must have shape (L, L), got {arr.shape}")
    size = check_int("L", arr.shape[0], minimum=2)
    if even:
        check_even("L", size)
    if is_concrete(arr) and not np.all(np.abs(np.asarray(arr)) == 1):
        raise ValueError("spins must contain only -1 and +1")
    return arr.astype(jnp.int8)


def float_dtype(*values: ArrayLike | DTypeLike) -> np.dtype:
    """The floating dtype the kernels compute in: that of the inputs, or JAX's default float."""
    dtype = jnp.result_type(*values)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def neighbour_sum(spins: jax.Array) -> jax.Array:
    """Sum of the four periodic nearest neighbours of every site, same dtype as ``spins``."""
    return (
        jnp.roll(spins, 1, axis=-1)
        + jnp.roll(spins, -1, axis=-1)
        + jnp.roll(spins, 1, axis=-2)
        + jnp.roll(spins, -1, axis=-2)
    )


def checkerboard_masks(size: int) -> tuple[jax.Array, jax.Array]:
    """Boolean masks of the even (``(i+j)`` even) and odd sublattices of an ``L x L`` torus."""
    parity = (np.arange(size)[:, None] + np.arange(size)[None, :]) % 2
    return jnp.asarray(parity == 0), jnp.asarray(parity == 1)


def ising_energy(spins: jax.Array, J: ArrayLike = 1.0, h: ArrayLike = 0.0) -> jax.Array:
    """Energy per site :math:`H(s) / L^2` of one or a batch of configurations.

    Args:
        spins: array of shape ``(..., L, L)`` with entries +-1 (any integer or float dtype).
        J: nearest-neighbour coupling.
        h: external field.

    Returns:
        Array of shape ``(...)`` in the floating dtype of ``J``/``h`` (default float otherwise).
        Cost :math:`O(L^2)` per configuration.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import ising_energy
        >>> float(ising_energy(jnp.ones((4, 4), jnp.int8)))
        -2.0

    References:
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, ch. 3.
    """
    dtype = float_dtype(J, h)
    s = spins.astype(dtype)
    bonds = s * (jnp.roll(s, 1, axis=-1) + jnp.roll(s, 1, axis=-2))
    n_sites = spins.shape[-1] * spins.shape[-2]
    total = -J * jnp.sum(bonds, axis=(-2, -1)) - h * jnp.sum(s, axis=(-2, -1))
    return total / n_sites


def ising_magnetisation(spins: jax.Array, dtype: DTypeLike = None) -> jax.Array:
    """Magnetisation per site :math:`m = \\sum_i s_i / L^2` of one or a batch of configurations.

    Args:
        spins: array of shape ``(..., L, L)`` with entries +-1.
        dtype: floating dtype of the result (JAX's default float if ``None``).

    Returns:
        Array of shape ``(...)``. :math:`|m|`, :math:`m^2` and :math:`m^4` follow elementwise.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import ising_magnetisation
        >>> float(ising_magnetisation(-jnp.ones((4, 4), jnp.int8)))
        -1.0

    References:
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, ch. 3.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    n_sites = spins.shape[-1] * spins.shape[-2]
    return jnp.sum(spins.astype(dtype), axis=(-2, -1)) / n_sites


def specific_heat(energy: jax.Array, beta: ArrayLike, n_sites: int) -> jax.Array:
    """Specific heat per site :math:`c = \\beta^2 N (\\langle e^2 \\rangle - \\langle e\\rangle^2)`.

    Args:
        energy: samples of the energy per site :math:`e = H/N`, any shape (all axes averaged).
        beta: inverse temperature.
        n_sites: number of sites :math:`N = L^2`.

    Returns:
        Scalar estimate. Pass this function to ``edtjax.mcmc.derived_error`` for an error bar.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import specific_heat
        >>> float(specific_heat(jnp.array([-1.0, -2.0]), 0.5, 16))
        1.0

    References:
        Newman and Barkema (1999), eq. (3.15).
    """
    return beta**2 * n_sites * (jnp.mean(energy**2) - jnp.mean(energy) ** 2)


def _colour_uniforms(key, shape, dtype):
    """One uniform per site of one colour, laid out on the full lattice.

    Every horizontal pair of sites ``(i, 2k), (i, 2k + 1)`` holds exactly one site of each
    colour, so both share the pair's number and each number is used by one update only: half the
    random numbers of drawing one per site.
    """
    size = shape[-1]
    u = jax.random.uniform(key, (*shape[:-1], size // 2, 1), dtype)
    return jnp.broadcast_to(u, (*shape[:-1], size // 2, 2)).reshape(shape)


def _half_sweep_metropolis(key, spins, mask, beta, J, h, dtype):
    field = J * neighbour_sum(spins).astype(dtype) + h
    delta_e = 2.0 * spins.astype(dtype) * field
    u = _colour_uniforms(key, spins.shape, dtype)
    flip = mask & (u < jnp.exp(-beta * delta_e))
    return jnp.where(flip, -spins, spins), jnp.sum(flip)


def _half_sweep_heatbath(key, spins, mask, beta, J, h, dtype):
    field = J * neighbour_sum(spins).astype(dtype) + h
    p_up = jax.nn.sigmoid(2.0 * beta * field)
    u = _colour_uniforms(key, spins.shape, dtype)
    new = jnp.where(u < p_up, jnp.int8(1), jnp.int8(-1))
    updated = jnp.where(mask, new, spins)
    return updated, jnp.sum(updated != spins)


def _checkerboard_kernel(half_sweep, beta, J, h) -> Kernel:
    check_couplings(beta, J, h)
    dtype = float_dtype(beta, J, h)

    def init(spins: jax.Array) -> IsingState:
        return IsingState(check_spins(spins))

    def step(key: jax.Array, state: IsingState) -> tuple[IsingState, dict[str, jax.Array]]:
        spins = state.spins
        even, odd = checkerboard_masks(spins.shape[-1])
        k_even, k_odd = jax.random.split(key)
        spins, n_even = half_sweep(k_even, spins, even, beta, J, h, dtype)
        spins, n_odd = half_sweep(k_odd, spins, odd, beta, J, h, dtype)
        rate = (n_even + n_odd).astype(dtype) / spins.size
        return IsingState(spins), {"flip_rate": rate}

    return Kernel(init=init, step=step)


def ising_metropolis_kernel(beta: ArrayLike, *, J: ArrayLike = 1.0, h: ArrayLike = 0.0) -> Kernel:
    """Checkerboard single-spin-flip Metropolis kernel; one ``step`` is one full sweep.

    Each half-sweep proposes to flip every spin of one colour and accepts with probability
    :math:`\\min(1, e^{-\\beta \\Delta E})` with
    :math:`\\Delta E = 2 s_i (J \\sum_{j \\sim i} s_j + h)`.
    Cost per sweep :math:`O(L^2)`; vectorise chains with ``jax.vmap`` over ``step``.

    Args:
        beta: inverse temperature, ``>= 0`` (may be a traced value).
        J: coupling, finite.
        h: field, finite.

    Returns:
        ``Kernel(init, step)``: ``init(spins)`` takes an ``(L, L)`` array of +-1 with ``L`` even
        and returns an :class:`IsingState`; ``step(key, state)`` returns ``(state, info)`` with
        ``info["flip_rate"]`` the fraction of spins flipped in the sweep.

    Raises:
        ValueError: if ``beta`` is negative or NaN, ``J``/``h`` are not finite, or (in ``init``)
            the spins are not a square array with even ``L`` and +-1 entries.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.lattice import ising_metropolis_kernel
        >>> kernel = ising_metropolis_kernel(0.44)
        >>> state = kernel.init(jnp.ones((8, 8), jnp.int8))
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), state)

    References:
        Metropolis et al. (1953), J. Chem. Phys. 21, 1087; Newman and Barkema (1999), ch. 3.
    """
    return _checkerboard_kernel(_half_sweep_metropolis, beta, J, h)


def ising_heatbath_kernel(beta: ArrayLike, *, J: ArrayLike = 1.0, h: ArrayLike = 0.0) -> Kernel:
    """Checkerboard heat-bath (Gibbs) kernel; one ``step`` is one full sweep.

    Each spin of one colour is redrawn from its conditional distribution
    :math:`P(s_i = +1 \\mid \\text{rest}) = 1 / (1 + e^{-2 \\beta (J \\sum_{j \\sim i} s_j + h)})`.
    Cost per sweep :math:`O(L^2)`.

    Args:
        beta: inverse temperature, ``>= 0``.
        J: coupling, finite.
        h: field, finite.

    Returns:
        ``Kernel(init, step)`` as for :func:`ising_metropolis_kernel`; ``info["flip_rate"]`` is
        the fraction of spins that changed.

    Raises:
        ValueError: as for :func:`ising_metropolis_kernel`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.lattice import ising_heatbath_kernel
        >>> kernel = ising_heatbath_kernel(0.44)
        >>> state, info = kernel.step(jax.random.key(0), kernel.init(jnp.ones((8, 8), jnp.int8)))

    References:
        Glauber, R. J. (1963). Time-dependent statistics of the Ising model. J. Math. Phys. 4,
        294; Newman and Barkema (1999), section 4.5.
    """
    return _checkerboard_kernel(_half_sweep_heatbath, beta, J, h)
