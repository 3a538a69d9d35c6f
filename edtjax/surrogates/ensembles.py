"""Deep ensembles, MC dropout and mixture density networks, as functions and as
:class:`~edtjax.surrogates.SurrogateMethod` pairs (:data:`deep_ensemble`, :data:`mc_dropout`,
:data:`mixture_density`)."""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from edtjax._checks import as_array, check_int, check_real
from edtjax._sharding import axis_name, device_mesh, pad_rows, padded_size, unpad_rows
from edtjax._typing import ArrayLike, Devices, PRNGKey, PyTree
from edtjax.surrogates.method import (
    NetworkOptions,
    NetworkState,
    SurrogateMethod,
    check_options,
    check_xy,
    single_network,
    train_network,
)
from edtjax.surrogates.network import MLP, Surrogate, mdn
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.training import TrainingOptions, TrainResult, fit, mixture_nll_loss

__all__ = [
    "DropoutOptions",
    "DropoutState",
    "EnsembleOptions",
    "EnsembleState",
    "MixtureOptions",
    "deep_ensemble",
    "ensemble_member",
    "ensemble_predictive",
    "fit_ensemble",
    "mc_dropout",
    "mc_dropout_predictive",
    "mixture_density",
]


@functools.partial(jax.jit, static_argnames=("mesh", "surrogate", "static"))
def _fit_members(
    keys, x, y, params, learning_rate, *, mesh: Mesh, surrogate: Surrogate | MLP, static: tuple
) -> TrainResult:
    """Train one member per key with :func:`fit`, the keys (padded with copies of the last)
    split over ``mesh``; ``static`` holds fit's keyword arguments other than the (traced)
    ``learning_rate``."""
    members = keys.shape[0]
    rows = PartitionSpec(axis_name(mesh))

    def train_block(
        keys: PRNGKey, x: ArrayLike, y: ArrayLike, params: PyTree, lr: ArrayLike
    ) -> PyTree:
        def member(k: PRNGKey) -> PyTree:
            return fit(k, surrogate, x, y, learning_rate=lr, params=params, **dict(static))

        return jax.vmap(member)(keys)

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
    surrogate: Surrogate | MLP,
    x: ArrayLike,
    y: ArrayLike,
    members: int = 5,
    *,
    devices: Devices = None,
    **fit_kwargs,
) -> TrainResult:
    r"""Train a deep ensemble: ``members`` independent runs of :func:`~edtjax.surrogates.fit`,
    vmapped over keys.

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
    :func:`~edtjax.surrogates.fit` and a member of a one-device ensemble). Measured with a
    32-32 MLP on 256 rows: parameters agree to ``5e-7`` after 50 epochs and to ``1e-2`` after
    100. The result comes back sharded over the devices when their number divides
    ``members``, replicated otherwise.
    This path is one jitted program: a second call with new data of the same shapes does not
    recompile.

    Cost: ``members`` times that of :func:`~edtjax.surrogates.fit`, in one pass, divided
    among ``k`` devices as ``ceil(members / k)`` members each. On a CPU the member axis makes
    every matrix product, sort and gather of the loop a batched operation that XLA's CPU
    backend runs one member at a time, at about the cost of that member's own operation: the
    one program saves only the fixed cost of launching each operation, so it is little faster
    than a Python loop calling :func:`~edtjax.surrogates.fit` once per key. Measured on a
    2-core CPU (process CPU time, n = 512, minibatch 32, 50 epochs, best of 5): 1.04x such a
    loop with 5 members and 1.17x with 10 for a 2x50 tanh network, 1.0x to 1.5x for 2x8 to
    2x50 networks with 5 to 20 members (``benchmarks/ensembles.py --sweep``).

    Args:
        key: PRNG key, split into one key per member.
        surrogate: the network (usually heteroscedastic, trained with
            :func:`~edtjax.surrogates.gaussian_nll_loss`).
        x: inputs, shape ``(n, p)``.
        y: targets, shape ``(n, d)``.
        members: ensemble size.
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: the devices to
            split the members over.
        **fit_kwargs: the keyword arguments of :func:`~edtjax.surrogates.fit` (``loss``,
            ``epochs``, ``learning_rate``, ..., ``params``).

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
    params = fit_kwargs.pop("params", None)
    options = TrainingOptions(**fit_kwargs)._asdict()
    keys = jax.random.split(key, members)
    if mesh is None:
        return jax.vmap(lambda k: fit(k, surrogate, x, y, params=params, **options))(keys)
    # fit sees traced data and learning rate inside the compiled program: check them here
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    learning_rate = check_real(
        "learning_rate", options.pop("learning_rate"), minimum=0.0, strict_minimum=True
    )
    static = tuple(sorted(options.items()))
    return _fit_members(
        keys, x, y, params, learning_rate, mesh=mesh, surrogate=surrogate, static=static
    )


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
    surrogate: Surrogate, params: PyTree, x: ArrayLike, *, devices: Devices = None
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
    key: jax.Array, surrogate: Surrogate, params: PyTree, x: ArrayLike, samples: int = 100
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


class EnsembleOptions(NamedTuple):
    """Options of :data:`deep_ensemble` (hashable).

    Attributes:
        network: the members' architecture and training (:class:`NetworkOptions`).
        members: ensemble size.
        devices: ``None``, a device count, a tuple of devices or a one-axis mesh to split the
            members (training) and the query points (prediction) over; see
            :func:`fit_ensemble`.
    """

    network: NetworkOptions = NetworkOptions()
    members: int = 5
    devices: int | tuple | Mesh | None = None


@functools.partial(
    jax.tree_util.register_dataclass, data_fields=["params"], meta_fields=["network", "devices"]
)
@dataclasses.dataclass(frozen=True)
class EnsembleState:
    """A trained deep ensemble.

    Attributes:
        network: the members' network (static, hashable by value).
        params: member parameters with a leading member axis.
        devices: the ``devices`` option (static).
    """

    network: MLP
    params: PyTree
    devices: int | tuple | Mesh | None


def _fit_deep_ensemble(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: EnsembleOptions | None = None
) -> EnsembleState:
    options = check_options(options, EnsembleOptions)
    if not (options.devices is None or isinstance(options.devices, int | tuple | Mesh)):
        raise ValueError(
            "devices must be None, an int, a tuple of devices or a Mesh (hashable), got "
            f"{type(options.devices).__name__}"
        )
    x, y = check_xy(x, y)
    net = options.network.build(y.shape[1])
    training = options.network.training._asdict()
    res = fit_ensemble(key, net, x, y, options.members, devices=options.devices, **training)
    return EnsembleState(net, res.params, options.devices)


def _predict_deep_ensemble(state: EnsembleState, x: ArrayLike) -> Predictive:
    return ensemble_predictive(state.network, state.params, x, devices=state.devices)


deep_ensemble = SurrogateMethod(_fit_deep_ensemble, _predict_deep_ensemble)
"""Deep ensemble (:func:`fit_ensemble` then :func:`ensemble_predictive`); options
:class:`EnsembleOptions`, state :class:`EnsembleState`. Example: see
:mod:`edtjax.surrogates.method`."""


def ensemble_member(state: EnsembleState, index: int) -> NetworkState:
    """Member ``index`` of a trained ensemble as a :class:`NetworkState` (e.g. the network a
    Bayesian last layer is fitted on with :func:`~edtjax.surrogates.fit_last_layer`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import (EnsembleOptions, NetworkOptions, TrainingOptions,
        ...                                deep_ensemble, ensemble_member)
        >>> x = jnp.linspace(-1, 1, 32)[:, None]
        >>> options = EnsembleOptions(NetworkOptions((8,), training=TrainingOptions(epochs=2)),
        ...                           members=2)
        >>> first = ensemble_member(deep_ensemble.fit(jax.random.key(0), x, x, options), 0)
        >>> first.params["head"]["kernel"].shape
        (8, 2)
    """
    members = jax.tree.leaves(state.params)[0].shape[0]
    index = check_int("index", index, minimum=0, maximum=members - 1)
    return NetworkState(state.network, jax.tree.map(lambda p: p[index], state.params))


class DropoutOptions(NamedTuple):
    """Options of :data:`mc_dropout` (hashable).

    Attributes:
        network: the architecture and training; ``dropout_rate`` must be positive.
        samples: stochastic forward passes per prediction (>= 2).
    """

    network: NetworkOptions = NetworkOptions(dropout_rate=0.1)
    samples: int = 100


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["params", "key"],
    meta_fields=["network", "samples"],
)
@dataclasses.dataclass(frozen=True)
class DropoutState:
    """A network trained with dropout and the key of its prediction-time masks.

    Attributes:
        network: the network (static).
        params: its parameters.
        key: PRNG key of the dropout masks used by ``predict`` (the same masks on every call,
            so ``predict`` is a deterministic function of the state).
        samples: stochastic forward passes per prediction (static).
    """

    network: MLP
    params: PyTree
    key: jax.Array
    samples: int


def _fit_mc_dropout(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: DropoutOptions | None = None
) -> DropoutState:
    options = check_options(options, DropoutOptions)
    samples = check_int("samples", options.samples, minimum=2)
    x, y = check_xy(x, y)
    net = options.network.build(y.shape[1])
    if net.dropout_rate == 0.0:
        raise ValueError("network.dropout_rate must be > 0 for MC dropout")
    k_train, k_predict = jax.random.split(key)
    trained = train_network(k_train, net, x, y, options.network.training)
    return DropoutState(net, trained.params, k_predict, samples)


def _predict_mc_dropout(state: DropoutState, x: ArrayLike) -> Predictive:
    return mc_dropout_predictive(state.key, state.network, state.params, x, state.samples)


mc_dropout = SurrogateMethod(_fit_mc_dropout, _predict_mc_dropout)
"""Monte Carlo dropout (:func:`~edtjax.surrogates.fit` with dropout active, then
:func:`mc_dropout_predictive`); options :class:`DropoutOptions`, state :class:`DropoutState`.
``fit`` splits its key into the training key and the key of the prediction masks."""


class MixtureOptions(NamedTuple):
    """Options of :data:`mixture_density` (hashable).

    Attributes:
        hidden: hidden layer widths (a tuple).
        activation: hidden activation name.
        components: number of mixture components.
        training: the training options; the loss is :func:`mixture_nll_loss` by default.
    """

    hidden: tuple[int, ...] = (50, 50)
    activation: str = "tanh"
    components: int = 3
    training: TrainingOptions = TrainingOptions(loss=mixture_nll_loss)


def _fit_mixture_density(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: MixtureOptions | None = None
) -> NetworkState:
    options = check_options(options, MixtureOptions)
    x, y = check_xy(x, y)
    net = mdn(options.hidden, y.shape[1], options.components, activation=options.activation)
    return train_network(key, net, x, y, options.training)


mixture_density = SurrogateMethod(_fit_mixture_density, single_network.predict)
"""Mixture density network (:func:`~edtjax.surrogates.mdn` trained by
:func:`~edtjax.surrogates.fit`); options :class:`MixtureOptions`, state
:class:`~edtjax.surrogates.NetworkState`."""
