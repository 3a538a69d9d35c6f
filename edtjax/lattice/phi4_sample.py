r"""One-call sampling of scalar :math:`\phi^4` lattice fields with error-barred observables.

:func:`sample_phi4` runs ``num_chains`` independent chains (``vmap``) of one of four samplers on
:math:`e^{-S[\phi]}`: blackjax HMC or NUTS, each tuned during burn-in by Stan-style window
adaptation (step size by dual averaging and a diagonal inverse mass matrix), blackjax MALA, or the
local checkerboard Metropolis kernel of :func:`edtjax.lattice.phi4_metropolis`; the last two get
their step size tuned by dual averaging during burn-in (targets 0.574 and 0.5). After burn-in the
tuned parameters are frozen, so the recorded chain is an exact Markov chain for :math:`e^{-S}`.

Recorded traces (every ``thin``-th step, shape ``(num_chains, num_steps // thin)``): the
magnetisation :math:`m`, :math:`|m|`, :math:`m^2`, :math:`m^4`, :math:`\overline{\phi^2}` (the mean
of :math:`\phi_x^2` over the lattice) and the action per site; optionally the two-point function
:math:`C(x)` of every recorded configuration. The summary holds Gamma-method means and errors
(integrated autocorrelation time with automatic windowing, Wolff 2004) of the primary
observables, and of the derived susceptibility
:math:`\chi = V(\langle m^2\rangle - \langle m\rangle^2) = \sum_x G_c(x)` and Binder cumulant
:math:`U_4 = 1 - \langle m^4\rangle/(3\langle m^2\rangle^2)`. Observables are in the field
normalisation of the given couplings (see :mod:`edtjax.lattice.phi4`).

The susceptibility has no factor :math:`\beta`: the weight is :math:`e^{-S}` with the inverse
temperature absorbed into the couplings, and :math:`\chi = \partial\langle m\rangle/\partial h`
for a source term :math:`-h\sum_x\phi_x` in :math:`S` (Montvay and Münster 1994). It is the same
response function as the Ising ``susceptibility`` of :func:`edtjax.lattice.ising_summary`, which
is :math:`\beta N \operatorname{Var}(m)` because there the field enters as :math:`e^{\beta h\sum
s}`; compare :math:`\phi^4` values with the Ising :math:`\chi/\beta`.

Cost: :math:`O(\text{num\_chains}\times(\text{burn\_in} + \text{num\_steps})\times g\,dV)` with
:math:`g` gradient evaluations per step (the number of leapfrog steps for HMC/NUTS, 1 for MALA,
0 for Metropolis, whose sweep costs about one action evaluation).

References:
    S. Duane, A. D. Kennedy, B. J. Pendleton and D. Roweth, "Hybrid Monte Carlo", Phys. Lett. B
    195, 216 (1987).
    M. D. Hoffman and A. Gelman, "The No-U-Turn Sampler", JMLR 15, 1593 (2014).
    G. O. Roberts and R. L. Tweedie, "Exponential convergence of Langevin distributions and their
    discrete approximations", Bernoulli 2, 341 (1996).
    U. Wolff, "Monte Carlo errors with less errors", Comput. Phys. Commun. 156, 143 (2004).
    M. S. Albergo, G. Kanwar and P. E. Shanahan, Phys. Rev. D 100, 034515 (2019).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_choice, check_int, check_real
from edtjax._typing import DTypeLike, PRNGKey, PyTree
from edtjax.lattice._moments import binder_cumulant, connected_moment, scaled
from edtjax.lattice.phi4 import (
    Couplings,
    check_couplings,
    phi4_action,
    phi4_logdensity_fn,
)
from edtjax.lattice.phi4_metropolis import phi4_metropolis
from edtjax.lattice.phi4_observables import two_point_function
from edtjax.mcmc import (
    GammaResult,
    Kernel,
    derived_error,
    gamma_method,
    run_chains,
    step_size_adaptation,
    window_adaptation,
)

__all__ = ["PHI4_ALGORITHMS", "Phi4Result", "sample_phi4"]

PHI4_ALGORITHMS = ("hmc", "nuts", "mala", "metropolis")
"""Names accepted by :func:`sample_phi4`'s ``algorithm`` (:data:`ISING_ALGORITHMS` for Ising)."""

