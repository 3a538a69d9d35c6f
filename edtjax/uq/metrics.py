"""Proper scoring rules and interval metrics for predictive distributions.

Every function takes targets ``y`` of shape ``(n, d)`` (or ``(n,)``) and the predictive in the
same layout (samples carry a leading sample axis ``(s, n, d)``) and returns the average over all
points and outputs unless stated otherwise. All are pure ``jax.numpy`` functions, so they
compose with ``jit``, ``vmap`` and ``grad`` (gradients with respect to the predictive
parameters are what scoring-rule training needs).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp
from jax.scipy.stats import norm

__all__ = [
    "crps_gaussian",
    "crps_samples",
    "energy_score",
    "gaussian_interval",
    "gaussian_nll",
    "interval_coverage",
    "interval_score",
    "interval_width",
    "sample_nll",
    "sharpness",
]


def gaussian_nll(y: jax.Array, mean: jax.Array, variance: jax.Array) -> jax.Array:
    r"""Average negative log-likelihood of independent Gaussian predictives.

    :math:`\frac{1}{nd}\sum_{i,j} \tfrac12\left[\log(2\pi\sigma_{ij}^2)
    + (y_{ij}-\mu_{ij})^2/\sigma_{ij}^2\right]`. Cost :math:`O(nd)`.

    Args:
        y: targets, shape ``(n, d)``.
        mean: predictive means, same shape.
        variance: predictive variances (> 0), same shape.

    Returns:
        Scalar mean negative log-likelihood (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import gaussian_nll
        >>> round(float(gaussian_nll(jnp.zeros(1), jnp.zeros(1), jnp.ones(1))), 4)
        0.9189

    References:
        Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
        estimation. JASA 102(477), 359-378.
    """
    return jnp.mean(0.5 * (jnp.log(2 * jnp.pi * variance) + (y - mean) ** 2 / variance))


def sample_nll(y: jax.Array, samples: jax.Array, bandwidth: jax.Array | None = None) -> jax.Array:
    r"""Average negative log-likelihood of a sample-based predictive via a Gaussian KDE.

    Each marginal predictive is the kernel density estimate
    :math:`\hat p(y) = \frac1s\sum_k \mathcal N(y; x_k, h^2)` with Silverman's bandwidth
    :math:`h = (3s/4)^{-1/5}\,\hat\sigma` (:math:`\hat\sigma` the sample standard deviation,
    ``ddof=1``) unless ``bandwidth`` is given. Cost :math:`O(s n d)`.

    Args:
        y: targets, shape ``(n, d)``.
        samples: predictive draws, shape ``(s, n, d)``.
        bandwidth: optional kernel width, broadcastable to ``(n, d)``.

    Returns:
        Scalar mean negative log predictive density.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.uq import sample_nll
        >>> draws = jax.random.normal(jax.random.key(0), (2000, 1, 1))
        >>> nll = sample_nll(jnp.zeros((1, 1)), draws)

    References:
        Silverman, B. W. (1986). Density Estimation for Statistics and Data Analysis. Chapman &
        Hall, eq. (3.31).
    """
    s = samples.shape[0]
    if bandwidth is None:
        bandwidth = (0.75 * s) ** (-0.2) * jnp.std(samples, axis=0, ddof=1)
    z = (y[None] - samples) / bandwidth
    logp = logsumexp(-0.5 * z**2, axis=0) - jnp.log(s) - jnp.log(bandwidth * jnp.sqrt(2 * jnp.pi))
    return -jnp.mean(logp)


def crps_gaussian(y: jax.Array, mean: jax.Array, variance: jax.Array) -> jax.Array:
    r"""Average continuous ranked probability score of Gaussian predictives (closed form).

    :math:`\mathrm{CRPS}(\mathcal N(\mu,\sigma^2), y) = \sigma\left[z(2\Phi(z)-1) + 2\varphi(z)
    - 1/\sqrt\pi\right]`, :math:`z = (y-\mu)/\sigma`. Lower is better. Cost :math:`O(nd)`.

    Args:
        y: targets, shape ``(n, d)``.
        mean: predictive means, same shape.
        variance: predictive variances (> 0), same shape.

    Returns:
        Scalar mean CRPS (units of ``y``).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import crps_gaussian
        >>> round(float(crps_gaussian(jnp.zeros(1), jnp.zeros(1), jnp.ones(1))), 4)
        0.2337

    References:
        Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
        estimation. JASA 102(477), 359-378, eq. (21).
    """
    sigma = jnp.sqrt(variance)
    z = (y - mean) / sigma
    crps = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / jnp.sqrt(jnp.pi))
    return jnp.mean(crps)


def crps_samples(y: jax.Array, samples: jax.Array, *, fair: bool = False) -> jax.Array:
    r"""Average CRPS of the empirical distribution of predictive samples.

    :math:`\mathrm{CRPS}(\hat F, y) = \frac1s\sum_k |x_k-y| - \frac1{2s^2}\sum_{k,l}|x_k-x_l|`
    (Gneiting & Raftery 2007, eq. 20), the exact CRPS of the empirical distribution. The double
    sum is computed from the sorted samples, :math:`\sum_{k,l}|x_k-x_l| = 2\sum_i (2i-s-1)
    x_{(i)}`, so the cost is :math:`O(s\log s)` per point, :math:`O(n d\, s \log s)` in total.

    As an estimate of the CRPS of the law :math:`F` the samples are drawn from, this is biased
    upwards by :math:`\mathbb E|X-X'|/(2s)` (the pair term has :math:`s` zero diagonal terms
    among its :math:`s^2`). With ``fair=True`` the pair sum is divided by :math:`2s(s-1)`
    instead, the *fair* CRPS of Ferro (2014), an unbiased estimate of
    :math:`\mathrm{CRPS}(F, y)` for i.i.d. (or exchangeable) draws; use it to compare
    ensembles of different sizes.

    Args:
        y: targets, shape ``(n, d)``.
        samples: predictive draws, shape ``(s, n, d)``; ``s >= 2`` when ``fair``.
        fair: divide the pair term by :math:`s(s-1)` rather than :math:`s^2`.

    Returns:
        Scalar mean CRPS.

    Raises:
        ValueError: ``fair=True`` with fewer than 2 samples.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.uq import crps_samples
        >>> draws = jax.random.normal(jax.random.key(0), (4000, 1, 1))
        >>> value = crps_samples(jnp.zeros((1, 1)), draws)  # close to 0.2337
        >>> fair = crps_samples(jnp.zeros((1, 1)), draws[:5], fair=True)  # unbiased for 0.2337

    References:
        Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
        estimation. JASA 102(477), 359-378. Ferro, C. A. T. (2014). Fair scores for ensemble
        forecasts. Q. J. R. Meteorol. Soc. 140(683), 1917-1923. Zamo, M. and Naveau, P. (2018).
        Estimation of the continuous ranked probability score with limited information and
        applications to ensemble weather forecasts. Math. Geosci. 50(2), 209-234.
    """
    s = samples.shape[0]
    first = jnp.mean(jnp.abs(samples - y[None]), axis=0)
    ranks = jnp.arange(1, s + 1, dtype=samples.dtype).reshape((s,) + (1,) * (samples.ndim - 1))
    pair = jnp.sum((2 * ranks - s - 1) * jnp.sort(samples, axis=0), axis=0) / _pair_count(s, fair)
    return jnp.mean(first - pair)


def energy_score(y: jax.Array, samples: jax.Array, *, fair: bool = False) -> jax.Array:
    r"""Average energy score of multivariate sample predictives.

    :math:`\mathrm{ES}(\hat F, y) = \frac1s\sum_k \|x_k - y\| - \frac1{2s^2}\sum_{k,l}
    \|x_k-x_l\|` with the Euclidean norm over the ``d`` outputs; for ``d = 1`` it equals
    :func:`crps_samples`. Cost :math:`O(n s^2 d)`. With ``fair=True`` the pair sum is divided by
    :math:`2s(s-1)`, which makes it an unbiased estimate of the energy score of the law the
    i.i.d. draws come from (the plain one exceeds it by :math:`\mathbb E\|X-X'\|/(2s)`).

    Args:
        y: targets, shape ``(n, d)``.
        samples: predictive draws, shape ``(s, n, d)``; ``s >= 2`` when ``fair``.
        fair: divide the pair term by :math:`s(s-1)` rather than :math:`s^2`.

    Returns:
        Scalar mean energy score.

    Raises:
        ValueError: ``fair=True`` with fewer than 2 samples.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.uq import energy_score
        >>> draws = jax.random.normal(jax.random.key(0), (200, 3, 2))
        >>> value = energy_score(jnp.zeros((3, 2)), draws)
        >>> fair = energy_score(jnp.zeros((3, 2)), draws, fair=True)

    References:
        Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
        estimation. JASA 102(477), 359-378, eq. (22). Ferro, C. A. T. (2014). Fair scores for
        ensemble forecasts. Q. J. R. Meteorol. Soc. 140(683), 1917-1923.
    """
    s = samples.shape[0]
    first = jnp.mean(_norm(samples - y[None]), axis=0)
    pair = jnp.sum(_norm(samples[:, None] - samples[None, :]), axis=(0, 1)) / _pair_count(s, fair)
    return jnp.mean(first - 0.5 * pair)


def _pair_count(s: int, fair: bool) -> int:
    """Denominator of the pair sum: :math:`s^2` (plug-in) or :math:`s(s-1)` (fair)."""
    if not fair:
        return s * s
    if s < 2:
        raise ValueError(f"samples must hold at least 2 draws for fair=True, got {s}")
    return s * (s - 1)


def _norm(v):
    # Euclidean norm with a zero-safe gradient (the diagonal k = l of the pair sum is 0).
    sq = jnp.sum(v**2, axis=-1)
    safe = jnp.where(sq > 0, sq, 1.0)
    return jnp.where(sq > 0, jnp.sqrt(safe), 0.0)


def gaussian_interval(
    mean: jax.Array, variance: jax.Array, alpha: float
) -> tuple[jax.Array, jax.Array]:
    r"""Central :math:`1-\alpha` interval :math:`\mu \pm \Phi^{-1}(1-\alpha/2)\sigma`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import gaussian_interval
        >>> lo, hi = gaussian_interval(jnp.zeros(1), jnp.ones(1), 0.05)  # about -1.96, 1.96
    """
    half = norm.ppf(1 - alpha / 2) * jnp.sqrt(variance)
    return mean - half, mean + half


def interval_coverage(y: jax.Array, lower: jax.Array, upper: jax.Array) -> jax.Array:
    r"""Fraction of targets inside their interval, :math:`\frac1{nd}\sum 1\{l \le y \le u\}`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import interval_coverage
        >>> float(interval_coverage(jnp.array([0.0, 2.0]), -jnp.ones(2), jnp.ones(2)))
        0.5
    """
    inside = (y >= lower) & (y <= upper)
    return jnp.mean(inside.astype(jnp.result_type(lower, float)))


def interval_width(lower: jax.Array, upper: jax.Array) -> jax.Array:
    r"""Mean interval width :math:`\frac1{nd}\sum (u - l)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import interval_width
        >>> float(interval_width(-jnp.ones(2), jnp.ones(2)))
        2.0
    """
    return jnp.mean(upper - lower)


def interval_score(y: jax.Array, lower: jax.Array, upper: jax.Array, alpha: float) -> jax.Array:
    r"""Average interval score of central :math:`1-\alpha` prediction intervals.

    :math:`S_\alpha(l,u;y) = (u-l) + \frac2\alpha(l-y)1\{y<l\} + \frac2\alpha(y-u)1\{y>u\}`,
    a proper score for the :math:`\alpha/2` and :math:`1-\alpha/2` quantiles. Cost
    :math:`O(nd)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import interval_score
        >>> float(interval_score(jnp.array([2.0]), -jnp.ones(1), jnp.ones(1), 0.5))
        6.0

    References:
        Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules, prediction, and
        estimation. JASA 102(477), 359-378, eq. (43).
    """
    below = jnp.maximum(lower - y, 0.0)
    above = jnp.maximum(y - upper, 0.0)
    return jnp.mean((upper - lower) + 2.0 / alpha * (below + above))


def sharpness(variance: jax.Array) -> jax.Array:
    r"""Mean predictive variance :math:`\frac1{nd}\sum\sigma^2_{ij}` (smaller is sharper).

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import sharpness
        >>> float(sharpness(jnp.array([1.0, 3.0])))
        2.0

    References:
        Kuleshov, V., Fenner, N. and Ermon, S. (2018). Accurate uncertainties for deep learning
        using calibrated regression. ICML, Sec. 3.
    """
    return jnp.mean(variance)
