"""The predictive distribution returned by every surrogate in :mod:`edtjax.surrogates`."""

from __future__ import annotations

from typing import NamedTuple

import jax

__all__ = ["Predictive"]


class Predictive(NamedTuple):
    """A predictive distribution at ``n`` query points with ``d`` outputs.

    Every method (plain or heteroscedastic network, ensemble, MC dropout, mixture density network,
    Gaussian process, Bayesian neural network, Bayesian last layer) returns this pytree, so the
    metrics in :mod:`edtjax.uq` apply to all of them. Fields a method does not produce are
    ``None`` (an empty pytree node), so a ``Predictive`` crosses ``jit``/``vmap``/``scan``.

    Attributes:
        mean: predictive mean, shape ``(n, d)``.
        variance: total predictive variance per output, shape ``(n, d)``, or ``None`` for a
            point predictor (a network trained with mean-squared error).
        samples: draws from the predictive (or from the predictive mean, for a posterior over
            parameters), shape ``(s, n, d)``, or ``None``.
        aleatoric: the part of ``variance`` due to observation noise, shape ``(n, d)``, or
            ``None``; ``variance - aleatoric`` is the epistemic part.
        mixture: ``(logits (n, k), means (n, k, d), variances (n, k, d))`` for a mixture density
            network, or ``None``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.surrogates import Predictive
        >>> p = Predictive(mean=jnp.zeros((3, 1)), variance=jnp.ones((3, 1)))
        >>> p.samples is None
        True
    """

    mean: jax.Array
    variance: jax.Array | None = None
    samples: jax.Array | None = None
    aleatoric: jax.Array | None = None
    mixture: tuple[jax.Array, jax.Array, jax.Array] | None = None
