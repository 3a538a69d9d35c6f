r"""The Gaussian model shared by the Bayesian neural network samplers (:mod:`.bnn`,
:mod:`.subsampling`): isotropic Gaussian prior, Gaussian likelihood with known noise, and the
start of a fit (network, validated data, initial positions)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from edtjax._checks import check_int
from edtjax._typing import ArrayLike, PyTree
from edtjax.surrogates.method import check_xy
from edtjax.surrogates.network import MLP, Surrogate, mlp


def gaussian_log_prior(params: PyTree, prior_variance: ArrayLike) -> jax.Array:
    r"""Isotropic Gaussian log prior :math:`-\|\theta\|^2 / (2\tau^2)` (constant dropped)."""
    flat, _ = ravel_pytree(params)
    return -0.5 * jnp.sum(flat**2) / prior_variance


def gaussian_log_likelihood_terms(
    surrogate: Surrogate, params: PyTree, x: jax.Array, y: jax.Array, noise_variance: ArrayLike
) -> jax.Array:
    r"""Per-example Gaussian log-likelihoods :math:`-\|y_i - f_\theta(x_i)\|^2 / (2\sigma^2)`,
    shape ``(n,)`` (constant dropped); their sum is the log-likelihood of
    :func:`~edtjax.surrogates.bnn_log_density`."""
    resid = y - surrogate.apply(params, x).mean
    return -0.5 * jnp.sum(resid**2, axis=-1) / noise_variance


def bnn_start(
    key: jax.Array, x: ArrayLike, y: ArrayLike, options: PyTree, count: int | None
) -> tuple[MLP, jax.Array, jax.Array, PyTree]:
    """The point network of a BNN method's ``options``, the validated data, and ``count``
    initial positions drawn with ``key`` (one position, unbatched, for ``count=None``)."""
    x, y = check_xy(x, y)
    net = mlp(options.hidden, y.shape[1], activation=options.activation)
    if count is None:
        return net, x, y, net.init(key, x[:1])
    keys = jax.random.split(key, check_int("chains", count, minimum=1))
    return net, x, y, jax.vmap(lambda k: net.init(k, x[:1]))(keys)
