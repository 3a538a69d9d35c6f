"""Multilayer perceptrons as pure ``(init, apply)`` pairs over a flax parameter pytree."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from edtjax._checks import check_choice, check_int, check_real
from edtjax.surrogates.predictive import Predictive

__all__ = ["Surrogate", "mlp"]

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
}

_MIN_VARIANCE = 1e-6


class Surrogate(NamedTuple):
    """A surrogate model as a pair of pure functions (like ``optax.GradientTransformation``).

    Attributes:
        init: ``init(key, x) -> params``; builds the parameter pytree for inputs shaped like
            ``x`` (``(n, p)``).
        apply: ``apply(params, x, key=None) -> Predictive``; the prediction at ``x``. ``key``
            drives stochastic layers (dropout); with ``key=None`` the network is deterministic.
        features: ``features(params, x) -> (n, h)``; the last hidden layer (the feature map a
            Bayesian last layer or a last-layer Laplace approximation builds on), or ``None``.
    """

    init: Callable[..., Any]
    apply: Callable[..., Predictive]
    features: Callable[..., jax.Array] | None = None


class _MLP(nn.Module):
    hidden: tuple[int, ...]
    outputs: int
    activation: str
    dropout_rate: float

    def setup(self):
        self.layers = [nn.Dense(h, name=f"hidden_{i}") for i, h in enumerate(self.hidden)]
        self.head = nn.Dense(self.outputs, name="head")
        self.dropout = nn.Dropout(self.dropout_rate)

    def body(self, x, deterministic: bool = True):
        act = _ACTIVATIONS[self.activation]
        for layer in self.layers:
            x = act(layer(x))
            if self.dropout_rate > 0.0:
                x = self.dropout(x, deterministic=deterministic)
        return x

    def __call__(self, x, deterministic: bool = True):
        return self.head(self.body(x, deterministic))


def mlp(
    hidden: Sequence[int],
    outputs: int = 1,
    *,
    activation: str = "tanh",
    heteroscedastic: bool = False,
    dropout_rate: float = 0.0,
) -> Surrogate:
    r"""Build a fully connected network as a :class:`Surrogate`.

    The network maps :math:`x \in \mathbb{R}^p` through ``len(hidden)`` layers
    :math:`h_{l} = \sigma(W_l h_{l-1} + b_l)` (with inverted dropout after each when
    ``dropout_rate > 0`` and a key is given) to a linear head. A heteroscedastic network has
    ``2 d`` head outputs, the mean :math:`\mu(x)` and :math:`\sigma^2(x) = \mathrm{softplus}(s(x))
    + 10^{-6}`, and is trained with the Gaussian negative log-likelihood (Nix & Weigend 1994);
    otherwise ``apply`` returns a point prediction (``variance=None``).

    Cost: :math:`O(n \sum_l h_{l-1} h_l)` per call for ``n`` inputs.

    Args:
        hidden: widths of the hidden layers, e.g. ``(50, 50)``.
        outputs: number of outputs ``d``.
        activation: one of ``"tanh"``, ``"relu"``, ``"gelu"``, ``"silu"``, ``"softplus"``.
        heteroscedastic: if true, also predict an input-dependent variance.
        dropout_rate: dropout probability in ``[0, 1)`` after each hidden layer (MC dropout).

    Returns:
        A :class:`Surrogate` whose ``apply(params, x, key=None)`` returns a
        :class:`~edtjax.surrogates.Predictive` with ``mean`` of shape ``(n, d)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.surrogates import mlp
        >>> net = mlp((16, 16), 1, heteroscedastic=True)
        >>> x = jnp.ones((5, 2))
        >>> params = net.init(jax.random.key(0), x)
        >>> net.apply(params, x).variance.shape
        (5, 1)

    References:
        Bishop, C. M. (1995). Neural Networks for Pattern Recognition. Oxford University Press.
        Nix, D. A. and Weigend, A. S. (1994). Estimating the mean and variance of the target
        probability distribution. Proc. IEEE ICNN, 55-60.
    """
    hidden = tuple(check_int("hidden", int(h), minimum=1) for h in hidden)
    outputs = check_int("outputs", outputs, minimum=1)
    check_choice("activation", activation, sorted(_ACTIVATIONS))
    dropout_rate = check_real("dropout_rate", dropout_rate, minimum=0.0, maximum=1.0)
    if dropout_rate >= 1.0:
        raise ValueError(f"dropout_rate must be < 1, got {dropout_rate}")
    if not hidden:
        raise ValueError("hidden must name at least one layer width")
    heteroscedastic = bool(heteroscedastic)
    module = _MLP(hidden, 2 * outputs if heteroscedastic else outputs, activation, dropout_rate)

    def init(key, x):
        return module.init(key, jnp.asarray(x))["params"]

    def apply(params, x, key=None):
        x = jnp.asarray(x)
        if key is None or dropout_rate == 0.0:
            out = module.apply({"params": params}, x)
        else:
            out = module.apply({"params": params}, x, False, rngs={"dropout": key})
        if heteroscedastic:
            mean, raw = out[..., :outputs], out[..., outputs:]
            return Predictive(mean=mean, variance=jax.nn.softplus(raw) + _MIN_VARIANCE)
        return Predictive(mean=out)

    def features(params, x):
        return module.apply({"params": params}, jnp.asarray(x), method=_MLP.body)

    return Surrogate(init=init, apply=apply, features=features)
