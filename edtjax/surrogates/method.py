r"""One interface for every surrogate: ``fit(key, x, y, options) -> state`` and
``predict(state, x) -> Predictive``.

A :class:`SurrogateMethod` is a pair of pure functions, like ``optax.GradientTransformation``.
Options are hashable NamedTuples (losses are functions, networks are built from widths and an
activation name), states are pytrees whose static parts (the network, the kernel name) are
hashable by value, so ``jax.jit(method.predict)`` compiles once per state structure and query
shape, and fitting twice with the same options reuses the compiled training loop.

========================  ==================  ==================  ============================
method                    options             state               building blocks
========================  ==================  ==================  ============================
``single_network``        ``NetworkOptions``  ``NetworkState``    ``mlp``, ``fit``
``deep_ensemble``         ``EnsembleOptions`` ``EnsembleState``   ``fit_ensemble``,
                                                                  ``ensemble_predictive``
``mc_dropout``            ``DropoutOptions``  ``DropoutState``    ``fit``,
                                                                  ``mc_dropout_predictive``
``mixture_density``       ``MixtureOptions``  ``NetworkState``    ``mdn``, ``fit``
``gaussian_process``      ``GPOptions``       ``GPState``         ``fit_gp``, ``gp_predict``
``nig_last_layer``        ``NIGOptions``      ``LastLayerState``  ``nig_posterior``,
                                                                  ``nig_predictive``
``mbll_last_layer``       ``MBLLOptions``     ``LastLayerState``  ``mbll_em``,
                                                                  ``mbll_predictive``
``laplace_last_layer``    ``LaplaceOptions``  ``LastLayerState``  ``last_layer_laplace``
``bnn_nuts``              ``NUTSOptions``     ``BNNState``        ``nuts_blackjax``
``bnn_svi``               ``SVIOptions``      ``BNNState``        ``svi_gaussian``
``bnn_penalty``           ``PenaltyOptions``  ``BNNState``        ``pbnn_sample``
``from_apply(apply, p)``  ``None``            ``ModelState``      your ``apply(p, x)``
``from_predict(fn)``      ``None``            ``ModelState``      your ``fn(x)``
========================  ==================  ==================  ============================

Each method's ``fit`` is built from the functions of its module (``fit_ensemble``,
``fit_gp``, ``mbll_em``, ``nuts_blackjax``, ...) and gives the same numbers as calling them
directly. A bad option raises ``ValueError`` naming the field. The last-layer methods can also
be fitted on a network trained elsewhere (e.g. one member of an ensemble) with
:func:`~edtjax.surrogates.fit_last_layer`.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from edtjax.surrogates import (EnsembleOptions, NetworkOptions, TrainingOptions,
    ...                                deep_ensemble, gaussian_nll_loss)
    >>> x = jnp.linspace(-1, 1, 64)[:, None]
    >>> options = EnsembleOptions(
    ...     network=NetworkOptions(hidden=(16,), training=TrainingOptions(
    ...         loss=gaussian_nll_loss, epochs=5)),
    ...     members=3)
    >>> state = deep_ensemble.fit(jax.random.key(0), x, jnp.sin(3 * x), options)
    >>> pred = jax.jit(deep_ensemble.predict)(state, x)
    >>> pred.mean.shape, pred.samples.shape
    ((64, 1), (3, 64, 1))
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_same_length
from edtjax._typing import ArrayLike, PyTree
from edtjax.surrogates.network import MDN, MLP, mlp
from edtjax.surrogates.predictive import Predictive
from edtjax.surrogates.training import TrainingOptions, fit

__all__ = [
    "ModelState",
    "NetworkOptions",
    "NetworkState",
    "SurrogateMethod",
    "check_options",
    "check_xy",
    "from_apply",
    "from_predict",
    "single_network",
    "train_network",
]


class SurrogateMethod(NamedTuple):
    """A surrogate method as a pair of pure functions (see the module docstring).

    Attributes:
        fit: ``fit(key, x, y, options) -> state``; ``x`` of shape ``(n, p)``, ``y`` of shape
            ``(n, d)``, ``options`` the method's hashable options (its default when omitted).
        predict: ``predict(state, x) -> Predictive`` at ``x`` of shape ``(m, p)``; pure, so
            ``jax.jit(method.predict)`` works.
    """

    fit: Callable[..., PyTree]
    predict: Callable[[PyTree, jax.Array], Predictive]


def check_options(options: object, kind: type) -> PyTree:
    """Check the options of a method (for writing your own :class:`SurrogateMethod`).

    Returns ``options`` (``kind()`` for ``None``) after checking that it is a ``kind``, that
    every field is hashable (so ``jit`` can cache by value), that every nested options field
    has its declared type, and that a training loss is a function, not a name.

    Raises:
        ValueError: naming the offending field.

    Example:
        >>> from edtjax.surrogates import EnsembleOptions, NetworkOptions, check_options
        >>> check_options(None, EnsembleOptions).members
        5
        >>> check_options(EnsembleOptions(NetworkOptions(hidden=[8])), EnsembleOptions)
        Traceback (most recent call last):
        ...
        ValueError: hidden must be hashable (a tuple, not a list), got [8]
    """
    if options is None:
        return kind()
    if not isinstance(options, kind):
        raise ValueError(f"options must be {kind.__name__}, got {type(options).__name__}")
    if kind is TrainingOptions and isinstance(options.loss, str):
        raise ValueError(f"loss must be a function (e.g. gaussian_nll_loss), got {options.loss!r}")
    for name in kind._fields:
        value = getattr(options, name)
        default = kind._field_defaults.get(name)
        if hasattr(default, "_fields"):
            if not isinstance(value, type(default)):
                raise ValueError(
                    f"{name} must be a {type(default).__name__}, got {type(value).__name__}"
                )
            check_options(value, type(default))
        try:
            hash(value)
        except TypeError as err:
            raise ValueError(
                f"{name} must be hashable (a tuple, not a list), got {value!r}"
            ) from err
    return options


def check_xy(x: ArrayLike, y: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Training data as arrays: ``x`` of shape ``(n, p)`` and ``y`` of shape ``(n, d)``,
    finite, with as many rows; ``ValueError`` names the bad argument.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.surrogates import check_xy
        >>> check_xy(jnp.zeros((4, 2)), jnp.zeros(4))
        Traceback (most recent call last):
        ...
        ValueError: y must have 2 dimension(s), got shape (4,)
    """
    x = as_array("x", x, ndim=2)
    y = as_array("y", y, ndim=2)
    check_same_length(("x", "y"), x, y)
    return x, y


