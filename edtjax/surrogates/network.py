"""Networks as pure ``(init, apply, features)`` triples over a flax parameter pytree.

:func:`mlp` and :func:`mdn` return frozen dataclasses (:class:`MLP`, :class:`MDN`) that compare
and hash by value: two ``mlp((64, 64), 1)`` calls give equal objects, so a jitted function
taking the network as a static argument (the training loop, the ensemble predictive) compiles
once per architecture, not once per call. The layers are flax ``linen`` modules used through
their functional ``init``/``apply``: parameters are plain nested dicts (``{"hidden_0":
{"kernel", "bias"}, ..., "head": ...}``) that cross ``jit``/``vmap``/``grad`` and that
:func:`edtjax.sensitivity.parameter_sensitivity` groups by layer. (``flax.nnx`` modules are
stateful objects; the linen functional API gives the pure-function contract directly and keeps
the initialisation of every trained model unchanged.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from edtjax._checks import check_choice, check_int, check_real
from edtjax._typing import ArrayLike, PRNGKey, PyTree
from edtjax.surrogates.predictive import Predictive

__all__ = ["MDN", "MLP", "Surrogate", "append_bias", "mdn", "mlp"]

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
}

_MIN_VARIANCE = 1e-6


class Surrogate(NamedTuple):
    """A network given by your own pure functions (like ``optax.GradientTransformation``).

    :class:`MLP` and :class:`MDN` offer the same three attributes; every function taking a
    network accepts either. Jitted functions take the network as a static argument, so pass
    the same ``Surrogate`` object on every call (functions compare by identity).

    Attributes:
        init: ``init(key, x) -> params``; builds the parameter pytree for inputs shaped like
            ``x`` (``(n, p)``).
        apply: ``apply(params, x, key=None) -> Predictive``; the prediction at ``x``. ``key``
            drives stochastic layers (dropout); with ``key=None`` the network is deterministic.
        features: ``features(params, x) -> (n, h)``; the last hidden layer (the feature map a
            Bayesian last layer or a last-layer Laplace approximation builds on), or ``None``.
    """

    init: Callable[[PRNGKey, jax.Array], PyTree]
    apply: Callable[..., Predictive]
    features: Callable[..., jax.Array] | None = None


def append_bias(features: jax.Array) -> jax.Array:
    r"""Append a column of ones to a feature matrix: :math:`\tilde\phi = (\phi, 1)`, shape
    ``(n, h + 1)``, the regressors of a Bayesian last layer with an intercept.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.surrogates import append_bias
        >>> append_bias(jnp.zeros((3, 2))).shape
        (3, 3)
    """
    return jnp.concatenate([features, jnp.ones((features.shape[0], 1), features.dtype)], axis=1)


def _check_layers(hidden: Sequence[int], activation: str) -> tuple[int, ...]:
    widths = tuple(check_int("hidden", int(h), minimum=1) for h in hidden)
    if not widths:
        raise ValueError("hidden must name at least one layer width")
    check_choice("activation", activation, sorted(_ACTIVATIONS))
    return widths


class _MLP(nn.Module):
    hidden: tuple[int, ...]
    outputs: int
    activation: str
    dropout_rate: float

    def setup(self) -> None:
        self.layers = [nn.Dense(h, name=f"hidden_{i}") for i, h in enumerate(self.hidden)]
        self.head = nn.Dense(self.outputs, name="head")
        self.dropout = nn.Dropout(self.dropout_rate)

    def body(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
        act = _ACTIVATIONS[self.activation]
        for layer in self.layers:
            x = act(layer(x))
            if self.dropout_rate > 0.0:
                x = self.dropout(x, deterministic=deterministic)
        return x

    def __call__(self, x, deterministic: bool = True):
        return self.head(self.body(x, deterministic))


@dataclasses.dataclass(frozen=True)
class MLP:
    r"""A fully connected network, hashable by value (built by :func:`mlp`).

    Attributes:
        hidden: widths of the hidden layers.
        outputs: number of outputs ``d``.
        activation: hidden activation name.
        heteroscedastic: whether the head also predicts a variance.
        dropout_rate: dropout probability after each hidden layer.
    """

    hidden: tuple[int, ...]
    outputs: int = 1
    activation: str = "tanh"
    heteroscedastic: bool = False
    dropout_rate: float = 0.0

    def __post_init__(self):
        rate = check_real("dropout_rate", self.dropout_rate, minimum=0.0, maximum=1.0)
        if rate >= 1.0:
            raise ValueError(f"dropout_rate must be < 1, got {rate}")
        object.__setattr__(self, "hidden", _check_layers(self.hidden, self.activation))
        object.__setattr__(self, "outputs", check_int("outputs", self.outputs, minimum=1))
        object.__setattr__(self, "heteroscedastic", bool(self.heteroscedastic))
        object.__setattr__(self, "dropout_rate", float(rate))

    @property
    def _module(self) -> _MLP:
        width = 2 * self.outputs if self.heteroscedastic else self.outputs
        return _MLP(self.hidden, width, self.activation, self.dropout_rate)

    def init(self, key: jax.Array, x: ArrayLike) -> PyTree:
        """Parameters for inputs shaped like ``x`` (``(n, p)``)."""
        return self._module.init(key, jnp.asarray(x))["params"]

    def apply(self, params: PyTree, x: ArrayLike, key: jax.Array | None = None) -> Predictive:
        """The prediction at ``x``; ``key`` drives dropout (``None``: deterministic)."""
        x = jnp.asarray(x)
        if key is None or self.dropout_rate == 0.0:
            out = self._module.apply({"params": params}, x)
        else:
            out = self._module.apply({"params": params}, x, False, rngs={"dropout": key})
        if self.heteroscedastic:
            mean, raw = out[..., : self.outputs], out[..., self.outputs :]
            return Predictive(mean=mean, variance=jax.nn.softplus(raw) + _MIN_VARIANCE)
        return Predictive(mean=out)

    def features(self, params: PyTree, x: ArrayLike) -> jax.Array:
        """The last hidden layer at ``x``, shape ``(n, hidden[-1])``."""
        return self._module.apply({"params": params}, jnp.asarray(x), method=_MLP.body)


def mlp(
    hidden: Sequence[int],
    outputs: int = 1,
    *,
    activation: str = "tanh",
    heteroscedastic: bool = False,
    dropout_rate: float = 0.0,
) -> MLP:
    r"""Build a fully connected network as an :class:`MLP` (hashable by value).

    The network maps :math:`x \in \mathbb{R}^p` through ``len(hidden)`` layers
    :math:`h_{l} = \sigma(W_l h_{l-1} + b_l)` (with inverted dropout after each when
    ``dropout_rate > 0`` and a key is given) to a linear head. A heteroscedastic network has
    ``2 d`` head outputs, the mean :math:`\mu(x)` and :math:`\sigma^2(x) = \mathrm{softplus}(s(x))
    + 10^{-6}`, and is trained with the Gaussian negative log-likelihood (Nix & Weigend 1994);
    otherwise ``apply`` returns a point prediction (``variance=None``). Equal arguments give
    equal (and equally hashed) networks, so jitted functions that take the network as a static
    argument do not recompile for a network built again with the same arguments.

    Cost: :math:`O(n \sum_l h_{l-1} h_l)` per call for ``n`` inputs.

    Args:
        hidden: widths of the hidden layers, e.g. ``(50, 50)``.
        outputs: number of outputs ``d``.
        activation: one of ``"tanh"``, ``"relu"``, ``"gelu"``, ``"silu"``, ``"softplus"``.
        heteroscedastic: if true, also predict an input-dependent variance.
        dropout_rate: dropout probability in ``[0, 1)`` after each hidden layer (MC dropout).

    Returns:
        An :class:`MLP` whose ``apply(params, x, key=None)`` returns a
        :class:`~edtjax.surrogates.Predictive` with ``mean`` of shape ``(n, d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import mlp
        >>> net = mlp((16, 16), 1, heteroscedastic=True)
        >>> x = jnp.ones((5, 2))
        >>> params = net.init(jax.random.key(0), x)
        >>> net.apply(params, x).variance.shape
        (5, 1)
        >>> net == mlp([16, 16], 1, heteroscedastic=True)
        True

    References:
        Bishop, C. M. (1995). Neural Networks for Pattern Recognition. Oxford University Press.
        Nix, D. A. and Weigend, A. S. (1994). Estimating the mean and variance of the target
        probability distribution. Proc. IEEE ICNN, 55-60.
    """
    return MLP(tuple(hidden), outputs, activation, heteroscedastic, dropout_rate)


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


@dataclasses.dataclass(frozen=True)
class MDN:
    r"""A mixture density network, hashable by value (built by :func:`mdn`).

    Attributes:
        hidden: widths of the hidden layers.
        outputs: output dimension ``d``.
        components: number of mixture components ``K``.
        activation: hidden activation name.
    """

    hidden: tuple[int, ...]
    outputs: int = 1
    components: int = 3
    activation: str = "tanh"

    features = None  # no single feature map: the heads read the last hidden layer jointly

    def __post_init__(self):
        object.__setattr__(self, "hidden", _check_layers(self.hidden, self.activation))
        object.__setattr__(self, "outputs", check_int("outputs", self.outputs, minimum=1))
        object.__setattr__(self, "components", check_int("components", self.components, minimum=1))

    @property
    def _module(self) -> _MDN:
        return _MDN(self.hidden, self.outputs, self.components, self.activation)

    def init(self, key: jax.Array, x: ArrayLike) -> PyTree:
        """Parameters for inputs shaped like ``x`` (``(n, p)``)."""
        return self._module.init(key, jnp.asarray(x))["params"]

    def apply(self, params: PyTree, x: ArrayLike, key: jax.Array | None = None) -> Predictive:
        """Mixture moments and components at ``x`` (``key`` is unused: no stochastic layer)."""
        logits, means, variances = self._module.apply({"params": params}, jnp.asarray(x))
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


def mdn(
    hidden: Sequence[int], outputs: int = 1, components: int = 3, *, activation: str = "tanh"
) -> MDN:
    r"""Mixture density network (Bishop 1994) as an :class:`MDN` (hashable by value).

    The conditional density is :math:`p(y\mid x) = \sum_{k=1}^K\pi_k(x)\,
    \mathcal N(y;\mu_k(x),\mathrm{diag}\,\sigma_k^2(x))` for ``d``-dimensional ``y``, with
    :math:`\pi = \mathrm{softmax}` of the logits and :math:`\sigma_k^2 = \mathrm{softplus} +
    10^{-6}`. ``apply`` returns a :class:`Predictive` with the mixture moments
    (:math:`\mu = \sum_k\pi_k\mu_k`, :math:`\sigma^2 = \sum_k\pi_k(\sigma_k^2+\mu_k^2)-\mu^2`)
    and ``mixture=(logits, means, variances)``. Train it with
    ``fit(..., loss=mixture_nll_loss)``. Cost per input: that of the MLP plus :math:`O(hKd)`
    for the heads.

    Args:
        hidden: hidden layer widths.
        outputs: output dimension ``d``.
        components: number of mixture components ``K``.
        activation: hidden activation (as in :func:`mlp`).

    Returns:
        An :class:`MDN`.

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
    return MDN(tuple(hidden), outputs, components, activation)