_DEFAULT_STEP_SIZE = {"hmc": 0.1, "nuts": 0.1, "mala": 0.1, "metropolis": 1.0}
_MIN_RECORDS = 4  # shortest series the Gamma method accepts
_TARGET_ACCEPTANCE = {"hmc": 0.8, "nuts": 0.8, "mala": 0.574, "metropolis": 0.5}


class Phi4Result(NamedTuple):
    """Output of :func:`sample_phi4`.

    Attributes:
        traces: dict of recorded observables, each ``(num_chains, num_steps // thin)``
            (``"two_point"``, when requested, has the lattice shape appended).
        summary: dict name -> Gamma-method result (``mean``, ``error``, ``tau_int``, ...) for the
            scalar traces and for ``"susceptibility"`` (:math:`V\\operatorname{Var}(m)`, no
            factor :math:`\\beta`; see the module docstring) and ``"binder_cumulant"``.
        final_state: sampler state of every chain after the last step (resume from
            ``final_state.position``).
        info: dict with the tuned ``"step_size"`` per chain, the mean ``"acceptance_rate"`` per
            chain and, for HMC/NUTS, the mean ``"num_integration_steps"`` (gradient evaluations
            per step) per chain.
    """

    traces: dict[str, jax.Array]
    summary: dict[str, GammaResult]
    final_state: PyTree
    info: dict[str, jax.Array]


class _TunedState(NamedTuple):
    """A sampler state with the couplings and the frozen parameters tuned for its chain.

    Keeping the couplings in the state (not in a closure) lets one compiled step serve every
    coupling value.
    """

    inner: PyTree
    couplings: Couplings
    step_size: jax.Array
    inverse_mass_matrix: jax.Array


def _build(algorithm, couplings, ndim, step_size, inverse_mass_matrix, num_integration_steps):
    logdensity = phi4_logdensity_fn(couplings, ndim)
    if algorithm == "hmc":
        return blackjax.hmc(
            logdensity, step_size, inverse_mass_matrix, num_integration_steps=num_integration_steps
        )
    if algorithm == "nuts":
        return blackjax.nuts(logdensity, step_size, inverse_mass_matrix)
    if algorithm == "mala":
        return blackjax.mala(logdensity, step_size)
    return phi4_metropolis(couplings, step_size)


@functools.cache
def _tuned_kernel(algorithm: str, num_integration_steps: int) -> Kernel:
    """Kernel over :class:`_TunedState`: every chain steps with its own frozen parameters.

    Cached so that repeated calls pass the same (static) step function to the chain driver.
    """

    def step(key: PRNGKey, state: PyTree) -> tuple[PyTree, dict[str, jax.Array]]:
        alg = _build(
            algorithm,
            state.couplings,
            state.inner.position.ndim,
            state.step_size,
            state.inverse_mass_matrix,
            num_integration_steps,
        )
        inner, info = alg.step(key, state.inner)
        diagnostics = {"acceptance_rate": jnp.asarray(info.acceptance_rate)}
        if algorithm == "nuts":
            diagnostics["num_integration_steps"] = info.num_integration_steps
        return state._replace(inner=inner), diagnostics

    return Kernel(init=lambda state: state, step=step)


@functools.partial(
    jax.jit, static_argnames=("algorithm", "num_chains", "burn_in", "num_integration_steps")
)
def _warmup(
    key, initial, couplings, step_size, *, algorithm, num_chains, burn_in, num_integration_steps
):
    """Burn-in and adaptation of all chains (vmapped); jitted, couplings traced."""
    del num_chains  # static: one compilation per chain count
    ndim = initial.ndim - 1
    dtype = initial.dtype
    identity = jnp.ones(initial[0].size, dtype)
    if algorithm in ("hmc", "nuts"):
        extra = {"num_integration_steps": num_integration_steps} if algorithm == "hmc" else {}
        adapted = window_adaptation(
            key,
            blackjax.hmc if algorithm == "hmc" else blackjax.nuts,
            phi4_logdensity_fn(couplings, ndim),
            initial,
            burn_in,
            initial_step_size=step_size,
            target_acceptance_rate=_TARGET_ACCEPTANCE[algorithm],
            **extra,
        )
        inverse_mass_matrix = adapted.parameters["inverse_mass_matrix"].astype(dtype)
    else:  # MALA and local Metropolis: dual averaging of the step size alone
        adapted = step_size_adaptation(
            key,
            lambda s: _build(algorithm, couplings, ndim, s, identity, 1),
            initial,
            burn_in,
            initial_step_size=step_size,
            target_acceptance_rate=_TARGET_ACCEPTANCE[algorithm],
        )
        inverse_mass_matrix = jnp.broadcast_to(identity, (initial.shape[0], identity.size))
    return _TunedState(
        adapted.state,
        jax.tree_util.tree_map(lambda c: jnp.broadcast_to(c, (initial.shape[0],)), couplings),
        adapted.parameters["step_size"].astype(dtype),
        inverse_mass_matrix,
    )


