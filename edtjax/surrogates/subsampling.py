r"""Data subsampling for Bayesian neural networks: the penalty method (PBNN).

Metropolis-Hastings needs the change of the log posterior between the current parameters
:math:`\theta` and a proposal :math:`\theta'`; for :math:`N` data points its likelihood part
costs a pass over all of them. The Penalty Bayesian Neural Network (PBNN) of Kawasaki,
Holzmann and Adu-Gyamfi estimates it on a mini-batch :math:`B` of :math:`b` points drawn
uniformly with replacement. With the per-example differences
:math:`e_i = \log p(y_i\mid x_i,\theta') - \log p(y_i\mid x_i,\theta)`,

.. math::
    \hat\Delta = -[\log p(\theta') - \log p(\theta)] - \frac{N}{b}\sum_{i\in B} e_i
        + K(p') - K(p), \qquad
    \hat\sigma^2 = \frac{N^2}{b}\,\widehat{\mathrm{Var}}(e_i),

an unbiased estimate of the energy change :math:`\Delta` (prior and kinetic parts exact) and
of its variance (``ddof = 1``). The proposal is accepted with the penalty method of Ceperley
and Dewing,

.. math::
    a = \min\bigl(1, \exp(-\hat\Delta - \hat\sigma^2/2)\bigr),

which satisfies detailed balance exactly when :math:`\hat\Delta \sim \mathcal N(\Delta,
\sigma^2)` with known :math:`\sigma^2` (Ceperley & Dewing 1999): the noise only lowers the
acceptance, by about :math:`\exp(-\sigma^2/2)`. Since :math:`\hat\sigma^2` is estimated from
the same ``b`` points, the penalty :math:`\hat\sigma^2/2` is extended by Ceperley and
Dewing's next term for an estimated variance, :math:`\hat\sigma^4 / (4(b + 1))` (the
expansion of the unbiased estimator of :math:`e^{-\sigma^2/2}` when
:math:`(b-1)\hat\sigma^2/\sigma^2 \sim \chi^2_{b-1}`). The central limit theorem makes
:math:`\hat\Delta` Gaussian for moderate ``b``; its residual skewness (from skewed data) is
not corrected and biases the draws slightly when :math:`\sigma^2 \gtrsim 1`, so keep the mean
acceptance near 0.5-0.6 (``target_acceptance``). Without the penalty ("naive" subsampling)
the chain does not sample the posterior: noisy uphill moves are accepted too often and the
distribution is too wide.

Proposals are leapfrog trajectories (Hamiltonian dynamics, unit mass) of ``L`` steps driven by
mini-batch gradients :math:`\nabla\log p(\theta) + \frac Nb\sum_{i\in B_g}\nabla\log
p(y_i\mid x_i,\theta)` on a second batch :math:`B_g`, drawn independently of :math:`B` and
kept fixed along the trajectory. For a fixed :math:`B_g` the leapfrog map is reversible and
volume preserving, so the kinetic-energy change is the whole proposal correction; averaging
the resulting reversible kernels over :math:`B_g` keeps the posterior invariant. ``L = 1`` is
the Metropolis-adjusted Langevin algorithm with mini-batch gradients. Since
:math:`\sigma^2 \propto (N^2/b)\,\|\theta'-\theta\|^2`, the step size is limited by the noise:
the mini-batch size is the knob that trades cost per step against mixing per step.

Cost of one transition: ``L + 1`` gradient evaluations and two forward passes, each on ``b``
points, independent of ``N``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from blackjax.optimizers.dual_averaging import dual_averaging
from jax.flatten_util import ravel_pytree

from edtjax._checks import (
    as_array,
    check_int,
    check_probability,
    check_real,
    check_same_length,
)
from edtjax._typing import ArrayLike, PRNGKey, PyTree
from edtjax.mcmc.kernel import Kernel
from edtjax.surrogates._bnn_model import (
    bnn_start,
    gaussian_log_likelihood_terms,
    gaussian_log_prior,
)
from edtjax.surrogates.bnn import BNNState, PosteriorSamples, bnn_nuts
from edtjax.surrogates.method import SurrogateMethod, check_options
from edtjax.surrogates.network import MLP, Surrogate

__all__ = [
    "PenaltyInfo",
    "PenaltyOptions",
    "PenaltyState",
    "bnn_penalty",
    "pbnn_sample",
    "penalty_kernel",
]

_DIVERGENCE_THRESHOLD = 1000.0  # energy error flagged as divergent (blackjax's and Stan's)


class PenaltyState(NamedTuple):
    """State of one penalty-method chain: only the position (a parameter pytree).

    Nothing else is carried: the noisy energy change is re-estimated on fresh mini-batches at
    every transition, as the penalty method requires.
    """

    position: PyTree


class PenaltyInfo(NamedTuple):
    r"""Diagnostics of one penalty-method transition.

    Attributes:
        acceptance_rate: :math:`\min(1, \exp(-\hat\Delta - \hat\sigma^2/2 -
            \hat\sigma^4/(4(b+1))))` (without the penalty: :math:`\min(1,
            \exp(-\hat\Delta))`).
        is_accepted: whether the proposal was accepted.
        is_divergent: the estimated energy change is not finite or exceeds 1000.
        energy_change: :math:`\hat\Delta`, the mini-batch estimate of the energy change.
        energy_variance: :math:`\hat\sigma^2`, the estimated variance of :math:`\hat\Delta`.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    energy_change: jax.Array
    energy_variance: jax.Array


