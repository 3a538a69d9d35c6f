r"""Bayesian neural networks: one log-density, sampled by blackjax NUTS or many-chain ChEES HMC
or by numpyro NUTS, or fitted by SVI.

The posterior over the parameter pytree :math:`\theta` of a :class:`Surrogate` with point
output :math:`f_\theta` is

.. math::
    \log p(\theta\mid\mathcal D) = \text{const} - \frac{\|\theta\|^2}{2\tau^2}
    - \sum_{i=1}^n\frac{\|y_i - f_\theta(x_i)\|^2}{2\sigma^2},

an isotropic Gaussian prior (scale :math:`\tau`) and a Gaussian likelihood with known noise
variance :math:`\sigma^2`. The same function drives blackjax NUTS or ChEES-tuned HMC (many chains,
vmapped, through :func:`edtjax.mcmc.run_chains`), numpyro
NUTS (as ``potential_fn``) and numpyro SVI (mean-field or low-rank Gaussian guides), so their
results are directly comparable. Cost of one log-density gradient: one forward and backward
pass over the ``n`` points.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
import optax
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoDiagonalNormal, AutoLowRankMultivariateNormal

from edtjax._checks import as_array, check_choice, check_int, check_real, check_same_length
from edtjax._static import join_arrays, split_arrays
from edtjax._typing import ArrayLike, PRNGKey, PyTree
from edtjax.mcmc import (
    Adapted,
    ChainResult,
    Kernel,
    adapted_kernel,
    chees_adaptation,
    run_chains,
    window_adaptation,
)
from edtjax.surrogates._bnn_model import (
    bnn_start,
    gaussian_log_likelihood_terms,
    gaussian_log_prior,
)
from edtjax.surrogates.method import SurrogateMethod, check_options
from edtjax.surrogates.network import MLP, Surrogate
from edtjax.surrogates.predictive import Predictive

__all__ = [
    "BNNState",
    "NUTSOptions",
    "PosteriorSamples",
    "SVIOptions",
    "SVIResult",
    "bnn_log_density",
    "bnn_nuts",
    "bnn_predictive",
    "bnn_svi",
    "nuts_blackjax",
    "nuts_numpyro",
    "svi_gaussian",
]


class PosteriorSamples(NamedTuple):
    """Draws of a parameter pytree and the sampler's diagnostics.

    Attributes:
        samples: pytree with leading axes ``(chains, draws)``.
        divergences: number of divergent transitions per chain, shape ``(chains,)``; never
            hidden: inspect it (any divergence means the draws may be biased).
        acceptance_rate: mean acceptance probability per chain, shape ``(chains,)``.
        gradient_evaluations: total log-density gradient evaluations in the sampling phase.
    """

    samples: PyTree
    divergences: jax.Array
    acceptance_rate: jax.Array
    gradient_evaluations: jax.Array


def bnn_log_density(
    surrogate: Surrogate,
    x: ArrayLike,
    y: ArrayLike,
    *,
    prior_scale: float = 1.0,
    noise_variance: float = 0.01,
) -> Callable[[PyTree], jax.Array]:
    r"""Unnormalised log posterior of a network's parameters (see the module docstring).

    Args:
        surrogate: a point-prediction network (its ``apply(params, x).mean`` is used).
        x: inputs, shape ``(n, p)``.
        y: targets, shape ``(n, d)``.
        prior_scale: :math:`\tau > 0`.
        noise_variance: :math:`\sigma^2 > 0`.

    Returns:
        ``logdensity(params) -> scalar``, pure, differentiable, jit/vmap-compatible: a
        ``jax.tree_util.Partial`` whose array leaves are ``x`` and ``y``, so the samplers
        (:func:`nuts_blackjax`) trace the data instead of compiling it in and run on new data
        of the same shapes and dtypes without compiling again.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import bnn_log_density, mlp
        >>> net = mlp((8,), 1)
        >>> x = jnp.linspace(-1, 1, 10)[:, None]
        >>> logp = bnn_log_density(net, x, jnp.sin(x))
        >>> value = logp(net.init(jax.random.key(0), x))

    References:
        Neal, R. M. (1996). Bayesian Learning for Neural Networks. Springer.
    """
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    check_same_length(("x", "y"), x, y)
    tau2 = check_real("prior_scale", prior_scale, minimum=0.0, strict_minimum=True) ** 2
    s2 = check_real("noise_variance", noise_variance, minimum=0.0, strict_minimum=True)

    return jax.tree_util.Partial(_log_posterior, surrogate, x, y, tau2, s2)


def _log_posterior(
    surrogate: Surrogate,
    x: jax.Array,
    y: jax.Array,
    prior_variance: float,
    noise_variance: float,
    params: PyTree,
) -> jax.Array:
    """:func:`bnn_log_density` at ``params``."""
    return gaussian_log_prior(params, prior_variance) + jnp.sum(
        gaussian_log_likelihood_terms(surrogate, params, x, y, noise_variance)
    )


def _position(adapted: Adapted) -> PyTree:
    """The chain's position (the observable recorded by :func:`run_chains`)."""
    return adapted.state.position