class NetworkOptions(NamedTuple):
    """A fully connected network and how to train it (hashable).

    Attributes:
        hidden: widths of the hidden layers (a tuple).
        activation: hidden activation name (see :func:`~edtjax.surrogates.mlp`).
        heteroscedastic: whether the network also predicts a variance (then train it with
            :func:`~edtjax.surrogates.gaussian_nll_loss`, the default loss).
        dropout_rate: dropout probability after each hidden layer.
        training: the :class:`~edtjax.surrogates.TrainingOptions` of
            :func:`~edtjax.surrogates.fit` (loss function, epochs, batch size, ...).
    """

    hidden: tuple[int, ...] = (50, 50)
    activation: str = "tanh"
    heteroscedastic: bool = True
    dropout_rate: float = 0.0
    training: TrainingOptions = TrainingOptions()

    def build(self, outputs: int) -> MLP:
        """The network for ``outputs`` outputs; ``ValueError`` names a bad field."""
        check_options(self, NetworkOptions)
        return mlp(
            self.hidden,
            outputs,
            activation=self.activation,
            heteroscedastic=self.heteroscedastic,
            dropout_rate=self.dropout_rate,
        )


@functools.partial(
    jax.tree_util.register_dataclass, data_fields=["params"], meta_fields=["network"]
)
@dataclasses.dataclass(frozen=True)
class NetworkState:
    """A trained network: the network (static, hashable by value) and its parameters.

    Attributes:
        network: the :class:`~edtjax.surrogates.MLP` or :class:`~edtjax.surrogates.MDN`.
        params: its parameter pytree.
    """

    network: MLP | MDN
    params: PyTree


def train_network(
    key: jax.Array, network: MLP | MDN, x: ArrayLike, y: ArrayLike, training: TrainingOptions
) -> NetworkState:
    """Train ``network`` with :func:`~edtjax.surrogates.fit` and the options ``training``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import TrainingOptions, mlp, mse_loss, train_network
        >>> x = jnp.linspace(-1, 1, 16)[:, None]
        >>> state = train_network(jax.random.key(0), mlp((4,)), x, x,
        ...                       TrainingOptions(loss=mse_loss, epochs=2))
        >>> state.network == mlp((4,))
        True
    """
    check_options(training, TrainingOptions)
    return NetworkState(network, fit(key, network, x, y, **training._asdict()).params)


def _fit_single(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: NetworkOptions | None = None
) -> NetworkState:
    options = check_options(options, NetworkOptions)
    x, y = check_xy(x, y)
    return train_network(key, options.build(y.shape[1]), x, y, options.training)


