"""One-call sampling of the 2-D Ising model: vmapped chains, traces and a summary with errors."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import check_choice, check_even, check_int
from edtjax.lattice.ising import (
    check_couplings,
    float_dtype,
    ising_energy,
    ising_heatbath_kernel,
    ising_magnetisation,
    ising_metropolis_kernel,
)
from edtjax.lattice.ising_cluster import ising_swendsen_wang_kernel
from edtjax.lattice.ising_multispin import (
    ising_multispin_kernel,
    ising_packed_energy,
    ising_packed_magnetisation,
)

__all__ = ["ALGORITHMS", "IsingSample", "sample_ising"]

ALGORITHMS = ("metropolis", "heatbath", "swendsen_wang", "multispin")
"""Names accepted by :func:`sample_ising`'s ``algorithm``."""

_KERNELS = {
    "metropolis": ising_metropolis_kernel,
    "heatbath": ising_heatbath_kernel,
    "swendsen_wang": ising_swendsen_wang_kernel,
    "multispin": ising_multispin_kernel,
}


class IsingSample(NamedTuple):
    """Output of :func:`sample_ising`.

    Attributes:
        traces: ``{"energy", "magnetisation"}``, each ``(num_chains, num_sweeps // thin)``:
            energy and magnetisation per site after every ``thin``-th sweep.
        final_state: the batched kernel state after the last sweep (``IsingState`` or
            ``IsingPackedState`` with a leading chain axis).
        info: per-recorded-sweep kernel diagnostics, each ``(num_chains, num_sweeps // thin)``.
    """

    traces: dict[str, jax.Array]
    final_state: Any
    info: dict[str, jax.Array]


def _observables(algorithm: str, J, h, dtype):
    if algorithm == "multispin":
        return lambda state: {
            "energy": ising_packed_energy(state, J, h),
            "magnetisation": ising_packed_magnetisation(state, dtype),
        }
    return lambda state: {
        "energy": ising_energy(state.spins, J, h),
        "magnetisation": ising_magnetisation(state.spins, dtype),
    }


@functools.partial(
    jax.jit,
    static_argnames=("size", "num_sweeps", "num_chains", "algorithm", "thin", "burn_in"),
)
def _sample(key, beta, J, h, *, size, num_sweeps, num_chains, algorithm, thin, burn_in):
    dtype = float_dtype(beta, J, h)
    kernel = _KERNELS[algorithm](beta, J=J, h=h)
    observe = _observables(algorithm, J, h, dtype)
    k_init, k_burn, k_run = jax.random.split(key, 3)
    hot = jax.random.bernoulli(k_init, 0.5, (num_chains, size, size))
    state = jax.vmap(kernel.init)(jnp.where(hot, 1, -1).astype(jnp.int8))
    step = jax.vmap(kernel.step)

    def sweep(state, k):
        state, info = step(jax.random.split(k, num_chains), state)
        return state, info

    state, _ = jax.lax.scan(sweep, state, jax.random.split(k_burn, burn_in))

    def block(state, k):
        state, info = jax.lax.scan(sweep, state, jax.random.split(k, thin))
        last_info = jax.tree.map(lambda x: x[-1], info)
        return state, (observe_batched(state), last_info)

    observe_batched = jax.vmap(observe)
    state, (traces, info) = jax.lax.scan(block, state, jax.random.split(k_run, num_sweeps // thin))
    swap = functools.partial(jnp.swapaxes, axis1=0, axis2=1)  # (samples, chains) -> (chains, ...)
    return IsingSample(jax.tree.map(swap, traces), state, jax.tree.map(swap, info))


def sample_ising(
    key: jax.Array,
    L: int,
    beta: Any,
    num_sweeps: int,
    *,
    num_chains: int = 1,
    algorithm: str = "metropolis",
    thin: int = 1,
    burn_in: int | None = None,
    J: Any = 1.0,
    h: Any = 0.0,
) -> IsingSample:
    """Sample the periodic ``L x L`` Ising model with vmapped chains and record observables.

    Every chain starts from an independent random ("hot") configuration, runs ``burn_in`` sweeps
    that are discarded, then ``num_sweeps`` sweeps of which every ``thin``-th is recorded. A sweep
    is one ``step`` of the chosen kernel (one visit of every spin, or one Swendsen-Wang update).
    The whole run is one jitted ``lax.scan`` (sizes static): a second call with a new ``key``,
    ``beta``, ``J`` or ``h`` does not recompile. Cost :math:`O(\\text{chains} \\times
    (\\text{burn\\_in} + \\text{num\\_sweeps}) \\times L^2)`.

    Args:
        key: PRNG key (``jax.random.key``).
        L: linear size: even for the checkerboard kernels, a multiple of 64 for ``"multispin"``,
            ``>= 2`` for ``"swendsen_wang"``.
        beta: inverse temperature, ``>= 0``.
        num_sweeps: sweeps after burn-in, ``>= 1``.
        num_chains: independent chains, ``>= 1``.
        algorithm: one of :data:`ALGORITHMS`.
        thin: record every ``thin``-th sweep, ``1 <= thin <= num_sweeps``.
        burn_in: discarded initial sweeps, ``>= 0``; ``None`` means ``num_sweeps // 10``.
        J: coupling, finite.
        h: field, finite.

    Returns:
        :class:`IsingSample` with ``traces["energy"]`` and ``traces["magnetisation"]`` (per
        site) of shape ``(num_chains, num_sweeps // thin)``. Derived observables follow from the
        traces: :func:`~edtjax.lattice.specific_heat`, :func:`~edtjax.lattice.susceptibility`,
        :func:`~edtjax.lattice.binder_cumulant`.

    Raises:
        ValueError: for a non-integer or non-positive ``L``, ``num_sweeps``, ``num_chains`` or
            ``thin``, a negative ``burn_in``, an odd ``L`` with a checkerboard kernel, an
            unknown ``algorithm``, ``beta < 0`` or NaN, or non-finite ``J``/``h``.

    Example:
        >>> import jax
        >>> from edtjax.lattice import sample_ising
        >>> out = sample_ising(jax.random.key(0), 8, 0.3, 200, num_chains=4)
        >>> out.traces["energy"].shape
        (4, 200)

    References:
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, ch. 3-4;
        Swendsen and Wang (1987), Phys. Rev. Lett. 58, 86.
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    size = check_int("L", L, minimum=2)
    if algorithm in ("metropolis", "heatbath"):
        check_even("L", size)
    if algorithm == "multispin" and size % 64:
        raise ValueError(f"L must be a multiple of 64 for algorithm='multispin', got {size}")
    num_sweeps = check_int("num_sweeps", num_sweeps, minimum=1)
    num_chains = check_int("num_chains", num_chains, minimum=1)
    thin = check_int("thin", thin, minimum=1, maximum=num_sweeps)
    burn_in = num_sweeps // 10 if burn_in is None else check_int("burn_in", burn_in, minimum=0)
    check_couplings(beta, J, h)
    dtype = float_dtype(beta, J, h)
    return _sample(
        key,
        jnp.asarray(beta, dtype),
        jnp.asarray(J, dtype),
        jnp.asarray(h, dtype),
        size=size,
        num_sweeps=num_sweeps,
        num_chains=num_chains,
        algorithm=algorithm,
        thin=thin,
        burn_in=burn_in,
    )
