"""Deep ensembles, MC dropout and mixture density networks."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from edtjax._checks import as_array, check_choice, check_int
from edtjax._sharding import axis_name, device_mesh, pad_rows, padded_size, unpad_rows
from edtjax.surrogates.network import _ACTIVATIONS, _MIN_VARIANCE, Surrogate
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.training import TrainResult, _fit, _fit_arguments, fit

__all__ = ["ensemble_predictive", "fit_ensemble", "mc_dropout_predictive", "mdn"]


@functools.partial(jax.jit, static_argnames=("mesh", "static"))
def _fit_members(keys, x, y, params, learning_rate, *, mesh: Mesh, static: tuple) -> TrainResult:
    """Train one member per key, the keys (padded with copies of the last) split over ``mesh``."""
    members = keys.shape[0]
    rows = PartitionSpec(axis_name(mesh))

    def train_block(keys, x, y, params, lr):
        return jax.vmap(lambda k: _fit(k, x, y, params, lr, **dict(static)))(keys)

    # check_vma=False: the training loop's carry starts from replicated values (optimizer
    # state, loss history) and becomes per-member; every output is per-member (``rows``).
    train = jax.shard_map(
        train_block,
        mesh=mesh,
        in_specs=(rows, PartitionSpec(), PartitionSpec(), PartitionSpec(), PartitionSpec()),
        out_specs=rows,
        check_vma=False,
    )
    result = train(pad_rows(keys, padded_size(members, mesh)), x, y, params, learning_rate)
    return unpad_rows(result, members)


def fit_ensemble(
    key: jax.Array,
    surrogate: Surrogate,
    x: Any,
    y: Any,
    members: int = 5,
    *,
    devices: Any = None,
    **fit_kwargs,
) -> TrainResult:
    r"""Train a deep ensemble: ``members`` independent runs of :func:`fit`, vmapped over keys.

    Each member gets its own initialisation, validation split, shuffling and dropout stream
    (Lakshminarayanan, Pritzel & Blundell 2017); all members train in one compiled program, in
    parallel along a leading member axis. Member ``m`` is trained with
    ``jax.random.split(key, members)[m]`` whatever the devices.

    Scale: with ``devices`` (a count, a list of devices or a one-axis mesh) the members are
    split over the devices with :func:`jax.shard_map`, each device training its block of
    members; ``members`` not divisible by the device count is padded with copies of the last
    member, dropped from the result. Each member runs the same algorithm with the same key as
    with ``devices=None``, but the batched matrix products round differently for a different
    number of members per device; gradient descent amplifies these last-bit differences over
    many epochs and early stopping may then keep a neighbouring epoch (the same happens between
    :func:`fit` and a member of a one-device ensemble). Measured with a 32-32 MLP on 256 rows:
    parameters agree to ``5e-7`` after 50 epochs and to ``1e-2`` after 100. The result comes
    back sharded over the devices when their number divides ``members``, replicated otherwise.
    This path is one jitted program: a second call with new data of the same shapes does not
    recompile.

    Cost: ``members`` times that of :func:`fit`, in one pass, divided among ``k`` devices as
    ``ceil(members / k)`` members each.

    Args:
        key: PRNG key, split into one key per member.
        surrogate: the network (usually heteroscedastic, trained with ``"gaussian_nll"``).
        x: inputs, shape ``(n, p)``.
        y: targets, shape ``(n, d)``.
        members: ensemble size.
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: the devices to
            split the members over.
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
        >>> res_all = fit_ensemble(jax.random.key(0), net, x, jnp.sin(3 * x), members=3,
        ...                        epochs=5, devices=len(jax.devices()))
        >>> res_all.train_loss.shape
        (3, 5)

    References:
        Lakshminarayanan, B., Pritzel, A. and Blundell, C. (2017). Simple and scalable
        predictive uncertainty estimation using deep ensembles. NeurIPS 30.
    """
    members = check_int("members", members, minimum=1)
    mesh = device_mesh(devices)
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    keys = jax.random.split(key, members)
    if mesh is None:
        return jax.vmap(lambda k: fit(k, surrogate, x, y, **fit_kwargs))(keys)
    bound = inspect.signature(fit).bind(key, surrogate, x, y, **fit_kwargs)
    bound.apply_defaults()
    arguments = {k: v for k, v in bound.arguments.items() if k != "key"}
    args, static = _fit_arguments(**arguments)
    return _fit_members(keys, *args, mesh=mesh, static=tuple(sorted(static.items())))


def _moments(means, variances):
    """Moments of an equally weighted mixture of members (axis 0)."""
    mean = jnp.mean(means, axis=0)
    epistemic = jnp.mean((means - mean) ** 2, axis=0)
    if variances is None:
        return Predictive(mean=mean, variance=epistemic, samples=means)
    aleatoric = jnp.mean(variances, axis=0)
    return Predictive(mean=mean, variance=aleatoric + epistemic, samples=means, aleatoric=aleatoric)


def _member_moments(surrogate, params, x):
    preds = jax.vmap(lambda p: surrogate.apply(p, x))(params)
    return _moments(preds.mean, preds.variance)


@functools.partial(jax.jit, static_argnames=("surrogate", "mesh"))
def _sharded_predictive(params, x, *, surrogate: Surrogate, mesh: Mesh) -> Predictive:
    """:func:`ensemble_predictive` with the (padded) query rows split over ``mesh``."""
    n = x.shape[0]
    axis = axis_name(mesh)
    rows = PartitionSpec(axis)
    specs = Predictive(mean=rows, variance=rows, samples=PartitionSpec(None, axis), aleatoric=rows)
    pred = jax.shard_map(
        functools.partial(_member_moments, surrogate),
        mesh=mesh,
        in_specs=(PartitionSpec(), rows),
        out_specs=specs,
    )(params, pad_rows(x, padded_size(n, mesh)))
    return pred._replace(
        mean=unpad_rows(pred.mean, n),
        variance=unpad_rows(pred.variance, n),
        samples=unpad_rows(pred.samples, n, axis=1),
        aleatoric=unpad_rows(pred.aleatoric, n),
    )


def ensemble_predictive(
    surrogate: Surrogate, params: Any, x: Any, *, devices: Any = None
) -> Predictive:
    r"""Predictive of a deep ensemble as the uniform mixture of its members.

    :math:`\mu_* = \frac1M\sum_m\mu_m`, :math:`\sigma_*^2 = \frac1M\sum_m(\sigma_m^2+\mu_m^2)
    - \mu_*^2`, split into aleatoric :math:`\frac1M\sum_m\sigma_m^2` and epistemic
    :math:`\frac1M\sum_m(\mu_m-\mu_*)^2`; ``samples`` holds the member means ``(M, n, d)``.
    Cost: ``M`` forward passes, vmapped; with ``devices``, the ``n`` query points are split
    over ``k`` devices (``ceil(n / k)`` each, the last point repeated as padding and dropped
    after), every device holding all members.

    With ``devices`` the computation is one jitted program (``surrogate`` static: reuse the
    same object to avoid recompiling) whose result equals ``jax.jit(ensemble_predictive)``
    bitwise when each query point's arithmetic does not depend on how many points are batched
    together, and the un-jitted ``devices=None`` result to floating-point rounding (the
    compiler fuses operations). Outputs come back sharded along the query axis when ``k``
    divides ``n``, replicated otherwise.

    Args:
        surrogate: the network the members share.
        params: member parameters with a leading member axis (``fit_ensemble(...).params``).
        x: inputs, shape ``(n, p)``.
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: the devices to
            split the query points over.

    Returns:
        A :class:`Predictive`.

    Example:
        See :func:`fit_ensemble`.

    References:
        Lakshminarayanan, B., Pritzel, A. and Blundell, C. (2017). NeurIPS 30, Sec. 2.4.
    """
    mesh = device_mesh(devices)
    if mesh is None:
        return _member_moments(surrogate, params, x)
    x = as_array("x", x, ndim=2)
    return _sharded_predictive(params, x, surrogate=surrogate, mesh=mesh)


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
