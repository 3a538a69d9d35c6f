"""One-call sampling of the 2-D Ising model: vmapped chains, traces and a summary with errors."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import check_choice, check_even, check_int, check_memory
from edtjax._typing import ArrayLike, PyTree
from edtjax.lattice._moments import binder_cumulant, connected_moment, scaled
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
    IsingPackedState,
    ising_multispin_kernel,
    ising_packed_energy,
    ising_packed_magnetisation,
)
from edtjax.mcmc import GammaResult, derived_error, gamma_method, run_chains

__all__ = ["ISING_ALGORITHMS", "IsingSample", "ising_observables", "ising_summary", "sample_ising"]

ISING_ALGORITHMS = ("metropolis", "heatbath", "swendsen_wang", "multispin")
"""Names accepted by :func:`sample_ising`'s ``algorithm`` (:data:`PHI4_ALGORITHMS` for phi^4)."""

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
        info: kernel diagnostics averaged over the sweeps after burn-in, each ``(num_chains,)``
            (``flip_rate``; for Swendsen-Wang also ``num_clusters`` and ``rounds``).
        summary: :class:`~edtjax.mcmc.GammaResult` (mean, error, ``tau_int`` in recorded
            samples, ...) over all chains for ``energy``, ``magnetisation``,
            ``abs_magnetisation``, ``magnetisation_squared``, and the derived ``specific_heat``,
            ``susceptibility`` (:math:`\\beta N \\operatorname{Var}(m)`, see :func:`ising_summary`)
            and ``binder_cumulant`` (errors by the Gamma method, Wolff 2004).
    """

    traces: dict[str, jax.Array]
    final_state: PyTree
    info: dict[str, jax.Array]
    summary: dict[str, GammaResult]


def ising_observables(
    state: PyTree, J: ArrayLike = 1.0, h: ArrayLike = 0.0
) -> dict[str, jax.Array]:
    """Energy and magnetisation per site of one chain's state, for any Ising kernel's state.

    Pass ``functools.partial(ising_observables, J=J, h=h)`` as ``observables`` to
    :func:`edtjax.mcmc.run_chains` (e.g. for checkpointed or progress-bar runs), then
    :func:`ising_summary` on the traces. Cost :math:`O(L^2)`.

    Args:
        state: an :class:`~edtjax.lattice.IsingState` or
            :class:`~edtjax.lattice.IsingPackedState`.
        J: coupling used for the energy.
        h: field used for the energy.

    Returns:
        ``{"energy": e, "magnetisation": m}`` in the floating dtype of ``J``/``h``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.lattice import IsingState, ising_observables
        >>> obs = ising_observables(IsingState(jnp.ones((4, 4), jnp.int8)))
        >>> float(obs["energy"]), float(obs["magnetisation"])
        (-2.0, 1.0)

    References:
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, ch. 3.
    """
    dtype = float_dtype(J, h)
    if isinstance(state, IsingPackedState):
        return {
            "energy": ising_packed_energy(state, J, h),
            "magnetisation": ising_packed_magnetisation(state, dtype),
        }
    return {
        "energy": ising_energy(state.spins, J, h),
        "magnetisation": ising_magnetisation(state.spins, dtype),
    }


def _run(
    key, beta, J, h, *, size, num_sweeps, num_chains, algorithm, thin, burn_in, start, progress
):
    kernel = _KERNELS[algorithm](beta, J=J, h=h)
    k_init, k_run = jax.random.split(key)
    up = jax.random.bernoulli(k_init, 0.5 if start == "random" else 1.0, (num_chains, size, size))
    state = jax.vmap(kernel.init)(jnp.where(up, 1, -1).astype(jnp.int8))
    return run_chains(
        k_run,
        kernel,
        state,
        burn_in + num_sweeps,
        num_chains=num_chains,
        thin=thin,
        burn_in=burn_in,
        observables=functools.partial(ising_observables, J=J, h=h),
        progress=progress,
    )


_sample = jax.jit(
    functools.partial(_run, progress=False),
    static_argnames=("size", "num_sweeps", "num_chains", "algorithm", "thin", "burn_in", "start"),
)


def ising_summary(traces: dict[str, jax.Array], beta: ArrayLike, L: int) -> dict[str, GammaResult]:
    r"""Means and autocorrelation-aware errors of the Ising observables from recorded traces.

    Primary observables (energy per site :math:`e`, :math:`m`, :math:`|m|`, :math:`m^2`) go
    through :func:`edtjax.mcmc.gamma_method`; the specific heat
    :math:`\beta^2 N (\langle e^2\rangle - \langle e\rangle^2)`, the susceptibility
    :math:`\chi = \beta N (\langle m^2\rangle - \langle m\rangle^2)` and the Binder cumulant
    :math:`1 - \langle m^4\rangle / (3\langle m^2\rangle^2)` through
    :func:`edtjax.mcmc.derived_error` (linear error propagation of the Gamma method).
    Cost :math:`O(N_s \log N_s)` for :math:`N_s` recorded samples.

    The susceptibility is :math:`\partial\langle m\rangle/\partial h` for the field :math:`h` of
    the Hamiltonian (weight :math:`e^{-\beta H}`), so it carries the factor :math:`\beta`, like
    :attr:`IsingEnumeration.susceptibility <edtjax.lattice.IsingEnumeration>`; the
    :math:`\phi^4` summary of :func:`edtjax.lattice.sample_phi4` has :math:`\beta` absorbed into
    the couplings and no such factor. Divide by ``beta`` to get
    :math:`N(\langle m^2\rangle - \langle m\rangle^2) = \sum_x \langle s_0 s_x\rangle_c`.

    Args:
        traces: ``{"energy", "magnetisation"}`` of shape ``(num_chains, n)``, ``n >= 4``.
        beta: inverse temperature of the run.
        L: linear size of the run (``N = L^2`` sites).

    Returns:
        ``dict`` of :class:`~edtjax.mcmc.GammaResult`.

    Example:
        >>> import jax
        >>> from edtjax.lattice import ising_summary, sample_ising
        >>> out = sample_ising(jax.random.key(0), 8, 0.3, 400, num_chains=2)
        >>> summary = ising_summary(out.traces, 0.3, 8)
        >>> sorted(summary)[:2]
        ['abs_magnetisation', 'binder_cumulant']

    References:
        Wolff, U. (2004). Monte Carlo errors with less errors. Comput. Phys. Commun. 156, 143.
    """
    energy, m = traces["energy"], traces["magnetisation"]
    n_sites = L * L
    return {
        "energy": gamma_method(energy),
        "magnetisation": gamma_method(m),
        "abs_magnetisation": gamma_method(jnp.abs(m)),
        "magnetisation_squared": gamma_method(m**2),
        "specific_heat": scaled(
            derived_error(connected_moment, {"x": energy, "x2": energy**2}), beta**2 * n_sites
        ),
        "susceptibility": scaled(
            derived_error(connected_moment, {"x": m, "x2": m**2}), beta * n_sites
        ),
        "binder_cumulant": derived_error(binder_cumulant, {"m2": m**2, "m4": m**4}),
    }


def sample_ising(
    key: jax.Array,
    L: int,
    beta: ArrayLike,
    num_sweeps: int,
    *,
    num_chains: int = 1,
    algorithm: str = "metropolis",
    thin: int = 1,
    burn_in: int | None = None,
    start: str = "random",
    J: ArrayLike = 1.0,
    h: ArrayLike = 0.0,
    progress: bool = False,
) -> IsingSample:
    """Sample the periodic ``L x L`` Ising model with vmapped chains and record observables.

    Every chain starts from an independent random ("hot") configuration, or from the ordered
    all-up one with ``start="ordered"`` (advisable below the critical temperature, where local
    updates from a random start can stay in long-lived striped states), runs ``burn_in`` sweeps
    that are discarded, then ``num_sweeps`` sweeps of which every ``thin``-th is recorded. A sweep
    is one ``step`` of the chosen kernel (one visit of every spin, or one Swendsen-Wang update).
    The chains run through :func:`edtjax.mcmc.run_chains` inside one jitted computation (sizes
    static): a second call with a new ``key``, ``beta``, ``J`` or ``h`` does not recompile. The
    summary comes from :func:`ising_summary`. Cost :math:`O(\\text{chains} \\times
    (\\text{burn\\_in} + \\text{num\\_sweeps}) \\times L^2)`.

    Args:
        key: PRNG key (``jax.random.key``).
        L: linear size: even for the checkerboard kernels, a multiple of 64 for ``"multispin"``,
            ``>= 2`` for ``"swendsen_wang"``.
        beta: inverse temperature, ``>= 0``.
        num_sweeps: sweeps after burn-in, with ``num_sweeps // thin >= 4`` recorded samples.
        num_chains: independent chains, ``>= 1``.
        algorithm: one of :data:`ISING_ALGORITHMS`. ``"multispin"`` is
            :func:`~edtjax.lattice.ising_multispin_kernel` with its defaults (counter-based
            random words, XLA); for its other generator or its Pallas implementation pass that
            kernel to :func:`edtjax.mcmc.run_chains` with :func:`ising_observables`.
        thin: record every ``thin``-th sweep, ``1 <= thin <= num_sweeps``.
        burn_in: discarded initial sweeps, ``>= 0``; ``None`` means ``num_sweeps // 10``.
        start: ``"random"`` (independent fair spins) or ``"ordered"`` (all +1).
        J: coupling, finite.
        h: field, finite.
        progress: show a progress bar on stderr; the chains then run in compiled segments
            outside one enclosing ``jit`` (same result, compiled anew for each call).

    Returns:
        :class:`IsingSample` with ``traces["energy"]`` and ``traces["magnetisation"]`` (per
        site) of shape ``(num_chains, num_sweeps // thin)`` and the ``summary`` with errors.

    Raises:
        ValueError: for a non-integer or non-positive ``L``, ``num_sweeps``, ``num_chains`` or
            ``thin``, a negative ``burn_in``, an odd ``L`` with a checkerboard kernel, an
            unknown ``algorithm`` or ``start``, ``beta < 0`` or NaN, or non-finite ``J``/``h``.

    Example:
        >>> import jax
        >>> from edtjax.lattice import sample_ising
        >>> out = sample_ising(jax.random.key(0), 8, 0.3, 200, num_chains=4)
        >>> out.traces["energy"].shape
        (4, 200)
        >>> energy = out.summary["energy"]  # .mean, .error, .tau_int

    References:
        Newman and Barkema (1999), Monte Carlo Methods in Statistical Physics, ch. 3-4;
        Swendsen and Wang (1987), Phys. Rev. Lett. 58, 86.
    """
    check_choice("algorithm", algorithm, ISING_ALGORITHMS)
    check_choice("start", start, ("random", "ordered"))
    size = check_int("L", L, minimum=2)
    if algorithm in ("metropolis", "heatbath"):
        check_even("L", size)
    if algorithm == "multispin" and size % 64:
        raise ValueError(f"L must be a multiple of 64 for algorithm='multispin', got {size}")
    num_sweeps = check_int("num_sweeps", num_sweeps, minimum=1)
    num_chains = check_int("num_chains", num_chains, minimum=1)
    thin = check_int("thin", thin, minimum=1, maximum=num_sweeps)
    if num_sweeps // thin < 4:
        raise ValueError(
            f"num_sweeps // thin must be >= 4 recorded samples, got {num_sweeps} // {thin}"
        )
    burn_in = num_sweeps // 10 if burn_in is None else check_int("burn_in", burn_in, minimum=0)
    check_couplings(beta, J, h)
    # About 16 bytes per site and chain: the int8 spins, the sweep's uniforms (or the cluster
    # labels of Swendsen-Wang) and XLA's temporaries.
    check_memory(
        "the lattices and their sweep buffers", 16 * num_chains * size**2, "num_chains or L"
    )
    dtype = float_dtype(beta, J, h)
    run = functools.partial(_run, progress=True) if progress else _sample
    result = run(
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
        start=start,
    )
    summary = ising_summary(result.traces, beta, size)
    return IsingSample(result.traces, result.final_state, result.info, summary)