def _scalar_observables(state: _TunedState) -> dict[str, jax.Array]:
    phi = state.inner.position
    m = jnp.mean(phi)
    return {
        "magnetisation": m,
        "abs_magnetisation": jnp.abs(m),
        "magnetisation_squared": m * m,
        "magnetisation_fourth": (m * m) ** 2,
        "phi_squared": jnp.mean(phi * phi),
        "action_per_site": phi4_action(phi, state.couplings) / phi.size,
    }


def _all_observables(state: _TunedState) -> dict[str, jax.Array]:
    out = _scalar_observables(state)
    out["two_point"] = two_point_function(state.inner.position)
    return out


def sample_phi4(
    key: jax.Array,
    shape: int | Sequence[int],
    couplings: Couplings,
    num_steps: int,
    *,
    num_chains: int = 1,
    algorithm: str = "hmc",
    burn_in: int | None = None,
    thin: int = 1,
    step_size: float | None = None,
    num_integration_steps: int = 10,
    initial_field: jax.Array | None = None,
    two_point: bool = False,
    dtype: DTypeLike = None,
    progress: bool = False,
) -> Phi4Result:
    r"""Sample :math:`e^{-S[\phi]}` on a periodic lattice and summarise observables with errors.

    Args:
        key: PRNG key (``jax.random.key``).
        shape: lattice side ``L`` (a 2-d ``L x L`` lattice) or the full shape ``(L_1, ..., L_d)``.
        couplings: :class:`edtjax.lattice.HoppingCouplings` or
            :class:`edtjax.lattice.MassCouplings`; new values of the same type do not recompile.
        num_steps: number of transitions after burn-in (recorded every ``thin``-th).
        num_chains: independent chains run in parallel with ``vmap``.
        algorithm: one of :data:`PHI4_ALGORITHMS`: ``"hmc"``, ``"nuts"``, ``"mala"`` or
            ``"metropolis"`` (checkerboard local updates; every side must be even).
        burn_in: adaptation/burn-in transitions, discarded (default ``min(num_steps, 1000)``).
        thin: record every ``thin``-th transition; must divide ``num_steps``, and at least 4
            transitions must be recorded.
        step_size: initial step size (leapfrog step, MALA step or Metropolis half-width);
            default 0.1 (1.0 for Metropolis). Tuned during burn-in when ``burn_in > 0``.
        num_integration_steps: leapfrog steps per HMC trajectory.
        initial_field: starting fields, shape ``shape`` or ``(num_chains, *shape)``; default
            small Gaussian noise (standard deviation 0.1) drawn from ``key``.
        two_point: also record :math:`C(x)` (:func:`edtjax.lattice.two_point_function`) of every
            recorded configuration (memory ``num_chains * num_steps / thin * V``).
        dtype: floating dtype of the fields (default: that of ``initial_field``, else JAX's
            default float).
        progress: show a progress bar on stderr over the sampling after burn-in.

    Returns:
        :class:`Phi4Result` with traces, Gamma-method summary, final states and diagnostics.

    Raises:
        ValueError: bad shape, couplings (NaN, negative quartic coupling, non-normalisable free
            theory), non-positive step counts, unknown algorithm, odd side for Metropolis, or an
            initial field of the wrong shape.

    Example:
        >>> import jax
        >>> from edtjax.lattice import HoppingCouplings, sample_phi4
        >>> result = sample_phi4(
        ...     jax.random.key(0), 8, HoppingCouplings(kappa=0.2, lam=0.5), 200,
        ...     num_chains=2, algorithm="metropolis", burn_in=100)
        >>> result.traces["magnetisation"].shape
        (2, 200)

    References:
        Duane et al., Phys. Lett. B 195, 216 (1987); Hoffman and Gelman, JMLR 15, 1593 (2014);
        Wolff, Comput. Phys. Commun. 156, 143 (2004).
    """
    if not (isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise ValueError(f"key must be a typed PRNG key from jax.random.key, got {key!r}")
    algorithm = check_choice("algorithm", algorithm, PHI4_ALGORITHMS)
    if isinstance(shape, (int,)) and not isinstance(shape, bool):
        shape = (shape, shape)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) < 1:
        raise ValueError(f"shape must be an int L or a sequence of lattice sides, got {shape!r}")
    shape = tuple(check_int(f"shape[{i}]", s, minimum=2) for i, s in enumerate(shape))
    if algorithm == "metropolis" and any(s % 2 for s in shape):
        raise ValueError(f"shape must have even sides for the checkerboard update, got {shape}")
    ndim = len(shape)
    check_couplings(couplings, ndim)
    num_steps = check_int("num_steps", num_steps, minimum=1)
    num_chains = check_int("num_chains", num_chains, minimum=1)
    burn_in = min(num_steps, 1000) if burn_in is None else check_int("burn_in", burn_in, minimum=0)
    thin = check_int("thin", thin, minimum=1, maximum=num_steps)
    if num_steps % thin:
        raise ValueError(f"thin must divide num_steps = {num_steps}, got {thin}")
    if num_steps // thin < _MIN_RECORDS:
        raise ValueError(
            f"num_steps // thin must be >= {_MIN_RECORDS} recorded steps for the error analysis, "
            f"got {num_steps} // {thin}"
        )
    num_integration_steps = check_int("num_integration_steps", num_integration_steps, minimum=1)
    step_size = _DEFAULT_STEP_SIZE[algorithm] if step_size is None else step_size
    step_size = check_real("step_size", step_size, minimum=0.0, strict_minimum=True)
    key_init, key_run = jax.random.split(key)
    if initial_field is None:
        dtype = jnp.zeros(()).dtype if dtype is None else jnp.dtype(dtype)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"dtype must be a floating dtype, got {dtype}")
        initial = 0.1 * jax.random.normal(key_init, (num_chains, *shape), dtype)
    else:
        initial = _check_initial_field(initial_field, shape, num_chains, dtype)
    dtype = initial.dtype
    couplings = type(couplings)(*(jnp.asarray(c, dtype) for c in couplings))
    key_warm, key_run = jax.random.split(key_run)
    tuned = _warmup(
        key_warm,
        initial,
        couplings,
        jnp.asarray(step_size, dtype),
        algorithm=algorithm,
        num_chains=num_chains,
        burn_in=burn_in,
        num_integration_steps=num_integration_steps,
    )
    chains = run_chains(
        key_run,
        _tuned_kernel(algorithm, num_integration_steps),
        tuned,
        num_steps,
        num_chains=num_chains,
        thin=thin,
        observables=_all_observables if two_point else _scalar_observables,
        progress=progress,
    )
    info = dict(chains.info)
    info["step_size"] = chains.final_state.step_size
    return Phi4Result(
        traces=chains.traces,
        summary=_summarise(chains.traces, volume=int(initial[0].size)),
        final_state=chains.final_state.inner,
        info=info,
    )