def _unravelled_position(unravel: Callable[[jax.Array], PyTree], state: PyTree) -> PyTree:
    """The position pytree of a chain that samples flattened positions (ChEES)."""
    return unravel(state.position)


def _nuts(logdensity: Callable[[PyTree], jax.Array], **parameters: jax.Array) -> Kernel:
    return blackjax.nuts(logdensity, **parameters)


def _with_diagnostics(
    step: Callable[[PRNGKey, PyTree], tuple[PyTree, PyTree]], key: PRNGKey, state: PyTree
) -> tuple[PyTree, dict[str, jax.Array]]:
    """A transition of the HMC-family ``step`` reporting only the info that
    :class:`PosteriorSamples` keeps."""
    state, info = step(key, state)
    return state, {
        "is_divergent": info.is_divergent,
        "acceptance_rate": info.acceptance_rate,
        "num_integration_steps": info.num_integration_steps,
    }


@functools.partial(jax.jit, static_argnames=("logdensity", "num_warmup", "target_acceptance_rate"))
def _nuts_warmup(key, positions, arrays, *, logdensity, num_warmup, target_acceptance_rate):
    """Window adaptation of NUTS for every chain, the log density split by
    ``edtjax._static.split_arrays`` (one compilation per shapes and options)."""
    logdensity = join_arrays(logdensity, arrays)
    return window_adaptation(
        key,
        blackjax.nuts,
        logdensity,
        positions,
        num_warmup,
        target_acceptance_rate=target_acceptance_rate,
    )


def _posterior_samples(chains: ChainResult, num_samples: int) -> PosteriorSamples:
    """Draws and diagnostics of a :func:`run_chains` run of ``num_samples`` transitions (the
    driver's per-chain info means times ``num_samples`` are the per-chain counts)."""
    info = chains.info

    def count(mean: jax.Array) -> jax.Array:
        return jnp.round(mean * num_samples).astype(jnp.int32)

    return PosteriorSamples(
        chains.traces,
        count(info["is_divergent"]),
        info["acceptance_rate"],
        jnp.sum(count(info["num_integration_steps"])),
    )