def _take(data: PyTree, index: jax.Array) -> PyTree:
    return jax.tree.map(lambda a: a[index], data)


def _build_step(
    log_prior, log_likelihood, data, num_data, batch_size, step_size, num_steps, penalty
):
    """The transition function; ``step_size`` may be traced (step-size adaptation)."""
    scale = num_data / batch_size

    def step(key: jax.Array, state: PenaltyState) -> tuple[PenaltyState, PenaltyInfo]:
        k_mom, k_grad, k_lik, k_acc = jax.random.split(key, 4)
        flat, unravel = ravel_pytree(state.position)
        eps = jnp.asarray(step_size, flat.dtype)
        grad_batch = _take(data, jax.random.randint(k_grad, (batch_size,), 0, num_data))

        def potential(q: jax.Array) -> jax.Array:
            theta = unravel(q)
            return -log_prior(theta) - scale * jnp.sum(log_likelihood(theta, grad_batch))

        grad_u = jax.grad(potential)

        def leapfrog(
            carry: tuple[jax.Array, jax.Array, jax.Array], _: None
        ) -> tuple[tuple[jax.Array, jax.Array, jax.Array], None]:
            q, p, g = carry
            p = p - 0.5 * eps * g
            q = q + eps * p
            g = grad_u(q)
            return (q, p - 0.5 * eps * g, g), None

        p0 = jax.random.normal(k_mom, flat.shape, flat.dtype)
        (q1, p1, _), _ = jax.lax.scan(leapfrog, (flat, p0, grad_u(flat)), None, num_steps)
        proposal = unravel(q1)
        lik_batch = _take(data, jax.random.randint(k_lik, (batch_size,), 0, num_data))
        diff = log_likelihood(proposal, lik_batch) - log_likelihood(state.position, lik_batch)
        variance = num_data**2 / batch_size * jnp.var(diff, ddof=1)
        change = (
            log_prior(state.position)
            - log_prior(proposal)
            - scale * jnp.sum(diff)
            + 0.5 * (jnp.sum(p1**2) - jnp.sum(p0**2))
        )
        # Ceperley & Dewing's penalty for a variance estimated from b points, to O(chi^6)
        penalty_term = 0.5 * variance + variance**2 / (4 * (batch_size + 1))
        log_accept = -change - penalty_term if penalty else -change
        divergent = ~jnp.isfinite(change) | (change > _DIVERGENCE_THRESHOLD)
        log_accept = jnp.where(jnp.isfinite(log_accept), log_accept, -jnp.inf)
        accept = jnp.log(jax.random.uniform(k_acc, (), flat.dtype)) < log_accept
        position = unravel(jnp.where(accept, q1, flat))
        info = PenaltyInfo(
            jnp.exp(jnp.minimum(log_accept, 0.0)), accept, divergent, change, variance
        )
        return PenaltyState(position), info

    return step