def _check_initial_field(initial_field, shape, num_chains, dtype) -> jax.Array:
    initial = as_array("initial_field", initial_field, dtype=dtype)
    if not jnp.issubdtype(initial.dtype, jnp.floating):
        raise ValueError(f"initial_field must be floating point, got dtype {initial.dtype}")
    if initial.shape == shape:
        return jnp.broadcast_to(initial, (num_chains, *shape))
    if initial.shape != (num_chains, *shape):
        raise ValueError(
            f"initial_field must have shape {shape} or {(num_chains, *shape)}, got {initial.shape}"
        )
    return initial


_SCALARS = (
    "magnetisation",
    "abs_magnetisation",
    "magnetisation_squared",
    "magnetisation_fourth",
    "phi_squared",
    "action_per_site",
)


def _summarise(traces: dict[str, jax.Array], volume: int) -> dict[str, GammaResult]:
    """Gamma-method summaries of the scalar traces and of chi and U_4 (derived quantities)."""
    summary = {name: gamma_method(traces[name]) for name in _SCALARS}
    m, m2 = traces["magnetisation"], traces["magnetisation_squared"]
    connected = derived_error(connected_moment, {"x": m, "x2": m2})
    summary["susceptibility"] = scaled(connected, volume)
    summary["binder_cumulant"] = derived_error(
        binder_cumulant, {"m2": m2, "m4": traces["magnetisation_fourth"]}
    )
    return summary
