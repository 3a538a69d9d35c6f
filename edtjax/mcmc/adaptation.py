r"""Warm-up adaptation of gradient-based samplers, built on blackjax's adaptation schemes.

Three schemes, all run before :func:`~edtjax.mcmc.run_chains` samples with frozen parameters
(so the recorded chain is an exact Markov chain for the target):

- :func:`window_adaptation`: Stan's windowed adaptation for every chain on its own: the step
  size by dual averaging on the acceptance rate and a diagonal inverse mass matrix from the
  chain's own draws (blackjax ``window_adaptation``), for HMC or NUTS.
- :func:`step_size_adaptation`: dual averaging of the step size alone, for kernels with only a
  step size (MALA, random-walk or local Metropolis).
- :func:`chees_adaptation`: one step size and one trajectory length shared by all chains, tuned
  from the whole population by maximising the ChEES criterion (Hoffman, Radul and Sountsov
  2021), for jittered HMC (blackjax ``dynamic_hmc``). Every chain runs the same number of
  leapfrog steps at each transition, so a ``vmap`` over many chains wastes no work waiting for
  the longest trajectory, as ``vmap``-ed NUTS does.

Dual averaging (Nesterov 2009; Hoffman and Gelman 2014) drives the log step size
:math:`\log\varepsilon_t = \mu - \frac{\sqrt t}{\gamma}\,\frac{1}{t + t_0}
\sum_{i\le t}(\delta - \alpha_i)` towards the acceptance rate :math:`\delta` and returns the
weighted average :math:`\log\bar\varepsilon_t = t^{-\kappa}\log\varepsilon_t +
(1 - t^{-\kappa})\log\bar\varepsilon_{t-1}`.

References:
    M. D. Hoffman and A. Gelman, "The No-U-Turn Sampler", JMLR 15, 1593 (2014).
    Stan Development Team, Stan Reference Manual, "HMC algorithm parameters" (windowed
    adaptation).
    M. D. Hoffman, A. Radul and P. Sountsov, "An adaptive-MCMC scheme for setting trajectory
    lengths in Hamiltonian Monte Carlo", AISTATS (2021).
    A. Cabezas et al., "BlackJAX: composable Bayesian inference in JAX" (2024).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from blackjax.adaptation.step_size import dual_averaging_adaptation
from jax.flatten_util import ravel_pytree

from edtjax._checks import check_int, check_real
from edtjax._static import join_arrays, split_arrays
from edtjax._typing import ArrayLike, PRNGKey, PyTree
from edtjax.mcmc.kernel import Kernel

__all__ = [
    "Adapted",
    "ChEESAdaptation",
    "adapted_kernel",
    "chees_adaptation",
    "step_size_adaptation",
    "window_adaptation",
]


class Adapted(NamedTuple):
    """Sampler states and the parameters tuned for each chain.

    Attributes:
        state: the sampler state of every chain after warm-up (leading axis ``num_chains``).
        parameters: dict of the tuned parameters, each with a leading axis ``num_chains``:
            ``"step_size"`` and, after :func:`window_adaptation`, ``"inverse_mass_matrix"``
            (the diagonal, ``(num_chains, D)`` for ``D`` position coordinates).

    An ``Adapted`` of one chain is also the state of :func:`adapted_kernel`'s kernel, so
    ``run_chains(key, adapted_kernel(build), adapted, ...)`` samples every chain with its own
    parameters.
    """

    state: PyTree
    parameters: dict[str, jax.Array]


def _num_chains(positions: PyTree) -> int:
    leaves = jax.tree_util.tree_leaves(positions)
    if not leaves or any(jnp.ndim(leaf) < 1 for leaf in leaves):
        raise ValueError("positions must be a pytree of arrays with a leading chain axis")
    num_chains = jnp.shape(leaves[0])[0]
    if any(jnp.shape(leaf)[0] != num_chains for leaf in leaves):
        raise ValueError("positions leaves must share the leading (chain) axis")
    return num_chains


def window_adaptation(
    key: jax.Array,
    algorithm: Callable[..., Kernel],
    logdensity: Callable[[PyTree], jax.Array],
    positions: PyTree,
    num_steps: int,
    *,
    initial_step_size: ArrayLike = 1.0,
    target_acceptance_rate: float = 0.8,
    **parameters: Any,
) -> Adapted:
    r"""Stan's windowed adaptation of step size and diagonal mass matrix, for each chain.

    Chain ``c`` runs ``blackjax.window_adaptation(algorithm, logdensity, ...).run`` from
    ``positions[c]`` with the key ``jax.random.split(key, num_chains)[c]`` (chains ``vmap``-ed):
    an initial fast window (step size only), slow windows of doubling length that estimate the
    inverse mass matrix from the chain's draws (each followed by a restart of dual averaging),
    and a final fast window. With ``num_steps = 0`` the chains start at ``positions`` with
    ``initial_step_size`` and the identity mass matrix. Pure and traceable: call it inside
    ``jit`` with ``algorithm``, ``logdensity`` and ``num_steps`` static.

    Args:
        key: a PRNG key from :func:`jax.random.key`.
        algorithm: a blackjax HMC-family algorithm taking ``(logdensity, step_size,
            inverse_mass_matrix, **parameters)``: ``blackjax.hmc`` or ``blackjax.nuts``.
        logdensity: log density of one position pytree.
        positions: initial positions, leaves with a leading axis ``num_chains``.
        num_steps: adaptation transitions per chain (``>= 0``).
        initial_step_size: step size the adaptation starts from (``> 0``).
        target_acceptance_rate: the mean acceptance rate dual averaging aims at, in ``(0, 1)``
            (0.8 is Stan's default for NUTS).
        **parameters: further fixed parameters of ``algorithm`` (e.g. HMC's
            ``num_integration_steps``).

    Returns:
        :class:`Adapted` with the chains' states and per-chain ``"step_size"`` and
        ``"inverse_mass_matrix"``.

    Raises:
        ValueError: ``num_steps < 0``, a target acceptance rate outside ``(0, 1)`` or
            positions without a common leading axis.

    Cost: ``num_chains * num_steps`` transitions of ``algorithm`` (``L`` gradient evaluations
    each, ``L`` the trajectory length) plus ``O(num_chains * num_steps * D)`` for the mass
    matrix estimates.

    Example:
        >>> import blackjax, jax, jax.numpy as jnp
        >>> from edtjax.mcmc import adapted_kernel, run_chains, window_adaptation
        >>> logp = lambda z: -0.5 * jnp.sum(z**2 / jnp.array([1.0, 4.0]))
        >>> tuned = window_adaptation(jax.random.key(0), blackjax.nuts, logp,
        ...                           jnp.zeros((2, 2)), 200)
        >>> tuned.parameters["inverse_mass_matrix"].shape
        (2, 2)
        >>> kernel = adapted_kernel(lambda **p: blackjax.nuts(logp, **p))
        >>> run_chains(jax.random.key(1), kernel, tuned, 100, num_chains=2,
        ...            observables=lambda s: s.state.position).traces.shape
        (2, 100, 2)

    References:
        Hoffman and Gelman, JMLR 15, 1593 (2014); Stan Reference Manual (windowed adaptation).
    """
    num_steps = check_int("num_steps", num_steps, minimum=0)
    check_real("target_acceptance_rate", target_acceptance_rate, minimum=0.0, maximum=1.0,
               strict_minimum=True, strict_maximum=True)  # fmt: skip
    num_chains = _num_chains(positions)
    if num_steps == 0:
        flat, _ = ravel_pytree(jax.tree_util.tree_map(lambda a: a[0], positions))
        identity = jnp.ones(flat.size, flat.dtype)
        step_size = jnp.asarray(initial_step_size)
        alg = algorithm(logdensity, step_size, identity, **parameters)
        return Adapted(
            jax.vmap(alg.init)(positions),
            {
                "step_size": jnp.broadcast_to(step_size, (num_chains,)),
                "inverse_mass_matrix": jnp.broadcast_to(identity, (num_chains, flat.size)),
            },
        )
    warmup = blackjax.window_adaptation(
        algorithm,
        logdensity,
        initial_step_size=initial_step_size,
        target_acceptance_rate=target_acceptance_rate,
        adaptation_info_fn=lambda *args: None,  # keep no per-step adaptation record
        **parameters,
    )

    def one_chain(key: PRNGKey, position: PyTree) -> Adapted:
        (state, tuned), _ = warmup.run(key, position, num_steps=num_steps)
        return Adapted(state, dict(tuned))

    return jax.vmap(one_chain)(jax.random.split(key, num_chains), positions)


def step_size_adaptation(
    key: jax.Array,
    build: Callable[[jax.Array], Kernel],
    positions: PyTree,
    num_steps: int,
    *,
    initial_step_size: ArrayLike,
    target_acceptance_rate: float,
) -> Adapted:
    r"""Dual averaging of the step size alone, for each chain.

    Chain ``c`` starts at ``build(initial_step_size).init(positions[c])`` and takes
    ``num_steps`` transitions ``build(step_size).step``, the step size following dual averaging
    on the transitions' ``info.acceptance_rate`` (blackjax ``dual_averaging_adaptation``);
    transition ``t`` uses ``jax.random.split(k_c, num_steps)[t]`` with ``k_c =
    jax.random.split(key, num_chains)[c]``. The returned step size is the averaged iterate
    :math:`\bar\varepsilon`. Pure and traceable (``build`` and ``num_steps`` static).

    Args:
        key: a PRNG key from :func:`jax.random.key`.
        build: ``build(step_size) -> kernel`` with ``init(position)`` and ``step(key, state) ->
            (state, info)``, ``info.acceptance_rate`` a scalar (e.g. ``lambda s:
            blackjax.mala(logdensity, s)``).
        positions: initial positions, leaves with a leading axis ``num_chains``.
        num_steps: adaptation transitions per chain (``>= 0``; 0 returns the initial states).
        initial_step_size: the step size to start from (``> 0``); its dtype is the step size's.
        target_acceptance_rate: the mean acceptance rate aimed at, in ``(0, 1)`` (0.574 for
            MALA, Roberts and Rosenthal 1998).

    Returns:
        :class:`Adapted` with the chains' states and per-chain ``"step_size"``.

    Raises:
        ValueError: ``num_steps < 0``, a target outside ``(0, 1)`` or positions without a
            common leading axis.

    Cost: ``num_chains * num_steps`` transitions of the kernel.

    Example:
        >>> import blackjax, jax, jax.numpy as jnp
        >>> from edtjax.mcmc import step_size_adaptation
        >>> logp = lambda z: -0.5 * jnp.sum(z**2)
        >>> tuned = step_size_adaptation(
        ...     jax.random.key(0), lambda s: blackjax.mala(logp, s), jnp.zeros((4, 3)), 300,
        ...     initial_step_size=jnp.asarray(0.1), target_acceptance_rate=0.574)
        >>> tuned.parameters["step_size"].shape
        (4,)

    References:
        Y. Nesterov, "Primal-dual subgradient methods for convex problems", Math. Program. 120,
        221 (2009); Hoffman and Gelman, JMLR 15, 1593 (2014), section 3.2.
    """
    num_steps = check_int("num_steps", num_steps, minimum=0)
    check_real("target_acceptance_rate", target_acceptance_rate, minimum=0.0, maximum=1.0,
               strict_minimum=True, strict_maximum=True)  # fmt: skip
    num_chains = _num_chains(positions)
    initial_step_size = jnp.asarray(initial_step_size)
    dtype = initial_step_size.dtype
    da_init, da_update, da_final = dual_averaging_adaptation(target_acceptance_rate)

    def one_chain(key: PRNGKey, position: PyTree) -> Adapted:
        state = build(initial_step_size).init(position)
        if num_steps == 0:
            return Adapted(state, {"step_size": initial_step_size})

        def body(carry: PyTree, key: PRNGKey) -> tuple[PyTree, None]:
            state, da_state = carry
            current = jnp.exp(da_state.log_step_size).astype(dtype)
            state, info = build(current).step(key, state)
            return (state, da_update(da_state, info.acceptance_rate)), None

        (state, da_state), _ = jax.lax.scan(
            body, (state, da_init(initial_step_size)), jax.random.split(key, num_steps)
        )
        return Adapted(state, {"step_size": jnp.asarray(da_final(da_state), dtype)})

    return jax.vmap(one_chain)(jax.random.split(key, num_chains), positions)


def adapted_kernel(build: Callable[..., Kernel]) -> Kernel:
    """A kernel over :class:`Adapted` states: each chain steps with its own tuned parameters.

    ``step(key, adapted)`` runs ``build(**adapted.parameters).step(key, adapted.state)`` and
    keeps the parameters unchanged, so :func:`~edtjax.mcmc.run_chains` can sample chains whose
    parameters differ (as :func:`window_adaptation` tunes them). ``init`` is the identity: the
    state comes from an adaptation.

    Args:
        build: ``build(**parameters) -> kernel`` (e.g. ``lambda **p: blackjax.nuts(logp,
            **p)``).

    Returns:
        An :class:`~edtjax.mcmc.Kernel` whose ``step`` is a ``jax.tree_util.Partial`` over
        ``build``. With ``build`` itself a ``Partial`` of a module-level function (data and
        constants as its array arguments), kernels built anew for arrays of the same shapes
        reuse :func:`~edtjax.mcmc.run_chains`' compilation; a closure ``build`` is compared by
        identity: build the kernel once and reuse it.

    Example:
        >>> import blackjax, jax, jax.numpy as jnp
        >>> from edtjax.mcmc import Adapted, adapted_kernel
        >>> logp = lambda z: -0.5 * jnp.sum(z**2)
        >>> kernel = adapted_kernel(lambda **p: blackjax.mala(logp, **p))
        >>> state = Adapted(blackjax.mala(logp, 0.5).init(jnp.zeros(2)),
        ...                 {"step_size": jnp.asarray(0.5)})
        >>> state, info = kernel.step(jax.random.key(0), state)
    """
    return Kernel(init=_unchanged, step=jax.tree_util.Partial(_adapted_step, build))


def _unchanged(adapted: Adapted) -> Adapted:
    return adapted


def _adapted_step(
    build: Callable[..., Kernel], key: PRNGKey, adapted: Adapted
) -> tuple[Adapted, PyTree]:
    """One transition of :func:`adapted_kernel`'s kernel."""
    state, info = build(**adapted.parameters).step(key, adapted.state)
    return adapted._replace(state=state), info


class ChEESAdaptation(NamedTuple):
    """Output of :func:`chees_adaptation`: a tuned jittered-HMC kernel and the chains' states.

    Attributes:
        kernel: ``blackjax.dynamic_hmc`` with the tuned parameters, as a
            :class:`~edtjax.mcmc.Kernel` (one chain) on flat positions; pass it to
            :func:`run_chains`.
        state: the states of all chains after warm-up (leading axis ``num_chains``); their
            ``position`` is the flattened position vector ``(num_chains, D)``.
        step_size: the tuned leapfrog step size, shared by all chains.
        inverse_mass_matrix: the diagonal inverse mass matrix, shared by all chains.
        unravel: ``unravel(flat) -> position pytree`` for one chain (the inverse of
            ``jax.flatten_util.ravel_pytree``).
    """

    kernel: Kernel
    state: PyTree
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    unravel: Callable[[jax.Array], PyTree]


def chees_adaptation(
    key: jax.Array,
    logdensity: Callable[[PyTree], jax.Array],
    positions: PyTree,
    num_steps: int,
    *,
    initial_step_size: float = 0.1,
    learning_rate: float = 0.025,
    target_acceptance_rate: float = 0.651,
    max_sampling_steps: int = 1000,
    mass_matrix: bool = True,
) -> ChEESAdaptation:
    r"""ChEES adaptation of a jittered HMC kernel shared by many chains.

    Runs ``blackjax.chees_adaptation(logdensity, num_chains, target_acceptance_rate=...)`` with
    an Adam optimiser (``learning_rate``) for ``num_steps`` transitions of all chains at once,
    as blackjax documents it. The step size follows dual averaging on the harmonic mean of the
    chains' acceptance probabilities; the trajectory length :math:`T` follows a stochastic
    gradient of the ChEES criterion

    .. math::
        \text{ChEES} = \tfrac14\,E\big[(\|\theta' - \bar\theta\|^2
            - \|\theta - \bar\theta\|^2)^2\big],

    the change in the estimator of the expected square between start :math:`\theta` and
    proposal :math:`\theta'` over the population (mean :math:`\bar\theta`). Transitions use
    :math:`\lceil u_t T/\varepsilon\rceil` leapfrog steps, :math:`u_t` a quasi-random Halton
    jitter that is the same for every chain at step ``t``: a ``vmap`` over chains does equal
    work per chain. The kernel returned is ``blackjax.dynamic_hmc(logdensity, **parameters)``,
    valid for :func:`~edtjax.mcmc.run_chains` with the returned ``state``. Positions are
    flattened to vectors (blackjax's criterion averages ``(num_chains, D)`` arrays), so the
    kernel and states work on flat positions; ``unravel`` maps one back. The warm-up is one
    compiled program per shapes, dtypes and options; the arrays among ``logdensity``'s pytree
    leaves are its traced arguments, so a ``logdensity`` written as a pytree (a
    ``jax.tree_util.Partial`` of a module-level function over the data, or a registered
    dataclass) runs on new data of the same shapes without compiling again, and the kernel's
    ``step`` (a ``jax.tree_util.Partial`` over the tuned values) reuses
    :func:`~edtjax.mcmc.run_chains`' compilation too. A closure ``logdensity`` is compared by
    identity. Not traceable (the tuned kernel is built outside the compiled warm-up).

    Args:
        key: a PRNG key from :func:`jax.random.key`.
        logdensity: log density of one position pytree.
        positions: initial positions, leaves with a leading axis ``num_chains`` (``>= 2``; the
            criterion is estimated across chains, so tens to hundreds of chains work best).
        num_steps: adaptation transitions per chain (``>= 1``).
        initial_step_size: the step size to start from (``> 0``).
        learning_rate: Adam step size of the log trajectory length (``> 0``).
        target_acceptance_rate: the harmonic-mean acceptance rate aimed at, in ``(0, 1)``
            (0.651 is optimal for HMC, Beskos et al. 2013).
        max_sampling_steps: transitions the kernel will take after warm-up (sizes the Halton
            sequence so that its jitter does not repeat; ``>= 1``).
        mass_matrix: estimate a diagonal inverse mass matrix from all chains' draws over the
            last half of warm-up (blackjax's ``mass_matrix_estimation="diagonal"``, which also
            floors the trajectory length at a quarter period of the slowest whitened
            direction); ``False`` keeps the identity.

    Returns:
        A :class:`ChEESAdaptation`.

    Raises:
        ValueError: fewer than 2 chains, non-positive sizes or rates, or a target outside
            ``(0, 1)``.

    Cost: ``num_chains * num_steps * L`` gradient evaluations, ``L`` the mean number of
    leapfrog steps, plus ``O(num_chains * D)`` per step for the criterion.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import chees_adaptation, run_chains
        >>> logp = lambda p: -0.5 * jnp.sum(p["z"] ** 2)
        >>> tuned = chees_adaptation(jax.random.key(0), logp, {"z": jnp.ones((16, 3))}, 100,
        ...                          max_sampling_steps=100)
        >>> res = run_chains(jax.random.key(1), tuned.kernel, tuned.state, 100, num_chains=16,
        ...                  observables=lambda s: tuned.unravel(s.position))
        >>> res.traces["z"].shape
        (16, 100, 3)

    References:
        M. D. Hoffman, A. Radul and P. Sountsov, AISTATS (2021); A. Beskos et al., "Optimal
        tuning of the hybrid Monte Carlo algorithm", Bernoulli 19, 1501 (2013).
    """
    num_steps = check_int("num_steps", num_steps, minimum=1)
    max_sampling_steps = check_int("max_sampling_steps", max_sampling_steps, minimum=1)
    check_real("initial_step_size", initial_step_size, minimum=0.0, strict_minimum=True)
    check_real("learning_rate", learning_rate, minimum=0.0, strict_minimum=True)
    check_real("target_acceptance_rate", target_acceptance_rate, minimum=0.0, maximum=1.0,
               strict_minimum=True, strict_maximum=True)  # fmt: skip
    num_chains = _num_chains(positions)
    if num_chains < 2:
        raise ValueError(f"positions must hold at least 2 chains for ChEES, got {num_chains}")
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(positions)
    # jax's unravel compares by value: equal for positions of equal structure and shapes
    unravel = ravel_pytree(jax.tree_util.tree_map(lambda a: a[0], positions))[1]
    flat_logdensity = jax.tree_util.Partial(_flat_logdensity, logdensity, unravel)
    static, arrays = split_arrays(flat_logdensity)
    state, step_size, inverse_mass_matrix, num_leapfrog_steps = _chees_warmup(
        key,
        flat,
        arrays,
        logdensity=static,
        initial_step_size=float(initial_step_size),
        learning_rate=float(learning_rate),
        target_acceptance_rate=float(target_acceptance_rate),
        num_steps=num_steps,
        max_sampling_steps=max_sampling_steps,
        mass_matrix_estimation="diagonal" if mass_matrix else None,
    )
    parameters = (
        flat_logdensity,
        step_size,
        inverse_mass_matrix,
        num_leapfrog_steps,
        _halton_bits(num_steps, max_sampling_steps),
    )
    return ChEESAdaptation(
        Kernel(
            init=jax.tree_util.Partial(_jittered_init, parameters),
            step=jax.tree_util.Partial(_jittered_step, parameters),
        ),
        state,
        step_size,
        inverse_mass_matrix,
        unravel,
    )


def _flat_logdensity(
    logdensity: Callable[[PyTree], jax.Array],
    unravel: Callable[[jax.Array], PyTree],
    z: jax.Array,
) -> jax.Array:
    return logdensity(unravel(z))


@functools.partial(
    jax.jit,
    static_argnames=(
        "logdensity",
        "initial_step_size",
        "learning_rate",
        "target_acceptance_rate",
        "num_steps",
        "max_sampling_steps",
        "mass_matrix_estimation",
    ),
)
def _chees_warmup(
    key: jax.Array,
    flat: jax.Array,
    arrays: list[jax.Array],
    *,
    logdensity: Any,
    initial_step_size: float,
    learning_rate: float,
    target_acceptance_rate: float,
    num_steps: int,
    max_sampling_steps: int,
    mass_matrix_estimation: str | None,
) -> tuple[PyTree, jax.Array, jax.Array, jax.Array]:
    """blackjax's ChEES warm-up of the chains at ``flat``, compiled once per static options
    and shapes (the log density split by ``edtjax._static.split_arrays``): the
    chains' states, step size, inverse mass matrix and mean number of leapfrog steps."""
    extra = {} if mass_matrix_estimation is None else {"mass_matrix_estimation": "diagonal"}
    warmup = blackjax.chees_adaptation(
        join_arrays(logdensity, arrays),
        flat.shape[0],
        target_acceptance_rate=target_acceptance_rate,
        adaptation_info_fn=lambda *args: None,  # keep no per-step adaptation record
        **extra,
    )
    (state, parameters), _ = warmup.run(
        key,
        flat,
        initial_step_size,
        optax.adam(learning_rate),
        num_steps,
        max_sampling_steps=max_sampling_steps,
    )
    (num_leapfrog_steps,) = parameters["integration_steps_params"]
    return (
        state,
        jnp.asarray(parameters["step_size"]),
        jnp.asarray(parameters["inverse_mass_matrix"]),
        jnp.asarray(num_leapfrog_steps),
    )


def _halton_bits(num_steps: int, max_sampling_steps: int) -> int:
    """Bits of the Halton sequence that ``blackjax.chees_adaptation`` jitters with: enough for
    the ``num_steps + max_sampling_steps`` transitions of warm-up and sampling."""
    return int(np.ceil(np.log2(num_steps + max_sampling_steps)))


def _next_random_arg(index: jax.Array) -> jax.Array:
    return index + 1


def _halton_integration_steps(
    max_bits: int, index: jax.Array, num_leapfrog_steps: jax.Array
) -> jax.Array:
    r"""Leapfrog steps of transition ``index``: :math:`\lceil u_t L\rceil` with :math:`u_t` the
    Halton jitter and :math:`L` the tuned mean (``blackjax.chees_adaptation``'s kernel)."""
    jitter = blackjax.mcmc.dynamic_hmc.halton_sequence(index, max_bits)
    return jnp.asarray(jnp.ceil(jitter * num_leapfrog_steps), dtype=int)


def _jittered_hmc(
    logdensity: Callable[[jax.Array], jax.Array],
    step_size: jax.Array,
    inverse_mass_matrix: jax.Array,
    num_leapfrog_steps: jax.Array,
    max_bits: int,
) -> Kernel:
    """``blackjax.dynamic_hmc`` with the parameters of a ChEES warm-up."""
    return blackjax.dynamic_hmc(
        logdensity,
        step_size,
        inverse_mass_matrix,
        next_random_arg_fn=_next_random_arg,
        integration_steps_fn=functools.partial(_halton_integration_steps, max_bits),
        integration_steps_params=(num_leapfrog_steps,),
    )


def _jittered_init(
    parameters: tuple, position: jax.Array, rng_key: PRNGKey | None = None
) -> PyTree:
    return _jittered_hmc(*parameters).init(position, rng_key)


def _jittered_step(parameters: tuple, key: PRNGKey, state: PyTree) -> tuple[PyTree, PyTree]:
    return _jittered_hmc(*parameters).step(key, state)
