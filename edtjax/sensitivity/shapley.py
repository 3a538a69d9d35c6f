"""Shapley effects of Gaussian (dependent) inputs by the exact-permutation algorithm."""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array, check_int, check_probability, is_concrete
from edtjax.sensitivity.estimators import Interval

__all__ = ["ShapleyEffects", "shapley_effects"]

#: Largest number of inputs: the algorithm visits all ``2^d - 2`` proper subsets.
MAX_INPUTS = 12


class ShapleyEffects(NamedTuple):
    """Normalised Shapley effects of ``d`` inputs.

    Attributes:
        shapley: ``(d,)`` effects ``Sh_i / Var(Y)``; they sum to 1.
        stderr: ``(d,)`` asymptotic standard errors (delta method over the independent
            estimates of every subset's cost and of the variance).
        interval: normal :class:`~edtjax.sensitivity.Interval` at the requested confidence.
        variance: the estimate of ``Var(Y)``.
    """

    shapley: jax.Array
    stderr: jax.Array
    interval: Interval
    variance: jax.Array


@functools.lru_cache(maxsize=16)
def _subset_weights(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``(2^d - 2, d)`` of the proper non-empty subsets ``J`` and the ``(d, 2^d - 2)``
    coefficients ``a_iJ`` with ``Sh_i = sum_J a_iJ c(J) + w(d - 1) c(all)``.

    ``Sh_i = sum_(J not containing i) w(|J|) [c(J + i) - c(J)]``, ``w(s) = s! (d-s-1)! / d!``;
    ``c(empty) = 0`` and ``c(all) = Var(Y)`` (coefficient ``w(d - 1)``, from ``J = all - i``).
    """
    masks = [m for m in itertools.product([0, 1], repeat=d) if 0 < sum(m) < d]
    index = {m: k for k, m in enumerate(masks)}
    coef = np.zeros((d, len(masks)))
    for i in range(d):
        for m in [*masks, (0,) * d]:
            if m[i]:
                continue
            s = sum(m)
            w = math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d)
            with_i = tuple(1 if j == i else m[j] for j in range(d))
            if with_i in index:
                coef[i, index[with_i]] += w
            if m in index:
                coef[i, index[m]] -= w
    return np.asarray(masks, np.float64), coef


def _subset_cost(key, model, mean, precision, chol, mask, num_outer, num_inner):
    """Per-outer-sample inner variances ``Var(Y | X_-J)`` for one subset ``J`` (``mask``)."""
    d = mean.shape[0]
    k_out, k_in = jax.random.split(key)
    outer = mean + jax.random.normal(k_out, (num_outer, d), mean.dtype) @ chol.T
    # X_J | X_-J for the Gaussian: precision Q_JJ, mean mu_J - Q_JJ^-1 Q_J,-J (x_-J - mu_-J).
    # Embedded in d dimensions: P = diag(m) Q diag(m) + diag(1 - m) has P^-1 = (Q_JJ^-1, I).
    m = mask.astype(mean.dtype)
    p_inv = jnp.linalg.inv(m[:, None] * precision * m[None, :] + jnp.diag(1.0 - m))
    p_chol = jnp.linalg.cholesky(p_inv) * m[:, None] * m[None, :]
    shift = ((outer - mean) * (1.0 - m)) @ (precision * m[:, None]).T @ p_inv.T  # (N_O, d)
    noise = jax.random.normal(k_in, (num_outer, num_inner, d), mean.dtype) @ p_chol.T
    inner = m * (mean - shift)[:, None, :] + noise + (1.0 - m) * outer[:, None, :]
    y = model(inner)  # (N_O, N_I)
    return jnp.var(y, axis=1, ddof=1)


@functools.partial(jax.jit, static_argnames=("model", "num_outer", "num_inner", "num_variance"))
def _shapley_core(key, model, mean, cov, masks, coef, z, *, num_outer, num_inner, num_variance):
    d = mean.shape[0]
    chol = jnp.linalg.cholesky(cov)
    precision = jnp.linalg.inv(cov)
    k_var, k_sub = jax.random.split(key)
    y = model(mean + jax.random.normal(k_var, (num_variance, d), mean.dtype) @ chol.T)
    variance = jnp.var(y, ddof=1)
    var_of_variance = (jnp.mean((y - y.mean()) ** 4) - variance**2) / num_variance

    def cost(args):
        k, mask = args
        return _subset_cost(k, model, mean, precision, chol, mask, num_outer, num_inner)

    inner = jax.lax.map(cost, (jax.random.split(k_sub, masks.shape[0]), masks))  # (S, N_O)
    partial = coef @ inner.mean(axis=1)  # (d,)
    cost_var = inner.var(axis=1, ddof=1) / num_outer
    # c(all) = Var(Y) enters every effect with weight w(d - 1) = 1/d
    shapley = 1.0 / d + partial / variance
    stderr = jnp.sqrt(
        (coef**2) @ cost_var / variance**2 + partial**2 * var_of_variance / variance**4
    )
    return ShapleyEffects(
        shapley, stderr, Interval(shapley - z * stderr, shapley + z * stderr), variance
    )


def shapley_effects(
    key,
    model,
    mean,
    cov,
    *,
    num_outer: int = 2000,
    num_inner: int = 3,
    num_variance: int = 10_000,
    confidence: float = 0.95,
) -> ShapleyEffects:
    """Shapley effects of Gaussian inputs ``X ~ N(mean, cov)``, dependent ones included.

    With the cost ``c(J) = E[Var(Y | X_-J)]`` of a subset ``J`` of inputs (the variance left
    when all inputs but ``J`` are known; ``c(empty) = 0``, ``c(all) = Var(Y)``), the Shapley
    effect of input ``i`` (Owen 2014) is its average marginal cost over the orders of the
    inputs,

    ``Sh_i = sum_(J not containing i) |J|! (d - |J| - 1)! / d! [c(J + i) - c(J)]``,

    reported as ``Sh_i / Var(Y)``: non-negative, summing to 1 even for dependent inputs
    (where Sobol' indices no longer split the variance). Following Song, Nelson and Staum
    (2016) with exact permutations, every proper subset's cost is estimated by its own
    double loop: ``num_outer`` draws of ``X_-J``, and for each, ``num_inner`` draws of
    ``X_J`` from the Gaussian conditional law ``N(mu_J - Q_JJ^-1 Q_J,-J (x_-J - mu_-J),
    Q_JJ^-1)`` (``Q = cov^-1``); the inner sample variance is unbiased, so
    ``c_hat(J)`` is the mean over the outer draws (Song et al. recommend ``num_inner = 3``).
    ``Var(Y)`` comes from ``num_variance`` further draws. All estimates are independent, so
    the delta method gives the standard error
    ``se_i^2 = sum_J a_iJ^2 var(c_hat(J)) / V^2 + (sum_J a_iJ c_hat(J))^2 var(V_hat) / V^4``
    and a normal interval. Cost: ``(2^d - 2) num_outer num_inner + num_variance`` model
    evaluations, one batch of ``num_outer num_inner`` per subset at a time; ``d <= 12``.
    Jitted (the model is a static argument: pass the same function object to reuse the
    compilation).

    Args:
        key: PRNG key.
        model: function of ``(..., d)`` inputs to ``(...)`` scalar outputs (vectorised over
            leading axes), a JAX-traceable function.
        mean: ``(d,)`` mean of the inputs, ``2 <= d <= 12``.
        cov: ``(d, d)`` symmetric positive-definite covariance.
        num_outer: outer draws per subset, ``>= 2``.
        num_inner: inner draws per outer draw, ``>= 2``.
        num_variance: draws for ``Var(Y)``, ``>= 2``.
        confidence: level of the interval, in ``(0, 1)``.

    Returns:
        :class:`ShapleyEffects`.

    Raises:
        ValueError: a ``mean`` that is not a vector of 2 to 12 entries, a ``cov`` of another
            shape or not symmetric positive definite, sizes below 2, a ``confidence`` outside
            ``(0, 1)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> cov = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.5, 1.0]])
        >>> model = lambda x: x[..., 0] + x[..., 1] + x[..., 2]
        >>> r = shapley_effects(jax.random.key(0), model, jnp.zeros(3), cov)
        >>> round(float(r.shapley.sum()), 5), bool(abs(r.shapley[0] - 0.25) < 5 * r.stderr[0])
        (1.0, True)

    References:
        Owen, A. B. (2014). Sobol' indices and Shapley value. SIAM/ASA J. Uncertain. Quantif.
        2, 245-251.
        Song, E., Nelson, B. L., Staum, J. (2016). Shapley effects for global sensitivity
        analysis: theory and computation. SIAM/ASA J. Uncertain. Quantif. 4, 1060-1083.
        Iooss, B., Prieur, C. (2019). Shapley effects for sensitivity analysis with correlated
        inputs: comparisons with Sobol' indices, numerical estimation and applications. Int. J.
        Uncertain. Quantif. 9(5), 493-514.
    """
    num_outer = check_int("num_outer", num_outer, minimum=2)
    num_inner = check_int("num_inner", num_inner, minimum=2)
    num_variance = check_int("num_variance", num_variance, minimum=2)
    confidence = float(check_probability("confidence", confidence))
    mean = as_array("mean", mean, ndim=1)
    d = mean.shape[0]
    if not 2 <= d <= MAX_INPUTS:
        raise ValueError(f"mean must have 2 to {MAX_INPUTS} entries (inputs), got {d}")
    if not jnp.issubdtype(mean.dtype, jnp.floating):
        mean = mean.astype(jnp.result_type(float))
    cov = as_array("cov", cov, ndim=2).astype(mean.dtype)
    if cov.shape != (d, d):
        raise ValueError(f"cov must have shape ({d}, {d}) like mean, got {cov.shape}")
    if is_concrete(cov):
        c = np.asarray(cov, np.float64)
        if not np.allclose(c, c.T, rtol=1e-6, atol=1e-12 * np.abs(c).max()):
            raise ValueError("cov must be symmetric")
        if np.linalg.eigvalsh(c).min() <= 1e-10 * np.abs(c).max():
            raise ValueError("cov must be positive definite (its smallest eigenvalue is <= 0)")
    masks, coef = _subset_weights(d)
    z = statistics.NormalDist().inv_cdf(0.5 + 0.5 * confidence)
    return _shapley_core(
        key,
        model,
        mean,
        cov,
        jnp.asarray(masks, mean.dtype),
        jnp.asarray(coef, mean.dtype),
        z,
        num_outer=num_outer,
        num_inner=num_inner,
        num_variance=num_variance,
    )
