r"""Bayesian last layers as :class:`~edtjax.surrogates.SurrogateMethod` pairs.

Each method trains one network (:class:`~edtjax.surrogates.NetworkOptions`), then treats its
head as random on the features :math:`\tilde\phi(x) = (\phi(x), 1)` of the last hidden layer
(:func:`~edtjax.surrogates.append_bias`; :func:`last_layer_laplace` adds the bias itself):

* :data:`nig_last_layer`: the conjugate Normal-inverse-gamma posterior
  (:func:`nig_posterior`, prior covariance :math:`I/\delta`), one output;
* :data:`mbll_last_layer`: the multivariate Bayesian last layer with noise covariance and
  prior precision fitted by EM (:func:`mbll_em`);
* :data:`laplace_last_layer`: the last-layer Laplace approximation (:func:`last_layer_laplace`).

:func:`fit_last_layer` fits the same posteriors on a network trained elsewhere, e.g. one
member of a deep ensemble (:func:`~edtjax.surrogates.ensemble_member`). Cost: training the
network plus that of the posterior (see each function).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import check_int, check_real
from edtjax._typing import ArrayLike, PyTree
from edtjax.surrogates.laplace import (
    LastLayerLaplace,
    last_layer_laplace,
    last_layer_laplace_predictive,
)
from edtjax.surrogates.last_layer import (
    MatrixNormalPosterior,
    NIGPosterior,
    mbll_em,
    mbll_predictive,
    nig_posterior,
    nig_predictive,
)
from edtjax.surrogates.method import (
    NetworkOptions,
    NetworkState,
    SurrogateMethod,
    check_options,
    check_xy,
    train_network,
)
from edtjax.surrogates.network import MLP, append_bias
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.training import TrainingOptions, mse_loss

__all__ = [
    "LaplaceOptions",
    "LastLayerState",
    "MBLLOptions",
    "NIGOptions",
    "fit_last_layer",
    "laplace_last_layer",
    "mbll_last_layer",
    "nig_last_layer",
]


class NIGOptions(NamedTuple):
    """Options of :data:`nig_last_layer` (hashable).

    Attributes:
        network: the feature network and its training (a point network trained with
            :func:`~edtjax.surrogates.mse_loss` by default).
        prior_precision: :math:`\\delta > 0`; the prior covariance of the head is
            :math:`I/\\delta`.
        a0: inverse-gamma shape of the noise variance prior.
        b0: inverse-gamma scale of the noise variance prior.
    """

    network: NetworkOptions = NetworkOptions(
        heteroscedastic=False, training=TrainingOptions(loss=mse_loss)
    )
    prior_precision: float = 1.0
    a0: float = 1.0
    b0: float = 1.0


class MBLLOptions(NamedTuple):
    """Options of :data:`mbll_last_layer` (hashable).

    Attributes:
        network: the feature network and its training.
        iterations: EM iterations of :func:`mbll_em`.
        learn_prior_precision: also fit the prior precision by EM.
    """

    network: NetworkOptions = NetworkOptions()
    iterations: int = 200
    learn_prior_precision: bool = True


class LaplaceOptions(NamedTuple):
    """Options of :data:`laplace_last_layer` (hashable).

    Attributes:
        network: the network and its training.
        prior_precision: :math:`\\delta > 0` of the isotropic Gaussian prior on the head.
        noise_variance: the known noise variance of a point network; ``None`` for a
            heteroscedastic network, whose predicted variances are used.
    """

    network: NetworkOptions = NetworkOptions()
    prior_precision: float = 1.0
    noise_variance: float | None = None


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["params", "posterior"],
    meta_fields=["network"],
)
@dataclasses.dataclass(frozen=True)
class LastLayerState:
    """A trained network and the posterior of its head.

    Attributes:
        network: the network (static, hashable by value).
        params: its parameters (the feature map and the trained head).
        posterior: an :class:`NIGPosterior`, a :class:`MatrixNormalPosterior` or a
            :class:`LastLayerLaplace`.
    """

    network: MLP
    params: PyTree
    posterior: NIGPosterior | MatrixNormalPosterior | LastLayerLaplace


def fit_last_layer(
    network: NetworkState,
    x: ArrayLike,
    y: ArrayLike,
    options: NIGOptions | MBLLOptions | LaplaceOptions,
) -> LastLayerState:
    r"""Fit a Bayesian last layer on a trained network; the kind follows the options' type.

    The ``network`` field of ``options`` is not used (the network is given). With
    ``MBLLOptions`` this is ``mbll_em(append_bias(features(x)), y, ...)``; with ``NIGOptions``
    ``nig_posterior(append_bias(features(x)), y[:, 0], prior_cov=I / prior_precision, ...)``;
    with ``LaplaceOptions`` ``last_layer_laplace(net, params, x, ...)``: the same numbers as
    those calls.

    Args:
        network: a trained network with a feature map, e.g.
            :func:`~edtjax.surrogates.ensemble_member` of a deep ensemble.
        x: training inputs, shape ``(n, p)``.
        y: training targets, shape ``(n, d)`` (``d = 1`` for the NIG last layer).
        options: :class:`NIGOptions`, :class:`MBLLOptions` or :class:`LaplaceOptions`.

    Returns:
        A :class:`LastLayerState`; predict with the matching method's ``predict``.

    Raises:
        ValueError: bad data or options (naming the field), or a network without features.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import (MBLLOptions, NetworkState, fit_last_layer,
        ...                                mbll_last_layer, mlp)
        >>> x = jnp.linspace(-1, 1, 32)[:, None]
        >>> net = mlp((8,), 2, heteroscedastic=True)
        >>> trained = NetworkState(net, net.init(jax.random.key(0), x))
        >>> state = fit_last_layer(trained, x, jnp.hstack([x, x**2]), MBLLOptions(iterations=20))
        >>> mbll_last_layer.predict(state, x).variance.shape
        (32, 2)

    References:
        Wang, H., Kawasaki, E., Damblin, G. and Daniel, G. (2024). Multivariate Bayesian last
        layer for regression: uncertainty quantification and disentanglement. arXiv:2405.01761.
        Daxberger, E. et al. (2021). Laplace redux - effortless Bayesian deep learning. NeurIPS.
    """
    if not isinstance(network, NetworkState):
        raise ValueError(f"network must be a NetworkState, got {type(network).__name__}")
    if getattr(network.network, "features", None) is None:
        raise ValueError("network must have a feature map (build it with mlp)")
    if not isinstance(options, NIGOptions | MBLLOptions | LaplaceOptions):
        raise ValueError(
            "options must be a NIGOptions, MBLLOptions or LaplaceOptions, got "
            f"{type(options).__name__}"
        )
    x, y = check_xy(x, y)
    options = _check_last_layer(options, y)
    net, params = network.network, network.params
    if isinstance(options, LaplaceOptions):
        posterior = last_layer_laplace(
            net,
            params,
            x,
            prior_precision=options.prior_precision,
            noise_variance=options.noise_variance,
        )
        return LastLayerState(net, params, posterior)
    phi = append_bias(net.features(params, x))
    if isinstance(options, MBLLOptions):
        posterior, _ = mbll_em(
            phi,
            y,
            iterations=options.iterations,
            learn_prior_precision=options.learn_prior_precision,
        )
        return LastLayerState(net, params, posterior)
    prior_cov = jnp.eye(phi.shape[1], dtype=phi.dtype) / options.prior_precision
    posterior = nig_posterior(phi, y[:, 0], prior_cov=prior_cov, a0=options.a0, b0=options.b0)
    return LastLayerState(net, params, posterior)


def _check_last_layer(
    options: NIGOptions | MBLLOptions | LaplaceOptions, y: jax.Array
) -> NIGOptions | MBLLOptions | LaplaceOptions:
    """Check the options of a last layer (and the columns of ``y``) before any training; a
    ``ValueError`` names the bad field."""
    options = check_options(options, type(options))
    if isinstance(options, MBLLOptions):
        check_int("iterations", options.iterations, minimum=1)
        return options
    check_real("prior_precision", options.prior_precision, minimum=0.0, strict_minimum=True)
    if isinstance(options, NIGOptions):
        if y.shape[1] != 1:
            raise ValueError(f"y must have one column for the NIG last layer, got {y.shape[1]}")
        check_real("a0", options.a0, minimum=0.0, strict_minimum=True)
        check_real("b0", options.b0, minimum=0.0, strict_minimum=True)
    elif options.noise_variance is not None:
        check_real("noise_variance", options.noise_variance, minimum=0.0, strict_minimum=True)
    return options


def _fitter(kind: type):
    def fit(
        key: jax.Array,
        x: ArrayLike,
        y: ArrayLike,
        options: NIGOptions | MBLLOptions | LaplaceOptions | None = None,
    ) -> LastLayerState:
        x, y = check_xy(x, y)
        options = _check_last_layer(check_options(options, kind), y)
        net = options.network.build(y.shape[1])
        trained = train_network(key, net, x, y, options.network.training)
        return fit_last_layer(trained, x, y, options)

    return fit


def _predict_nig(state: LastLayerState, x: ArrayLike) -> Predictive:
    return nig_predictive(state.posterior, append_bias(state.network.features(state.params, x)))


def _predict_mbll(state: LastLayerState, x: ArrayLike) -> Predictive:
    return mbll_predictive(state.posterior, append_bias(state.network.features(state.params, x)))


def _predict_laplace(state: LastLayerState, x: ArrayLike) -> Predictive:
    return last_layer_laplace_predictive(state.network, state.params, state.posterior, x)


nig_last_layer = SurrogateMethod(_fitter(NIGOptions), _predict_nig)
"""Normal-inverse-gamma last layer (Student-t predictive); options :class:`NIGOptions`."""

mbll_last_layer = SurrogateMethod(_fitter(MBLLOptions), _predict_mbll)
"""Multivariate Bayesian last layer fitted by EM; options :class:`MBLLOptions`."""

laplace_last_layer = SurrogateMethod(_fitter(LaplaceOptions), _predict_laplace)
"""Last-layer Laplace approximation (GGN); options :class:`LaplaceOptions`."""
