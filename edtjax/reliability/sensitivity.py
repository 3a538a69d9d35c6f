"""Sensitivity of an indicator: which inputs move a query out of the domain of validity."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from edtjax._typing import PyTree
from edtjax.reliability import _validate
from edtjax.reliability.indicator import Indicator
from edtjax.sensitivity import DGSMResult, dgsm_indices

__all__ = ["score_dgsm"]


def score_dgsm(
    key: jax.Array, indicator: Indicator, state: PyTree, factors: PyTree, num_samples: int
) -> DGSMResult:
    """Derivative-based sensitivity measures of an indicator's score over an input region.

    ``ν_i = E[(∂ s(X) / ∂x_i)²]`` with ``X`` drawn from ``factors`` (e.g. uniform over a box
    around, or beyond, the training domain), and the Poincaré bounds ``T_i <= C_i ν_i / Var s``
    on the total Sobol' indices of the score (:func:`edtjax.sensitivity.dgsm_indices`). A large
    ``ν_i`` means moving input ``i`` changes the verdict fastest: it says along which inputs a
    new context leaves the domain. Requires a differentiable score.

    Args:
        key: PRNG key for the Monte Carlo points.
        indicator: the :class:`Indicator`.
        state: its fitted state.
        factors: pytree of numpyro ``Uniform``/``Normal`` distributions whose leaves, flattened
            in ``jax.tree.leaves`` order and raveled, form the ``d`` query coordinates (e.g. a
            list of ``d`` scalar distributions in column order, or one with batch shape
            ``(d,)``).
        num_samples: Monte Carlo points ``>= 2``.

    Returns:
        :class:`edtjax.sensitivity.DGSMResult`, pytrees shaped like ``factors``. Cost
        ``num_samples`` scores and gradients.

    Example:
        >>> import jax, numpyro.distributions as dist
        >>> from edtjax.reliability import mahalanobis_indicator
        >>> ind = mahalanobis_indicator()
        >>> state = ind.fit(None, jax.random.normal(jax.random.key(0), (200, 2)))
        >>> res = score_dgsm(jax.random.key(1), ind, state,
        ...                  [dist.Uniform(-3.0, 3.0), dist.Uniform(-3.0, 3.0)], 256)
        >>> len(res.nu)
        2

    References:
        Sobol', I. M. & Kucherenko, S. (2009). Derivative based global sensitivity measures and
        their link with global sensitivity indices. Math. Comput. Simul. 79, 3009-3017.
    """
    indicator = _validate.indicator(indicator)
    leaves = jax.tree.leaves(factors, is_leaf=lambda v: hasattr(v, "batch_shape"))
    d = sum(math.prod(getattr(leaf, "batch_shape", ())) for leaf in leaves)
    _validate.queries("factors", indicator, state, jnp.zeros((1, d)))

    def model(values: PyTree) -> jax.Array:
        z = jnp.concatenate([jnp.ravel(v) for v in jax.tree.leaves(values)])
        return indicator.score(state, z[None, :])[0]

    return dgsm_indices(key, model, factors, num_samples)