def penalty_kernel(
    log_prior: Callable[[PyTree], jax.Array],
    log_likelihood: Callable[[PyTree, PyTree], jax.Array],
    data: PyTree,
    *,
    batch_size: int,
    step_size: float,
    num_integration_steps: int = 1,
    penalty: bool = True,
) -> Kernel:
    r"""A penalty-method Metropolis-Hastings kernel on mini-batches (see the module docstring).

    Args:
        log_prior: ``log_prior(position) -> scalar``, evaluated exactly.
        log_likelihood: ``log_likelihood(position, batch) -> (b,)``, the per-example
            log-likelihoods of a batch of data (``batch`` is ``data`` indexed on its leading
            axis).
        data: pytree of arrays sharing a leading axis of size ``N``, e.g. ``(x, y)``.
        batch_size: ``b``, with ``2 <= b <= N`` (two points at least, for the variance).
        step_size: leapfrog step size :math:`\epsilon > 0`.
        num_integration_steps: leapfrog steps per proposal ``L >= 1`` (``1``: Langevin).
        penalty: subtract :math:`\hat\sigma^2/2` from the log acceptance (the PBNN); ``False``
            gives naive subsampled Metropolis-Hastings, which is biased (kept to show it).

    Returns:
        A :class:`edtjax.mcmc.Kernel`: ``init(position) -> PenaltyState`` and
        ``step(key, state) -> (PenaltyState, PenaltyInfo)`` for one chain, ready for
        :func:`edtjax.mcmc.run_chains`. Cost per step: ``L + 1`` gradients and two forward
        passes on ``b`` points.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.mcmc import run_chains
        >>> from edtjax.surrogates import penalty_kernel
        >>> y = 1.0 + jax.random.normal(jax.random.key(0), (1000,))
        >>> kernel = penalty_kernel(
        ...     lambda m: -0.5 * m**2, lambda m, yb: -0.5 * (yb - m) ** 2, y,
        ...     batch_size=100, step_size=0.01)
        >>> res = run_chains(jax.random.key(1), kernel, jax.vmap(kernel.init)(jnp.zeros(2)),
        ...                  500, num_chains=2, burn_in=100)
        >>> res.traces.shape
        (2, 400)

    References:
        Kawasaki, E., Holzmann, M. and Adu-Gyamfi, L. (2022). Data subsampling for Bayesian
        neural networks. arXiv:2210.09141. Ceperley, D. M. and Dewing, M. (1999). The penalty
        method for random walks with uncertain energies. J. Chem. Phys. 110, 9812-9820.
        Neal, R. M. (2011). MCMC using Hamiltonian dynamics. Handbook of MCMC, ch. 5.
    """
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data must contain at least one array")
    num_data = check_same_length([f"data leaf {i}" for i in range(len(leaves))], *leaves)
    batch_size = check_int("batch_size", batch_size, minimum=2, maximum=num_data)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_minimum=True)
    num_steps = check_int("num_integration_steps", num_integration_steps, minimum=1)
    step = _build_step(
        log_prior, log_likelihood, data, num_data, batch_size, step_size, num_steps,
        bool(penalty),
    )  # fmt: skip
    return Kernel(init=PenaltyState, step=step)