def nuts_blackjax(
    key: jax.Array,
    logdensity: Callable[[PyTree], jax.Array],
    initial_positions: PyTree,
    *,
    num_warmup: int = 500,
    num_samples: int = 500,
    sampler: str = "nuts",
    target_acceptance_rate: float | None = None,
) -> PosteriorSamples:
    r"""Run many blackjax chains in parallel: NUTS per chain, or ChEES-tuned HMC across chains.

    ``sampler="nuts"``: each chain runs Stan's window adaptation (step size by dual averaging,
    diagonal mass matrix; :func:`edtjax.mcmc.window_adaptation`) for ``num_warmup`` steps, then
    ``num_samples`` NUTS transitions with its own frozen parameters. ``sampler="chees"``: all
    chains together tune one step size and one trajectory length by the ChEES criterion
    (:func:`edtjax.mcmc.chees_adaptation`), then take ``num_samples`` jittered HMC transitions
    with the same number of leapfrog steps in every chain at each transition, so the ``vmap``
    over chains does no wasted work; built for many chains (tens to hundreds, at least 2).
    Sampling runs through :func:`edtjax.mcmc.run_chains` with ``key``'s second half (the
    first drives the warm-up). Divergent transitions are counted per chain. Warm-up and
    sampling compile once per shapes, dtypes and options: the arrays among ``logdensity``'s
    pytree leaves (the data of :func:`bnn_log_density`) are traced, so a new key or new data
    of the same shapes reuses the compilation; a closure ``logdensity`` is compared by
    identity (pass the same object to reuse it).

    Args:
        key: PRNG key.
        logdensity: log posterior of a position pytree (e.g. :func:`bnn_log_density`).
        initial_positions: position pytree with a leading chain axis.
        num_warmup: adaptation steps per chain.
        num_samples: retained draws per chain.
        sampler: ``"nuts"`` or ``"chees"``.
        target_acceptance_rate: the acceptance rate the step-size adaptation aims at, in
            ``(0, 1)``: for ``"nuts"`` the mean over each chain's transitions (``None``: 0.8,
            Stan's default), for ``"chees"`` the harmonic mean over the chains at each
            transition (``None``: 0.651, optimal for HMC; the harmonic mean follows the chains
            that accept least, so the mean acceptance rate lies above it).

    Returns:
        A :class:`PosteriorSamples`.

    Raises:
        ValueError: non-positive step counts, an unknown ``sampler``, ``"chees"`` with one
            chain, or a target acceptance rate outside ``(0, 1)``.

    Cost: ``chains * (num_warmup + num_samples) * L`` gradient evaluations, with ``L`` the
    mean trajectory length (per transition, NUTS's ``vmap`` costs the longest trajectory of
    the batch, ChEES's the common one).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import nuts_blackjax
        >>> logp = lambda z: -0.5 * jnp.sum(z**2)
        >>> out = nuts_blackjax(jax.random.key(0), logp, jnp.zeros((2, 3)),
        ...                     num_warmup=50, num_samples=50)
        >>> out.samples.shape
        (2, 50, 3)
        >>> many = nuts_blackjax(jax.random.key(0), logp, jnp.ones((16, 3)),
        ...                      num_warmup=50, num_samples=50, sampler="chees")
        >>> many.samples.shape
        (16, 50, 3)

    References:
        Hoffman, M. D. and Gelman, A. (2014). The No-U-Turn sampler. JMLR 15, 1593-1623.
        Hoffman, M. D., Radul, A. and Sountsov, P. (2021). An adaptive-MCMC scheme for setting
        trajectory lengths in Hamiltonian Monte Carlo. AISTATS.
        Cabezas, A. et al. (2024). BlackJAX: composable Bayesian inference in JAX.
        arXiv:2402.10797.
    """
    num_warmup = check_int("num_warmup", num_warmup, minimum=1)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    check_choice("sampler", sampler, ("chees", "nuts"))
    if target_acceptance_rate is None:
        target_acceptance_rate = 0.651 if sampler == "chees" else 0.8
    target_acceptance_rate = float(
        check_real(
            "target_acceptance_rate", target_acceptance_rate, minimum=0.0, maximum=1.0,
            strict_minimum=True, strict_maximum=True,
        )
    )  # fmt: skip
    chains = jax.tree.leaves(initial_positions)[0].shape[0]
    k_warm, k_run = jax.random.split(key)
    if sampler == "chees":
        tuned = chees_adaptation(
            k_warm,
            logdensity,
            initial_positions,
            num_warmup,
            target_acceptance_rate=target_acceptance_rate,
            max_sampling_steps=num_samples,
        )
        kernel, state = tuned.kernel, tuned.state
        observables = jax.tree_util.Partial(_unravelled_position, tuned.unravel)
    else:
        static, arrays = split_arrays(logdensity)
        state = _nuts_warmup(
            k_warm,
            initial_positions,
            arrays,
            logdensity=static,
            num_warmup=num_warmup,
            target_acceptance_rate=target_acceptance_rate,
        )
        kernel = adapted_kernel(jax.tree_util.Partial(_nuts, logdensity))
        observables = _position
    kernel = Kernel(init=kernel.init, step=jax.tree_util.Partial(_with_diagnostics, kernel.step))
    chains_run = run_chains(
        k_run, kernel, state, num_samples, num_chains=chains, observables=observables
    )
    return _posterior_samples(chains_run, num_samples)


