r"""Surrogate-induced bias of downstream estimators, propagated from posterior samples.

A downstream estimator (an MCMC average, a free energy, an exact enumeration) that calls a
surrogate in place of the exact function returns a quantity :math:`q(\theta)` that depends on
the surrogate parameters :math:`\theta`. Given posterior (or ensemble) samples
:math:`\theta_1, \dots, \theta_S` of those parameters, :func:`surrogate_bias` pushes each sample
through the estimator and summarises the induced distribution of :math:`q` and, against a
reference :math:`q_\star` computed with the exact function, of the bias
:math:`b = q(\theta) - q_\star`. :func:`reweighting_bias` handles the common lattice case where
configurations were sampled from a surrogate action :math:`S_\theta` and the exact action
:math:`S` is available: self-normalised importance weights :math:`w \propto e^{-(S - S_\theta)}`
recover :math:`\langle O\rangle_S` and hence the bias of the naive surrogate average.

References:
    Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., ch. 6 (posterior predictive
    propagation of parameter uncertainty to derived quantities).

    Ferrenberg, A. M. and Swendsen, R. H. (1988). New Monte Carlo technique for studying phase
    transitions. Phys. Rev. Lett. 61, 2635 (reweighting between actions).

    Kong, A. (1992). A note on importance sampling using standardized weights. Technical
    report 348, University of Chicago (effective sample size of importance weights).

    Owen, A. B. (2013). Monte Carlo theory, methods and examples, ch. 9 (self-normalised
    importance sampling and its delta-method variance).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr
from jax.scipy.stats import norm

from edtjax._checks import as_array, check_probability, check_real, is_concrete
from edtjax._typing import ArrayLike, PyTree

__all__ = ["ReweightingBias", "SurrogateBias", "reweighting_bias", "surrogate_bias"]

_BISECTION_STEPS = 100


class SurrogateBias(NamedTuple):
    r"""Distribution of a downstream quantity over surrogate posterior samples, and its bias.

    Every field is a pytree with the structure of ``downstream``'s output. Interval bounds are
    the equal-tailed ``(1 - credible) / 2`` and ``(1 + credible) / 2`` quantiles. The ``bias_*``
    fields are ``None`` when no reference was given.

    Attributes:
        quantities: :math:`q(\theta_s)` per sample, leaves of shape ``(S, *out)``.
        mean: posterior mean :math:`\bar q = S^{-1}\sum_s q(\theta_s)`, shape ``out``.
        lower: lower credible bound of :math:`q`.
        upper: upper credible bound of :math:`q`.
        bias_mean: :math:`\bar q - q_\star`.
        bias_std: :math:`\sqrt{\operatorname{Var}_s q(\theta_s) + \sigma_\star^2}`.
        bias_lower: lower credible bound of the predicted bias distribution.
        bias_upper: upper credible bound of the predicted bias distribution.
    """

    quantities: PyTree
    mean: PyTree
    lower: PyTree
    upper: PyTree
    bias_mean: PyTree | None = None
    bias_std: PyTree | None = None
    bias_lower: PyTree | None = None
    bias_upper: PyTree | None = None


class ReweightingBias(NamedTuple):
    r"""Per-posterior-sample naive and reweighted averages, their difference and weight quality.

    Shapes are ``(P, *obs)`` for per-sample fields (``P`` posterior samples, ``obs`` the trailing
    shape of the observable) and ``obs`` for the summaries over posterior samples.

    Attributes:
        naive: :math:`\langle O\rangle_{S_\theta}`, the plain average over configurations.
        naive_error: its standard error :math:`\hat\sigma_O / \sqrt N` (independent draws).
        reweighted: :math:`\sum_i \tilde w_i O_i`, the estimate of :math:`\langle O\rangle_S`.
        reweighted_error: delta-method standard error
            :math:`\sqrt{\sum_i \tilde w_i^2 (O_i - \hat\mu_w)^2}`.
        bias: naive minus reweighted, the estimated :math:`\langle O\rangle_{S_\theta} -
            \langle O\rangle_S`.
        bias_error: delta-method standard error of ``bias``.
        ess: Kish effective sample size :math:`(\sum w)^2 / \sum w^2`, shape ``(P,)``.
        reliable: ``ess >= min_ess``, shape ``(P,)``; where false the reweighted figures rest on
            a handful of configurations and should not be trusted.
        bias_mean: mean of ``bias`` over posterior samples.
        bias_lower: lower credible bound of ``bias`` over posterior samples.
        bias_upper: upper credible bound of ``bias`` over posterior samples. The interval is
            the posterior spread of the per-sample estimates; each carries its own Monte Carlo
            error ``bias_error``, which the interval does not add.
    """

    naive: jax.Array
    naive_error: jax.Array
    reweighted: jax.Array
    reweighted_error: jax.Array
    bias: jax.Array
    bias_error: jax.Array
    ess: jax.Array
    reliable: jax.Array
    bias_mean: jax.Array
    bias_lower: jax.Array
    bias_upper: jax.Array


def _mixture_quantile(centres, scale, p):
    r"""Quantile ``p`` of the equal-weight mixture of ``N(centres[s], scale**2)`` along axis 0.

    The value is the bisection root of the mixture CDF; derivatives are those of one Newton step
    around the stopped-gradient root, i.e. the implicit function theorem
    :math:`\partial x_p = -\partial F(x_p) / f(x_p)`.
    """
    scale = jnp.broadcast_to(scale, centres.shape[1:])

    def cdf(x: jax.Array, c: jax.Array, sd: jax.Array) -> jax.Array:
        return jnp.mean(ndtr((x - c) / sd), axis=0)

    def density(x: jax.Array, c: jax.Array, sd: jax.Array) -> jax.Array:
        return jnp.mean(norm.pdf((x - c) / sd), axis=0) / sd

    c0, s0 = jax.lax.stop_gradient(centres), jax.lax.stop_gradient(scale)
    lo0 = jnp.min(c0, axis=0) - 10.0 * s0
    hi0 = jnp.max(c0, axis=0) + 10.0 * s0

    def body(_: int, bounds: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        below = cdf(mid, c0, s0) < p
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECTION_STEPS, body, (lo0, hi0))
    root = jax.lax.stop_gradient(0.5 * (lo + hi))
    step = -(cdf(root, centres, scale) - p) / density(root, centres, scale)
    return root + (step - jax.lax.stop_gradient(step))


def _equal_tailed(x, credible):
    tails = jnp.stack([(1.0 - credible) / 2.0, (1.0 + credible) / 2.0]).astype(x.dtype)
    q = jnp.quantile(x, tails, axis=0)
    return q[0], q[1]


@functools.partial(jax.jit, static_argnames=("downstream",))
def _quantities(downstream, samples):
    return jax.vmap(downstream)(samples)


@jax.jit
def _summarise(quantities, reference, reference_error, credible):
    mean = jax.tree.map(lambda q: jnp.mean(q, axis=0), quantities)
    bounds = jax.tree.map(lambda q: _equal_tailed(q, credible), quantities)
    lower = jax.tree.map(lambda q, b: b[0], quantities, bounds)
    upper = jax.tree.map(lambda q, b: b[1], quantities, bounds)
    if reference is None:
        return SurrogateBias(quantities, mean, lower, upper)
    bias = jax.tree.map(lambda q, r: q - r, quantities, reference)
    bias_mean = jax.tree.map(lambda b: jnp.mean(b, axis=0), bias)
    if reference_error is None:
        bias_std = jax.tree.map(lambda b: jnp.std(b, axis=0), bias)
        b_bounds = jax.tree.map(lambda b: _equal_tailed(b, credible), bias)
        bias_lower = jax.tree.map(lambda b, bb: bb[0], bias, b_bounds)
        bias_upper = jax.tree.map(lambda b, bb: bb[1], bias, b_bounds)
    else:
        bias_std = jax.tree.map(
            lambda b, e: jnp.sqrt(jnp.var(b, axis=0) + e**2), bias, reference_error
        )
        p_lo = (1.0 - credible) / 2.0
        p_hi = (1.0 + credible) / 2.0
        bias_lower = jax.tree.map(lambda b, e: _mixture_quantile(b, e, p_lo), bias, reference_error)
        bias_upper = jax.tree.map(lambda b, e: _mixture_quantile(b, e, p_hi), bias, reference_error)
    return SurrogateBias(
        quantities, mean, lower, upper, bias_mean, bias_std, bias_lower, bias_upper
    )


def _leading_size(samples) -> int:
    leaves, _ = jax.tree.flatten(samples)
    if not leaves:
        raise ValueError("surrogate_samples must hold at least one array, got an empty pytree")
    sizes = [jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves]
    if len(set(sizes)) != 1 or sizes[0] is None:
        raise ValueError(
            "surrogate_samples leaves must share one leading (sample) axis, got leading sizes "
            f"{sizes}"
        )
    if sizes[0] < 2:
        raise ValueError(f"surrogate_samples must hold at least 2 samples, got {sizes[0]}")
    return int(sizes[0])


def _match_reference(name, value, quantities, *, positive=False):
    q_def = jax.tree.structure(quantities)
    try:
        leaves = q_def.flatten_up_to(value)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{name} must have the structure of downstream's output {q_def}, got "
            f"{jax.tree.structure(value)}"
        ) from err
    out = []
    for leaf, q in zip(leaves, jax.tree.leaves(quantities), strict=True):
        arr = as_array(name, leaf, dtype=q.dtype)
        try:
            arr = jnp.broadcast_to(arr, q.shape[1:])
        except ValueError as err:
            raise ValueError(
                f"{name} leaves must broadcast to the per-sample quantity shape {q.shape[1:]}, "
                f"got {arr.shape}"
            ) from err
        if positive and is_concrete(arr) and not bool(jnp.all(arr > 0)):
            raise ValueError(f"{name} must be > 0 (pass None for an exact reference), got {arr}")
        out.append(arr)
    return q_def.unflatten(out)


def surrogate_bias(
    downstream: Callable[[PyTree], PyTree],
    surrogate_samples: PyTree,
    reference: PyTree | None = None,
    *,
    reference_error: PyTree | None = None,
    credible: float = 0.9,
) -> SurrogateBias:
    r"""Propagate surrogate posterior samples through a downstream estimator to a predicted bias.

    With samples :math:`\theta_s \sim p(\theta \mid \mathcal D)`, :math:`s = 1..S`, the quantity
    :math:`q_s = q(\theta_s)` = ``downstream(theta_s)`` is computed for every sample (one
    ``vmap``). Its posterior is summarised by the mean and the equal-tailed credible interval
    (empirical quantiles). Given a reference :math:`q_\star` computed with the exact function,
    the predicted bias is :math:`b_s = q_s - q_\star`. When the reference is itself a Monte
    Carlo estimate with standard error :math:`\sigma_\star` (``reference_error``), its error is
    convolved in: the predicted bias distribution is the mixture
    :math:`S^{-1} \sum_s \mathcal N(b_s, \sigma_\star^2)`, whose variance is
    :math:`\operatorname{Var}_s b_s + \sigma_\star^2` and whose quantiles are found by bisection
    on the mixture CDF (differentiable through the implicit function theorem).

    Cost: ``S`` evaluations of ``downstream`` (vectorised), plus :math:`O(S \log S)` per output
    entry for the quantiles (:math:`O(S)` per bisection step, 100 steps, with
    ``reference_error``). The evaluation and the summary are jitted (``downstream`` is static:
    pass the same function object to reuse the compilation); a second call with new samples of
    the same shapes does not recompile.

    Args:
        downstream: pure function ``params -> quantity pytree`` computing the physical quantity
            with the surrogate parameterised by one sample; must be ``vmap``-able.
        surrogate_samples: pytree of stacked samples, every leaf with the same leading axis
            ``S >= 2`` (an ensemble's stacked members, a BNN's posterior draws).
        reference: optional exact (or surrogate-free) value of the quantity, same pytree
            structure as ``downstream``'s output, leaves broadcastable to one sample's output.
        reference_error: optional standard error of ``reference`` when it is a Monte Carlo
            estimate, same structure, entries ``> 0``; ``None`` for an exact reference.
        credible: credible level in ``(0, 1)``.

    Returns:
        :class:`SurrogateBias`.

    Raises:
        ValueError: leaves of ``surrogate_samples`` with different leading sizes or fewer than
            2 samples; ``credible`` outside ``(0, 1)``; ``reference``/``reference_error`` of the
            wrong structure or shape, non-finite, or non-positive errors; ``reference_error``
            without ``reference``; ``downstream`` returning non-finite values (the message says
            for how many samples).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import surrogate_bias
        >>> slopes = jnp.array([0.9, 1.0, 1.1, 1.2])  # four ensemble members
        >>> res = surrogate_bias(lambda a: a * 2.0, slopes, reference=2.0)
        >>> round(float(res.bias_mean), 4)
        0.1

    References:
        Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., ch. 6.
    """
    if not callable(downstream):
        raise ValueError(f"downstream must be callable, got {type(downstream).__name__}")
    n_samples = _leading_size(surrogate_samples)
    credible = check_probability("credible", credible)
    if reference is None and reference_error is not None:
        raise ValueError("reference_error needs a reference; got reference=None")
    quantities = _quantities(downstream, surrogate_samples)
    leaves = jax.tree.leaves(quantities)
    if not leaves or not all(jnp.issubdtype(q.dtype, jnp.inexact) for q in leaves):
        raise ValueError("downstream must return a pytree of floating-point arrays")
    if all(is_concrete(q) for q in leaves):
        bad = np.zeros(n_samples, dtype=bool)
        for q in leaves:
            bad |= ~np.isfinite(np.asarray(q)).reshape(n_samples, -1).all(axis=1)
        if bad.any():
            raise ValueError(
                f"downstream returned non-finite values for {int(bad.sum())} of {n_samples} "
                f"surrogate samples (first at sample indices {np.flatnonzero(bad)[:5].tolist()})"
            )
    if reference is not None:
        reference = _match_reference("reference", reference, quantities)
    if reference_error is not None:
        reference_error = _match_reference(
            "reference_error", reference_error, quantities, positive=True
        )
    dtype = jnp.result_type(*leaves)
    return _summarise(quantities, reference, reference_error, jnp.asarray(credible, dtype))


@functools.partial(jax.jit, static_argnames=("min_ess",))
def _reweight(observable, action, surrogate_action, credible, *, min_ess):
    n = observable.shape[1]
    obs_axes = (1,) + (1,) * (observable.ndim - 2)
    log_w = -(action - surrogate_action)  # (P, N)
    log_w = log_w - jax.nn.logsumexp(log_w, axis=1, keepdims=True)
    ess = jnp.exp(-jax.nn.logsumexp(2.0 * log_w, axis=1))
    w = jnp.exp(log_w).reshape(log_w.shape + obs_axes[1:])
    naive = jnp.mean(observable, axis=1)
    naive_error = jnp.std(observable, axis=1, ddof=1) / jnp.sqrt(n)
    reweighted = jnp.sum(w * observable, axis=1)
    centred_w = observable - reweighted[:, None]
    reweighted_error = jnp.sqrt(jnp.sum(w**2 * centred_w**2, axis=1))
    influence = (observable - naive[:, None]) - n * w * centred_w
    bias = naive - reweighted
    bias_error = jnp.sqrt(jnp.sum(influence**2, axis=1)) / n
    bias_lower, bias_upper = _equal_tailed(bias, credible)
    return ReweightingBias(
        naive=naive,
        naive_error=naive_error,
        reweighted=reweighted,
        reweighted_error=reweighted_error,
        bias=bias,
        bias_error=bias_error,
        ess=ess,
        reliable=ess >= min_ess,
        bias_mean=jnp.mean(bias, axis=0),
        bias_lower=bias_lower,
        bias_upper=bias_upper,
    )


def reweighting_bias(
    observable: ArrayLike,
    action: ArrayLike,
    surrogate_action: ArrayLike,
    *,
    credible: float = 0.9,
    min_ess: float = 10.0,
) -> ReweightingBias:
    r"""Bias of a surrogate-action Monte Carlo average, estimated by reweighting to the exact one.

    For each posterior sample :math:`\theta_p` of the surrogate, configurations
    :math:`\phi_1..\phi_N` were drawn from :math:`e^{-S_{\theta_p}}`. The exact expectation
    :math:`\langle O\rangle_S` follows from self-normalised importance weights, computed in log
    space (``logsumexp``) so that actions of any magnitude are safe:

    .. math::

        \log \tilde w_i = -(S(\phi_i) - S_{\theta_p}(\phi_i))
            - \operatorname{logsumexp}_j\bigl(-(S(\phi_j) - S_{\theta_p}(\phi_j))\bigr),
        \qquad \widehat{\langle O\rangle}_S = \sum_i \tilde w_i O_i .

    The bias of the naive average is :math:`\bar O - \widehat{\langle O\rangle}_S`; its
    delta-method standard error uses the influence terms
    :math:`\psi_i = (O_i - \bar O) - N \tilde w_i (O_i - \widehat{\langle O\rangle}_S)`,
    :math:`\operatorname{se} = \sqrt{\sum_i \psi_i^2} / N`. The Kish effective sample size
    :math:`1 / \sum_i \tilde w_i^2` measures how many configurations carry the estimate; samples
    with ``ess < min_ess`` are flagged in ``reliable``. The standard errors assume independent
    configurations; for a correlated chain multiply them by :math:`\sqrt{2\tau_\mathrm{int}}`
    (see :func:`edtjax.mcmc.gamma_method`). The credible interval of the bias is the
    equal-tailed interval over posterior samples.

    Cost :math:`O(P N)` per observable entry; jitted, no recompilation for new data of the same
    shapes.

    Args:
        observable: :math:`O(\phi_i)`, shape ``(P, N)`` or ``(P, N, *obs)``.
        action: exact action :math:`S(\phi_i)` (including :math:`\beta`), shape ``(P, N)``.
        surrogate_action: surrogate action :math:`S_{\theta_p}(\phi_i)` the configurations were
            sampled from, shape ``(P, N)``.
        credible: credible level in ``(0, 1)`` for the interval over posterior samples.
        min_ess: effective sample size below which a posterior sample is flagged unreliable.

    Returns:
        :class:`ReweightingBias`.

    Raises:
        ValueError: wrong ranks or mismatched shapes, ``N < 2``, non-finite inputs,
            ``credible`` outside ``(0, 1)`` or ``min_ess < 1``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import reweighting_bias
        >>> obs = jnp.array([[1.0, 2.0, 3.0, 4.0]])
        >>> s_exact = jnp.array([[0.0, 0.0, 0.0, 0.0]])
        >>> res = reweighting_bias(obs, s_exact, s_exact)  # identical actions: no bias
        >>> float(res.bias[0]), float(res.ess[0])
        (0.0, 4.0)

    References:
        Ferrenberg, A. M. and Swendsen, R. H. (1988), Phys. Rev. Lett. 61, 2635;
        Kong, A. (1992), Tech. rep. 348, Univ. of Chicago; Owen, A. B. (2013), Monte Carlo
        theory, methods and examples, ch. 9.
    """
    observable = as_array("observable", observable)
    if observable.ndim < 2:
        raise ValueError(f"observable must have shape (P, N, ...), got {observable.shape}")
    if not jnp.issubdtype(observable.dtype, jnp.inexact):
        observable = observable.astype(jnp.result_type(float))
    action = as_array("action", action, ndim=2)
    surrogate_action = as_array("surrogate_action", surrogate_action, ndim=2)
    for name, arr in (("action", action), ("surrogate_action", surrogate_action)):
        if arr.shape != observable.shape[:2]:
            raise ValueError(
                f"{name} must have shape (P, N) = {observable.shape[:2]} like observable, "
                f"got {arr.shape}"
            )
    if observable.shape[1] < 2:
        raise ValueError(f"observable must hold N >= 2 configurations, got {observable.shape[1]}")
    credible = check_probability("credible", credible)
    min_ess = check_real("min_ess", min_ess, minimum=1.0)
    dtype = jnp.result_type(observable, action, surrogate_action)
    return _reweight(
        observable.astype(dtype),
        action.astype(dtype),
        surrogate_action.astype(dtype),
        jnp.asarray(credible, dtype),
        min_ess=min_ess,
    )