@functools.partial(
    jax.jit,
    static_argnames=(
        "surrogate", "batch_size", "num_integration_steps", "num_warmup", "num_samples",
        "penalty",
    ),
)  # fmt: skip
def _pbnn(
    key, positions, x, y, prior_variance, noise_variance, step_size, target_acceptance, *,
    surrogate, batch_size, num_integration_steps, num_warmup, num_samples, penalty,
):  # fmt: skip
    def log_prior(params: PyTree) -> jax.Array:
        return gaussian_log_prior(params, prior_variance)

    def log_likelihood(params: PyTree, batch: PyTree) -> jax.Array:
        return gaussian_log_likelihood_terms(surrogate, params, *batch, noise_variance)

    def build(
        eps: ArrayLike,
    ) -> Callable[[PRNGKey, PenaltyState], tuple[PenaltyState, PenaltyInfo]]:
        return _build_step(
            log_prior, log_likelihood, (x, y), x.shape[0], batch_size, eps,
            num_integration_steps, penalty,
        )  # fmt: skip

    da_init, da_update, da_final = dual_averaging()

    def one_chain(key: PRNGKey, position: PyTree) -> tuple[PyTree, jax.Array, jax.Array]:
        k_warm, k_run = jax.random.split(key)
        state = PenaltyState(position)
        eps = jnp.asarray(step_size, jax.tree.leaves(position)[0].dtype)
        if num_warmup > 0:

            def warm(carry: PyTree, k: PRNGKey) -> tuple[PyTree, None]:
                state, da = carry
                state, info = build(jnp.exp(da.log_x))(k, state)
                return (state, da_update(da, target_acceptance - info.acceptance_rate)), None

            (state, da), _ = jax.lax.scan(
                warm, (state, da_init(eps)), jax.random.split(k_warm, num_warmup)
            )
            eps = da_final(da).astype(eps.dtype)
        step = build(eps)

        def sample(
            state: PyTree, k: PRNGKey
        ) -> tuple[PenaltyState, tuple[PyTree, jax.Array, jax.Array]]:
            state, info = step(k, state)
            return state, (state.position, info.is_divergent, info.acceptance_rate)

        _, (draws, div, acc) = jax.lax.scan(sample, state, jax.random.split(k_run, num_samples))
        return draws, jnp.sum(div), jnp.mean(acc)

    chains = jax.tree.leaves(positions)[0].shape[0]
    draws, div, acc = jax.vmap(one_chain)(jax.random.split(key, chains), positions)
    grads = jnp.asarray(chains * num_samples * (num_integration_steps + 1))
    return PosteriorSamples(draws, div, acc, grads)


def pbnn_sample(
    key: jax.Array,
    surrogate: Surrogate | MLP,
    x: ArrayLike,
    y: ArrayLike,
    initial_positions: PyTree,
    *,
    batch_size: int,
    prior_scale: float = 1.0,
    noise_variance: float = 0.01,
    step_size: float = 1e-3,
    num_integration_steps: int = 1,
    num_warmup: int = 500,
    num_samples: int = 500,
    target_acceptance: float = 0.6,
    penalty: bool = True,
) -> PosteriorSamples:
    r"""Sample a BNN posterior with the penalty method on mini-batches (PBNN), many chains.

    The posterior is that of :func:`edtjax.surrogates.bnn_log_density` (isotropic Gaussian
    prior of scale :math:`\tau`, Gaussian likelihood of known variance :math:`\sigma^2`), so
    draws are directly comparable with :func:`nuts_blackjax` and :func:`nuts_numpyro`. Each
    chain (``vmap``-ed, jitted) runs ``num_warmup`` transitions of :func:`penalty_kernel`
    adapting the step size by dual averaging (Hoffman & Gelman 2014) to a mean acceptance
    ``target_acceptance``, then ``num_samples`` transitions at the averaged step size. With
    ``num_warmup = 0`` the given ``step_size`` is used throughout. A second call with data
    and positions of the same shapes reuses the compilation.

    Args:
        key: PRNG key.
        surrogate: a point-prediction network (its ``apply(params, x).mean`` is used); static.
        x: inputs, shape ``(N, p)``.
        y: targets, shape ``(N, d)``.
        initial_positions: parameter pytree with a leading chain axis.
        batch_size: mini-batch size ``b`` with ``2 <= b <= N`` (the same ``b`` for the
            gradient batch and the likelihood-difference batch).
        prior_scale: :math:`\tau > 0`.
        noise_variance: :math:`\sigma^2 > 0`.
        step_size: leapfrog step size (initial value of the adaptation).
        num_integration_steps: leapfrog steps per proposal (``1``: Langevin proposals).
        num_warmup: adaptation transitions per chain (``>= 0``), discarded.
        num_samples: retained transitions per chain.
        target_acceptance: target mean acceptance probability in ``(0, 1)``.
        penalty: ``False`` drops the noise penalty (naive subsampling, biased; for comparison).

    Returns:
        A :class:`PosteriorSamples`; ``gradient_evaluations`` counts mini-batch gradients
        (each over ``b`` points) in the sampling phase, ``chains * num_samples * (L + 1)``;
        ``divergences`` counts transitions whose estimated energy change was not finite or
        above 1000.

    Cost: ``chains * (num_warmup + num_samples) * (L + 3)`` passes over ``b`` points.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import mlp, pbnn_sample
        >>> net = mlp((8,), 1)
        >>> x = jnp.linspace(-1, 1, 200)[:, None]
        >>> init = jax.vmap(lambda k: net.init(k, x))(jax.random.split(jax.random.key(0), 2))
        >>> out = pbnn_sample(jax.random.key(1), net, x, jnp.sin(3 * x), init, batch_size=50,
        ...                   num_warmup=50, num_samples=50)
        >>> out.acceptance_rate.shape
        (2,)

    References:
        Kawasaki, E., Holzmann, M. and Adu-Gyamfi, L. (2022). Data subsampling for Bayesian
        neural networks. arXiv:2210.09141. Ceperley, D. M. and Dewing, M. (1999). The penalty
        method for random walks with uncertain energies. J. Chem. Phys. 110, 9812-9820.
        Hoffman, M. D. and Gelman, A. (2014). The No-U-Turn sampler. JMLR 15, 1593-1623.
    """
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    num_data = check_same_length(("x", "y"), x, y)
    batch_size = check_int("batch_size", batch_size, minimum=2, maximum=num_data)
    tau = check_real("prior_scale", prior_scale, minimum=0.0, strict_minimum=True)
    s2 = check_real("noise_variance", noise_variance, minimum=0.0, strict_minimum=True)
    step_size = check_real("step_size", step_size, minimum=0.0, strict_minimum=True)
    target = check_probability("target_acceptance", target_acceptance)
    num_steps = check_int("num_integration_steps", num_integration_steps, minimum=1)
    num_warmup = check_int("num_warmup", num_warmup, minimum=0)
    num_samples = check_int("num_samples", num_samples, minimum=1)
    leaves = jax.tree.leaves(initial_positions)
    if not leaves or any(jnp.ndim(a) < 1 for a in leaves):
        raise ValueError("initial_positions must be a parameter pytree with a leading chain axis")
    check_same_length([f"initial_positions leaf {i}" for i in range(len(leaves))], *leaves)
    return _pbnn(
        key, initial_positions, x, y, tau**2, s2, step_size, target, surrogate=surrogate,
        batch_size=batch_size, num_integration_steps=num_steps, num_warmup=num_warmup,
        num_samples=num_samples, penalty=bool(penalty),
    )  # fmt: skip