def _predict_single(state: NetworkState, x: ArrayLike) -> Predictive:
    return state.network.apply(state.params, x)


single_network = SurrogateMethod(_fit_single, _predict_single)
"""One network trained by :func:`~edtjax.surrogates.fit` (no epistemic uncertainty): a
heteroscedastic network predicts the aleatoric variance, a point network no variance.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from edtjax.surrogates import NetworkOptions, TrainingOptions, single_network
    >>> x = jnp.linspace(-1, 1, 32)[:, None]
    >>> options = NetworkOptions(hidden=(8,), training=TrainingOptions(epochs=3))
    >>> state = single_network.fit(jax.random.key(0), x, jnp.sin(x), options)
    >>> single_network.predict(state, x).variance.shape
    (32, 1)
"""


class ModelState(NamedTuple):
    """State of a model given as a function (:func:`from_apply`, :func:`from_predict`).

    Attributes:
        params: the parameters passed to ``apply`` (an empty tuple for :func:`from_predict`).
    """

    params: PyTree


def _as_predictive(out: Predictive | tuple[ArrayLike, ArrayLike]) -> Predictive:
    if isinstance(out, Predictive):
        return out
    mean, variance = out
    return Predictive(mean=jnp.asarray(mean), variance=jnp.asarray(variance))


def from_apply(
    apply: Callable[[PyTree, jax.Array], Predictive | tuple[jax.Array, jax.Array]], params: PyTree
) -> SurrogateMethod:
    r"""Wrap a trained model ``apply(params, x)`` as a :class:`SurrogateMethod`.

    ``apply`` is any JAX function returning a :class:`~edtjax.surrogates.Predictive` or a pair
    ``(mean, variance)`` of arrays of shape ``(n, d)``. ``fit`` trains nothing: it checks that
    the model's output matches ``x`` and ``y`` (rows and columns, found with
    ``jax.eval_shape``) and returns a :class:`ModelState` holding ``params``; ``predict``
    calls ``apply``. Options must be ``None``; the key is unused.

    Args:
        apply: ``apply(params, x) -> Predictive | (mean, variance)``.
        params: its parameter pytree.

    Returns:
        A :class:`SurrogateMethod`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import from_apply
        >>> method = from_apply(lambda w, x: (x @ w, jnp.ones((x.shape[0], 1))), jnp.ones((2, 1)))
        >>> x = jnp.ones((4, 2))
        >>> state = method.fit(jax.random.key(0), x, jnp.ones((4, 1)))
        >>> jax.jit(method.predict)(state, x).mean[:, 0]
        Array([2., 2., 2., 2.], dtype=float32)
    """
    if not callable(apply):
        raise ValueError(f"apply must be a function, got {apply!r}")

    def predict(state: ModelState, x: ArrayLike) -> Predictive:
        return _as_predictive(apply(state.params, x))

    def fit_model(key: jax.Array, x: ArrayLike, y: ArrayLike, options: None = None) -> ModelState:
        del key  # nothing to fit
        if options is not None:
            raise ValueError(f"options must be None for a given model, got {options!r}")
        x, y = check_xy(x, y)
        try:
            out = jax.eval_shape(predict, ModelState(params), x)
        except (TypeError, ValueError) as err:
            raise ValueError(
                "apply must return a Predictive or (mean, variance) for inputs of shape "
                f"{x.shape}: {err}"
            ) from err
        for name in ("mean", "variance"):
            value = getattr(out, name)
            if value is not None and value.shape != y.shape:
                raise ValueError(
                    f"apply must return a {name} of shape {y.shape}, got {value.shape}"
                )
        return ModelState(params)

    return SurrogateMethod(fit_model, predict)


def from_predict(
    predict: Callable[[jax.Array], Predictive | tuple[jax.Array, jax.Array]],
) -> SurrogateMethod:
    r"""Wrap a model ``predict(x)`` (no parameters) as a :class:`SurrogateMethod`.

    The same as ``from_apply(lambda params, x: predict(x), ())``: ``predict`` returns a
    :class:`~edtjax.surrogates.Predictive` or ``(mean, variance)`` of shape ``(n, d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import from_predict
        >>> method = from_predict(lambda x: (jnp.sin(x), 0.1 * jnp.ones_like(x)))
        >>> x = jnp.zeros((3, 1))
        >>> state = method.fit(jax.random.key(0), x, x)
        >>> method.predict(state, x).variance.shape
        (3, 1)
    """
    if not callable(predict):
        raise ValueError(f"predict must be a function, got {predict!r}")
    return from_apply(lambda params, x: predict(x), ())