def nuts_numpyro(
    key: jax.Array,
    logdensity: Callable[[PyTree], jax.Array],
    initial_positions: PyTree,
    *,
    num_warmup: int = 500,
    num_samples: int = 500,
    chain_method: str = "vectorized",
) -> PosteriorSamples:
    r"""Run numpyro's NUTS on the same log-density (``potential_fn = -logdensity``).

    numpyro adapts step size and a diagonal mass matrix during warm-up, as blackjax's window
    adaptation does, so the two samplers target the same posterior with the same algorithm.

    Args:
        key: PRNG key.
        logdensity: log posterior of a position pytree.
        initial_positions: position pytree with a leading chain axis.
        num_warmup: warm-up steps per chain.
        num_samples: retained draws per chain.
        chain_method: numpyro's ``"vectorized"``, ``"sequential"`` or ``"parallel"``.

    Returns:
        A :class:`PosteriorSamples`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import nuts_numpyro
        >>> logp = lambda z: -0.5 * jnp.sum(z**2)
        >>> out = nuts_numpyro(jax.random.key(0), logp, jnp.zeros((1, 3)),
        ...                    num_warmup=50, num_samples=50)

    References:
        Phan, D., Pradhan, N. and Jankowiak, M. (2019). Composable effects for flexible and
        accelerated probabilistic programming in NumPyro. arXiv:1912.11554.
    """
    num_warmup = check_int("num_warmup", num_warmup, minimum=1)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    check_choice("chain_method", chain_method, ("parallel", "sequential", "vectorized"))
    chains = jax.tree.leaves(initial_positions)[0].shape[0]
    mcmc = MCMC(
        NUTS(potential_fn=lambda z: -logdensity(z)),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    init = initial_positions if chains > 1 else jax.tree.map(lambda a: a[0], initial_positions)
    mcmc.run(key, init_params=init, extra_fields=("diverging", "num_steps", "accept_prob"))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return PosteriorSamples(
        mcmc.get_samples(group_by_chain=True),
        jnp.sum(extra["diverging"], axis=1),
        jnp.mean(extra["accept_prob"], axis=1),
        jnp.sum(extra["num_steps"]),
    )


class SVIResult(NamedTuple):
    """Fitted Gaussian variational posterior of :func:`svi_gaussian`.

    Attributes:
        mean: marginal means of :math:`q` over the flattened parameters, shape ``(D,)``.
        variance: marginal variances of :math:`q`, shape ``(D,)``.
        samples: draws from :math:`q` as a pytree with leading axis ``num_samples``.
        losses: negative ELBO per optimisation step.
    """

    mean: jax.Array
    variance: jax.Array
    samples: PyTree
    losses: jax.Array


def svi_gaussian(
    key: jax.Array,
    logdensity: Callable[[PyTree], jax.Array],
    initial_position: PyTree,
    *,
    family: str = "mean_field",
    rank: int = 2,
    steps: int = 2000,
    learning_rate: float = 1e-2,
    num_samples: int = 200,
    num_particles: int = 1,
) -> SVIResult:
    r"""Stochastic variational inference with a Gaussian family (numpyro SVI).

    Maximises the ELBO :math:`E_q[\log p(\theta,\mathcal D) - \log q(\theta)]` over
    :math:`q = \mathcal N(\mu, \mathrm{diag}\,s^2)` (``"mean_field"``, numpyro
    ``AutoDiagonalNormal``) or :math:`q = \mathcal N(\mu, WW^\top + \mathrm{diag}\,s^2)` with
    :math:`W` of rank ``rank`` (``"low_rank"``, ``AutoLowRankMultivariateNormal``), on the
    flattened parameter vector, with Adam for ``steps`` steps and a cosine-decaying step size
    (to 1% of ``learning_rate``; a decaying step is what makes stochastic-gradient iterates
    settle at the optimum, Robbins & Monro 1951). Cost: ``steps * num_particles`` gradient
    evaluations.

    Args:
        key: PRNG key.
        logdensity: log posterior of a position pytree.
        initial_position: a position pytree (its structure and the optimiser's start).
        family: ``"mean_field"`` or ``"low_rank"``.
        rank: rank of the low-rank factor.
        steps: optimisation steps.
        learning_rate: Adam step size.
        num_samples: draws returned from the fitted ``q``.
        num_particles: Monte Carlo draws per ELBO gradient.

    Returns:
        An :class:`SVIResult`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import svi_gaussian
        >>> logp = lambda z: -0.5 * jnp.sum((z - 1.0) ** 2)
        >>> out = svi_gaussian(jax.random.key(0), logp, jnp.zeros(2), steps=200)

    References:
        Blei, D. M., Kucukelbir, A. and McAuliffe, J. D. (2017). Variational inference: a review
        for statisticians. JASA 112(518), 859-877. Ong, V. M.-H., Nott, D. J. and Smith, M. S.
        (2018). Gaussian variational approximation with a factor covariance structure. JCGS 27.
    """
    check_choice("family", family, ("low_rank", "mean_field"))
    steps = check_int("steps", steps, minimum=1)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    num_particles = check_int("num_particles", num_particles, minimum=1)
    check_real("learning_rate", learning_rate, minimum=0.0, strict_minimum=True)
    flat0, unravel = ravel_pytree(initial_position)
    dim = flat0.size
    if family == "low_rank":
        rank = check_int("rank", rank, minimum=1, maximum=dim)

    def model() -> None:
        theta = numpyro.sample(
            "theta", dist.ImproperUniform(dist.constraints.real_vector, (), (dim,))
        )
        numpyro.factor("logdensity", logdensity(unravel(theta)))

    init = numpyro.infer.init_to_value(values={"theta": flat0})
    if family == "mean_field":
        guide = AutoDiagonalNormal(model, init_loc_fn=init)
    else:
        guide = AutoLowRankMultivariateNormal(model, init_loc_fn=init, rank=rank)
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=0.01)
    optimizer = numpyro.optim.optax_to_numpyro(optax.adam(schedule))
    svi = SVI(model, guide, optimizer, loss=Trace_ELBO(num_particles=num_particles))
    k_run, k_draw = jax.random.split(key)
    result = svi.run(k_run, steps, progress_bar=False)
    posterior = guide.get_posterior(result.params)
    mean = posterior.mean
    variance = posterior.variance
    draws = posterior.sample(k_draw, (num_samples,))
    return SVIResult(mean, variance, jax.vmap(unravel)(draws), result.losses)