class PenaltyOptions(NamedTuple):
    """Options of :data:`bnn_penalty` (hashable); the sampler's are those of
    :func:`pbnn_sample`.

    Attributes:
        hidden: hidden layer widths of the point network (a tuple).
        activation: hidden activation name.
        chains: number of chains.
        batch_size: mini-batch size ``b`` (``2 <= b <= n``).
        prior_scale: :math:`\\tau > 0`.
        noise_variance: :math:`\\sigma^2 > 0`.
        step_size: initial leapfrog step size.
        num_integration_steps: leapfrog steps per proposal.
        num_warmup: step-size adaptation transitions per chain.
        num_samples: retained transitions per chain.
        target_acceptance: target mean acceptance probability.
        penalty: ``False`` drops the noise penalty (biased; for comparison).
    """

    hidden: tuple[int, ...] = (16,)
    activation: str = "tanh"
    chains: int = 4
    batch_size: int = 32
    prior_scale: float = 1.0
    noise_variance: float = 0.01
    step_size: float = 1e-3
    num_integration_steps: int = 1
    num_warmup: int = 500
    num_samples: int = 500
    target_acceptance: float = 0.6
    penalty: bool = True


def _fit_penalty(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: PenaltyOptions | None = None
) -> BNNState:
    options = check_options(options, PenaltyOptions)
    k_init, k_run = jax.random.split(key)
    net, x, y, init = bnn_start(k_init, x, y, options, options.chains)
    sampler = options._asdict()
    for name in ("hidden", "activation", "chains"):
        del sampler[name]
    draws = pbnn_sample(k_run, net, x, y, init, **sampler)
    return BNNState(net, draws, float(options.noise_variance))


bnn_penalty = SurrogateMethod(_fit_penalty, bnn_nuts.predict)
"""BNN sampled by the penalty method on mini-batches (:func:`pbnn_sample`, then
:func:`~edtjax.surrogates.bnn_predictive`); options :class:`PenaltyOptions`, state
:class:`~edtjax.surrogates.BNNState`. The sampler is jitted with the network as a static
argument compared by value, so fitting again with the same options does not recompile."""
