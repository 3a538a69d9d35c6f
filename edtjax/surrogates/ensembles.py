"""Deep ensembles, MC dropout and mixture density networks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_choice, check_int
from edtjax.surrogates.network import _ACTIVATIONS, _MIN_VARIANCE, Surrogate
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.training import TrainResult, fit

__all__ = ["ensemble_predictive", "fit_ensemble", "mc_dropout_predictive", "mdn"]


def fit_ensemble(
    key: jax.Array, surrogate: Surrogate, x: Any, y: Any, members: int = 5, **fit_kwargs
) -> TrainResult:
    r"""Train a deep ensemble: ``members`` independent runs of :func:`fit`, vmapped over keys.

    Each member gets its own initialisation, validation split, shuffling and dropout stream
    (Lakshminarayanan, Pritzel & Blundell 2017); all members train in one compiled program, in
    parallel along a leading member axis (shard that axis to spread members over devices).
    Cost: ``members`` times that of :func:`fit`, in one pass.

    Args:
        key: PRNG key, split into one key per member.
        surrogate: the network (usually heteroscedastic, trained with ``"gaussian_nll"``).
        x: inputs, shape ``(n, p)``.
        y: targets, shape ``(n, d)``.
        members: ensemble size.
        **fit_kwargs: passed to :func:`fit` (``loss``, ``epochs``, ``learning_rate``, ...).

    Returns:
        A :class:`TrainResult` whose leaves have a leading axis of size ``members``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import ensemble_predictive, fit_ensemble, mlp
        >>> x = jnp.linspace(-1, 1, 64)[:, None]
        >>> net = mlp((8,), 1, heteroscedastic=True)
        >>> res = fit_ensemble(jax.random.key(0), net, x, jnp.sin(3 * x), members=3, epochs=5)
        >>> pred = ensemble_predictive(net, res.params, x)

    References:
        Lakshminarayanan, B., Pritzel, A. and Blundell, C. (2017). Simple and scalable
        predictive uncertainty estimation using deep ensembles. NeurIPS 30.
    """
    members = check_int("members", members, minimum=1)
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    keys = jax.random.split(key, members)
    return jax.vmap(lambda k: fit(k, surrogate, x, y, **fit_kwargs))(keys)


def _moments(means, variances):
    """Moments of an equally weighted mixture of members (axis 0)."""
    mean = jnp.mean(means, axis=0)
    epistemic = jnp.mean((means - mean) ** 2, axis=0)
    if variances is None:
        return Predictive(mean=mean, variance=epistemic, samples=means)
    aleatoric = jnp.mean(variances, axis=0)
    return Predictive(mean=mean, variance=aleatoric + epistemic, samples=means, aleatoric=aleatoric)


def ensemble_predictive(surrogate: Surrogate, params: Any, x: Any) -> Predictive:
    r"""Predictive of a deep ensemble as the uniform mixture of its members.

    :math:`\mu_* = \frac1M\sum_m\mu_m`, :math:`\sigma_*^2 = \frac1M\sum_m(\sigma_m^2+\mu_m^2)
    - \mu_*^2`, split into aleatoric :math:`\frac1M\sum_m\sigma_m^2` and epistemic
    :math:`\frac1M\sum_m(\mu_m-\mu_*)^2`; ``samples`` holds the member means ``(M, n, d)``.
    Cost: ``M`` forward passes, vmapped.

    Args:
        surrogate: the network the members share.
        params: member parameters with a leading member axis (``fit_ensemble(...).params``).
        x: inputs, shape ``(n, p)``.

    Returns:
        A :class:`Predictive`.

    Example:
        See :func:`fit_ensemble`.

    References:
        Lakshminarayanan, B., Pritzel, A. and Blundell, C. (2017). NeurIPS 30, Sec. 2.4.
    """
    preds = jax.vmap(lambda p: surrogate.apply(p, x))(params)
    return _moments(preds.mean, preds.variance)


def mc_dropout_predictive(
    key: jax.Array, surrogate: Surrogate, params: Any, x: Any, samples: int = 100
) -> Predictive:
    r"""Monte Carlo dropout predictive (Gal & Ghahramani 2016).

    Runs ``samples`` stochastic forward passes with independent dropout masks (vmapped over
    keys) and returns the moments of the resulting mixture, as :func:`ensemble_predictive`
    does. The network must have ``dropout_rate > 0``. Cost: ``samples`` forward passes.

    Args:
        key: PRNG key for the dropout masks.
        surrogate: a network built with ``mlp(..., dropout_rate=r)``.
        params: its parameters.
        x: inputs, shape ``(n, p)``.
        samples: number of stochastic passes.

    Returns:
        A :class:`Predictive` with ``samples`` of shape ``(samples, n, d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import mc_dropout_predictive, mlp
        >>> net = mlp((32,), 1, dropout_rate=0.1)
        >>> x = jnp.ones((4, 2))
        >>> pred = mc_dropout_predictive(jax.random.key(1), net, net.init(jax.random.key(0), x), x)

    References:
        Gal, Y. and Ghahramani, Z. (2016). Dropout as a Bayesian approximation: representing
        model uncertainty in deep learning. ICML.
    """
    samples = check_int("samples", samples, minimum=2)
    keys = jax.random.split(key, samples)
    preds = jax.vmap(lambda k: surrogate.apply(params, x, k))(keys)
    return _moments(preds.mean, preds.variance)


class _MDN(nn.Module):
    hidden: tuple[int, ...]
    outputs: int
    components: int
    activation: str

    @nn.compact
    def __call__(self, x):
        act = _ACTIVATIONS[self.activation]
        for i, h in enumerate(self.hidden):
            x = act(nn.Dense(h, name=f"hidden_{i}")(x))
        k, d = self.components, self.outputs
        logits = nn.Dense(k, name="logits")(x)
        means = nn.Dense(k * d, name="means")(x).reshape(*x.shape[:-1], k, d)
        raw = nn.Dense(k * d, name="scales")(x).reshape(*x.shape[:-1], k, d)
        return logits, means, jax.nn.softplus(raw) + _MIN_VARIANCE


def mdn(
    hidden: Sequence[int], outputs: int = 1, components: int = 3, *, activation: str = "tanh"
) -> Surrogate:
    r"""Mixture density network (Bishop 1994) as a :class:`Surrogate`.

    The conditional density is :math:`p(y\mid x) = \sum_{k=1}^K\pi_k(x)\,
    \mathcal N(y;\mu_k(x),\mathrm{diag}\,\sigma_k^2(x))` for ``d``-dimensional ``y``, with
    :math:`\pi = \mathrm{softmax}` of the logits and :math:`\sigma_k^2 = \mathrm{softplus} +
    10^{-6}`. ``apply`` returns a :class:`Predictive` with the mixture moments
    (:math:`\mu = \sum_k\pi_k\mu_k`, :math:`\sigma^2 = \sum_k\pi_k(\sigma_k^2+\mu_k^2)-\mu^2`)
    and ``mixture=(logits, means, variances)``. Train it with ``fit(..., loss="mixture_nll")``.
    Cost per input: that of the MLP plus :math:`O(hKd)` for the heads.

    Args:
        hidden: hidden layer widths.
        outputs: output dimension ``d``.
        components: number of mixture components ``K``.
        activation: hidden activation (as in :func:`mlp`).

    Returns:
        A :class:`Surrogate`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import mdn
        >>> net = mdn((16,), outputs=2, components=3)
        >>> x = jnp.ones((5, 1))
        >>> pred = net.apply(net.init(jax.random.key(0), x), x)
        >>> pred.mixture[1].shape
        (5, 3, 2)

    References:
        Bishop, C. M. (1994). Mixture density networks. Technical report NCRG/94/004, Aston
        University.
    """
    hidden = tuple(check_int("hidden", int(h), minimum=1) for h in hidden)
    if not hidden:
        raise ValueError("hidden must name at least one layer width")
    outputs = check_int("outputs", outputs, minimum=1)
    components = check_int("components", components, minimum=1)
    check_choice("activation", activation, sorted(_ACTIVATIONS))
    module = _MDN(hidden, outputs, components, activation)

    def init(key, x):
        return module.init(key, jnp.asarray(x))["params"]

    def apply(params, x, key=None):
        logits, means, variances = module.apply({"params": params}, jnp.asarray(x))
        w = jax.nn.softmax(logits, axis=-1)[..., None]
        mean = jnp.sum(w * means, axis=-2)
        second = jnp.sum(w * (variances + means**2), axis=-2)
        aleatoric = jnp.sum(w * variances, axis=-2)
        return Predictive(
            mean=mean,
            variance=second - mean**2,
            aleatoric=aleatoric,
            mixture=(logits, means, variances),
        )

    return Surrogate(init=init, apply=apply)