def bnn_predictive(
    surrogate: Surrogate, samples: PyTree, x: ArrayLike, *, noise_variance: float
) -> Predictive:
    r"""Posterior predictive from parameter draws: moments of :math:`f_\theta(x) + \varepsilon`.

    ``samples`` is a pytree with one or two leading axes (``(draws,)`` or ``(chains, draws)``,
    flattened together). Mean :math:`\bar f`, variance :math:`\mathrm{Var}_\theta f_\theta(x) +
    \sigma^2` (aleatoric part :math:`\sigma^2`); ``samples`` holds the draws of
    :math:`f_\theta(x)`. Cost: one forward pass per draw (vmapped).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import bnn_predictive, mlp
        >>> net = mlp((4,), 1)
        >>> x = jnp.ones((3, 1))
        >>> draws = jax.vmap(lambda k: net.init(k, x))(jax.random.split(jax.random.key(0), 5))
        >>> pred = bnn_predictive(net, draws, x, noise_variance=0.01)
    """
    lead = jax.tree.leaves(samples)[0]
    shapes = jax.eval_shape(surrogate.init, jax.random.key(0), jnp.asarray(x)[:1])
    first = jax.tree.leaves(shapes)[0]
    extra = lead.ndim - first.ndim
    flat = jax.tree.map(lambda a: a.reshape((-1, *a.shape[extra:])), samples)
    f = jax.vmap(lambda p: surrogate.apply(p, x).mean)(flat)
    mean = jnp.mean(f, axis=0)
    noise = jnp.full_like(mean, noise_variance)
    return Predictive(mean=mean, variance=jnp.var(f, axis=0) + noise, samples=f, aleatoric=noise)


class NUTSOptions(NamedTuple):
    """Options of :data:`bnn_nuts` (hashable).

    Attributes:
        hidden: hidden layer widths of the point network (a tuple).
        activation: hidden activation name.
        chains: number of chains (each started from its own initialisation).
        num_warmup: adaptation steps per chain.
        num_samples: retained draws per chain.
        prior_scale: :math:`\\tau > 0` of the isotropic Gaussian prior.
        noise_variance: the known noise variance :math:`\\sigma^2 > 0`.
        sampler: ``"nuts"`` (per-chain window adaptation and NUTS) or ``"chees"``
            (ChEES-tuned jittered HMC shared by all chains, for many chains); see
            :func:`nuts_blackjax`.
        target_acceptance_rate: the step-size adaptation's target in ``(0, 1)``, or ``None``
            for the sampler's default (see :func:`nuts_blackjax`).
    """

    hidden: tuple[int, ...] = (16,)
    activation: str = "tanh"
    chains: int = 4
    num_warmup: int = 500
    num_samples: int = 500
    prior_scale: float = 1.0
    noise_variance: float = 0.01
    sampler: str = "nuts"
    target_acceptance_rate: float | None = None


class SVIOptions(NamedTuple):
    """Options of :data:`bnn_svi` (hashable).

    Attributes:
        hidden: hidden layer widths of the point network (a tuple).
        activation: hidden activation name.
        family: ``"mean_field"`` or ``"low_rank"`` (see :func:`svi_gaussian`).
        rank: rank of the low-rank factor.
        steps: optimisation steps.
        learning_rate: Adam step size.
        num_samples: draws kept from the fitted variational posterior.
        num_particles: Monte Carlo draws per ELBO gradient.
        prior_scale: :math:`\\tau > 0`.
        noise_variance: :math:`\\sigma^2 > 0`.
    """

    hidden: tuple[int, ...] = (16,)
    activation: str = "tanh"
    family: str = "mean_field"
    rank: int = 2
    steps: int = 2000
    learning_rate: float = 1e-2
    num_samples: int = 200
    num_particles: int = 1
    prior_scale: float = 1.0
    noise_variance: float = 0.01


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["posterior"],
    meta_fields=["network", "noise_variance"],
)
@dataclasses.dataclass(frozen=True)
class BNNState:
    """Posterior draws of a Bayesian neural network's parameters.

    Attributes:
        network: the point network (static, hashable by value).
        posterior: a :class:`PosteriorSamples` (NUTS, penalty method; check its
            ``divergences``) or an :class:`SVIResult`; ``posterior.samples`` are the draws.
        noise_variance: the known noise variance (static).
    """

    network: MLP
    posterior: PosteriorSamples | SVIResult
    noise_variance: float


def _fit_nuts(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: NUTSOptions | None = None
) -> BNNState:
    options = check_options(options, NUTSOptions)
    k_init, k_run = jax.random.split(key)
    net, x, y, init = bnn_start(k_init, x, y, options, options.chains)
    logdensity = bnn_log_density(
        net, x, y, prior_scale=options.prior_scale, noise_variance=options.noise_variance
    )
    draws = nuts_blackjax(
        k_run,
        logdensity,
        init,
        num_warmup=options.num_warmup,
        num_samples=options.num_samples,
        sampler=options.sampler,
        target_acceptance_rate=options.target_acceptance_rate,
    )
    return BNNState(net, draws, float(options.noise_variance))


def _predict_bnn(state: BNNState, x: ArrayLike) -> Predictive:
    return bnn_predictive(
        state.network, state.posterior.samples, x, noise_variance=state.noise_variance
    )


bnn_nuts = SurrogateMethod(_fit_nuts, _predict_bnn)
"""BNN sampled by blackjax NUTS (:func:`bnn_log_density`, :func:`nuts_blackjax`, then
:func:`bnn_predictive`); options :class:`NUTSOptions`, state :class:`BNNState`. ``fit`` splits
its key into the initialisation key (one per chain) and the sampling key."""


def _fit_svi(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: SVIOptions | None = None
) -> BNNState:
    options = check_options(options, SVIOptions)
    k_init, k_run = jax.random.split(key)
    net, x, y, init = bnn_start(k_init, x, y, options, None)
    logdensity = bnn_log_density(
        net, x, y, prior_scale=options.prior_scale, noise_variance=options.noise_variance
    )
    fitted = svi_gaussian(
        k_run,
        logdensity,
        init,
        family=options.family,
        rank=options.rank,
        steps=options.steps,
        learning_rate=options.learning_rate,
        num_samples=options.num_samples,
        num_particles=options.num_particles,
    )
    return BNNState(net, fitted, float(options.noise_variance))


bnn_svi = SurrogateMethod(_fit_svi, _predict_bnn)
"""BNN fitted by Gaussian variational inference (:func:`svi_gaussian` on
:func:`bnn_log_density`, then :func:`bnn_predictive` on draws from the fitted posterior);
options :class:`SVIOptions`, state :class:`BNNState`."""
