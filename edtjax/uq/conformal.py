"""Split conformal prediction intervals with a finite-sample coverage guarantee.

Given ``n`` calibration points exchangeable with a test point and a nonconformity score
:math:`s`, the interval built from the :math:`k`-th smallest calibration score with
:math:`k = \\lceil (n+1)(1-\\alpha)\\rceil` covers the test target with probability
:math:`\\ge 1-\\alpha` (and :math:`< 1-\\alpha + 1/(n+1)` for continuous scores), whatever the
model and the data distribution (Vovk et al. 2005; Lei et al. 2018). Each output column is
calibrated separately.

The rank is computed exactly, in rational arithmetic, so that float rounding of
:math:`(n+1)(1-\\alpha)` cannot move it by one (``alpha = 0.7`` and ``n = 9`` give
:math:`k = 3`, not the 4 of ``math.ceil(10 * (1 - 0.7))``). A level within :math:`2^{-50}` of a
fraction :math:`j/(n+1)` is read as that fraction, so ``0.1`` and ``1 - 0.9`` give the same rank.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_probability, is_concrete
from edtjax._conformal import conformal_rank, order_statistic
from edtjax._typing import ArrayLike

__all__ = [
    "conformal_quantile",
    "conformalized_quantile_regression",
    "normalized_conformal",
    "split_conformal",
]


@functools.partial(jax.jit, static_argnames=("k",))
def _order_statistic(scores, *, k):
    return order_statistic(scores, k, jnp.inf)


def conformal_quantile(scores: ArrayLike, alpha: float) -> jax.Array:
    r"""The conformal threshold: the :math:`\lceil(n+1)(1-\alpha)\rceil`-th smallest score.

    Returns :math:`+\infty` when :math:`\lceil(n+1)(1-\alpha)\rceil > n` (too few calibration
    points for level :math:`1-\alpha`: only the whole line has the guarantee). Cost
    :math:`O(n\log n)` per column. The rank is exact (rational arithmetic, see the module
    docstring), so when it is at most :math:`n` a new exchangeable continuous score falls
    below the threshold with probability in :math:`[1-\alpha, 1-\alpha+1/(n+1))`. Jitted on
    the rank, so a second call with new scores of the same shape, and any ``alpha`` giving the
    same rank, does not recompile.

    Args:
        scores: calibration nonconformity scores, shape ``(n,)`` or ``(n, d)``.
        alpha: miscoverage level in ``(0, 1)``.

    Returns:
        Threshold, shape ``()`` or ``(d,)``.

    Raises:
        ValueError: ``alpha`` outside ``(0, 1)`` or non-finite scores.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import conformal_quantile
        >>> float(conformal_quantile(jnp.arange(1.0, 20.0), 0.1))  # ceil(20 * 0.9) = 18th
        18.0
        >>> float(conformal_quantile(jnp.arange(1.0, 10.0), 0.7))  # ceil(10 * 0.3) = 3rd
        3.0

    References:
        Vovk, V., Gammerman, A. and Shafer, G. (2005). Algorithmic Learning in a Random World.
        Springer. Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. and Wasserman, L. (2018).
        Distribution-free predictive inference for regression. JASA 113(523), 1094-1111.
    """
    alpha = check_probability("alpha", alpha)
    scores = as_array("scores", scores, ndim=(1, 2))
    return _order_statistic(scores, k=conformal_rank(scores.shape[0], alpha))


def _prepare(alpha, calibration, test, **arrays):
    """Validate ``alpha`` and the arrays: real, rank 1 or 2, the ``calibration`` arrays of one
    shape ``(n,)`` or ``(n, d)``, the ``test`` arrays of one shape ``(m,)`` or ``(m, d)`` with
    the same outputs ``d`` (one conformal quantile per output column)."""
    alpha = check_probability("alpha", alpha)
    out = {name: as_array(name, a, ndim=(1, 2)) for name, a in arrays.items()}
    first = calibration[0]
    for name in calibration[1:]:
        if out[name].shape != out[first].shape:
            raise ValueError(
                f"{name} must have the shape of {first}, {out[first].shape}, got {out[name].shape}"
            )
    lead = test[0]
    trailing = out[first].shape[1:]
    if out[lead].shape[1:] != trailing:
        want = "(m,)" if not trailing else f"(m, {trailing[0]})"
        raise ValueError(
            f"{lead} must have shape {want}, one column per output like {first} "
            f"{out[first].shape}, got {out[lead].shape}"
        )
    for name in test[1:]:
        if out[name].shape != out[lead].shape:
            raise ValueError(
                f"{name} must have the shape of {lead}, {out[lead].shape}, got {out[name].shape}"
            )
    return alpha, out


def split_conformal(
    y_cal: ArrayLike, mean_cal: ArrayLike, mean_test: ArrayLike, alpha: float
) -> tuple[jax.Array, jax.Array]:
    r"""Split conformal intervals from absolute residuals.

    Scores :math:`s_i = |y_i - \hat\mu(x_i)|` on the calibration set; the interval at a test
    point is :math:`\hat\mu(x) \pm \hat q` with :math:`\hat q` = :func:`conformal_quantile`.
    Coverage :math:`\ge 1-\alpha` in finite samples. Cost :math:`O(n\log n + m)`.

    Args:
        y_cal: calibration targets, shape ``(n,)`` or ``(n, d)``.
        mean_cal: point predictions on the calibration inputs, same shape.
        mean_test: point predictions on ``m`` test inputs, shape ``(m,)`` or ``(m, d)``.
        alpha: miscoverage level in ``(0, 1)``.

    Returns:
        ``(lower, upper)``, each shaped like ``mean_test``.

    Raises:
        ValueError: ``alpha`` outside ``(0, 1)``; ``mean_cal`` not of the shape of ``y_cal``,
            or ``mean_test`` with other output columns; complex, NaN or infinite entries.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.uq import split_conformal
        >>> y = jax.random.normal(jax.random.key(0), (99,))
        >>> lo, hi = split_conformal(y, jnp.zeros(99), jnp.zeros(5), 0.1)

    References:
        Lei, J. et al. (2018). Distribution-free predictive inference for regression. JASA
        113(523), 1094-1111.
    """
    alpha, a = _prepare(
        alpha,
        ("y_cal", "mean_cal"),
        ("mean_test",),
        y_cal=y_cal,
        mean_cal=mean_cal,
        mean_test=mean_test,
    )
    q = conformal_quantile(jnp.abs(a["y_cal"] - a["mean_cal"]), alpha)
    return a["mean_test"] - q, a["mean_test"] + q


def normalized_conformal(
    y_cal: ArrayLike,
    mean_cal: ArrayLike,
    scale_cal: ArrayLike,
    mean_test: ArrayLike,
    scale_test: ArrayLike,
    alpha: float,
) -> tuple[jax.Array, jax.Array]:
    r"""Normalised (locally weighted) split conformal intervals.

    Scores :math:`s_i = |y_i-\hat\mu(x_i)|/\hat\sigma(x_i)` with a positive scale estimate
    (e.g. a predictive standard deviation); intervals :math:`\hat\mu(x)\pm\hat q\,\hat\sigma(x)`
    adapt their width to the input while keeping coverage :math:`\ge 1-\alpha`.

    Args:
        y_cal: calibration targets, shape ``(n,)`` or ``(n, d)``.
        mean_cal: calibration predictions, same shape.
        scale_cal: positive calibration scales, same shape.
        mean_test: test predictions, shape ``(m,)`` or ``(m, d)``.
        scale_test: positive test scales, same shape as ``mean_test``.
        alpha: miscoverage level in ``(0, 1)``.

    Returns:
        ``(lower, upper)``, each shaped like ``mean_test``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import normalized_conformal
        >>> lo, hi = normalized_conformal(
        ...     jnp.arange(9.0), jnp.zeros(9), jnp.ones(9), jnp.zeros(2), jnp.ones(2), 0.2)

    References:
        Papadopoulos, H., Proedrou, K., Vovk, V. and Gammerman, A. (2002). Inductive confidence
        machines for regression. ECML. Lei, J. et al. (2018), JASA 113(523), Sec. 5.2.
    """
    alpha, a = _prepare(
        alpha,
        ("y_cal", "mean_cal", "scale_cal"),
        ("mean_test", "scale_test"),
        y_cal=y_cal,
        mean_cal=mean_cal,
        scale_cal=scale_cal,
        mean_test=mean_test,
        scale_test=scale_test,
    )
    for name in ("scale_cal", "scale_test"):
        if is_concrete(a[name]) and not bool(jnp.all(a[name] > 0)):
            raise ValueError(f"{name} must be positive")
    q = conformal_quantile(jnp.abs(a["y_cal"] - a["mean_cal"]) / a["scale_cal"], alpha)
    return a["mean_test"] - q * a["scale_test"], a["mean_test"] + q * a["scale_test"]


def conformalized_quantile_regression(
    y_cal: ArrayLike,
    lower_cal: ArrayLike,
    upper_cal: ArrayLike,
    lower_test: ArrayLike,
    upper_test: ArrayLike,
    alpha: float,
) -> tuple[jax.Array, jax.Array]:
    r"""Conformalised quantile regression (CQR) of Romano, Patterson & Candès (2019).

    Given estimated :math:`\alpha/2` and :math:`1-\alpha/2` conditional quantiles
    :math:`\hat q_{lo}, \hat q_{hi}` (e.g. a predictive's central interval), the scores are
    :math:`E_i = \max(\hat q_{lo}(x_i) - y_i,\; y_i - \hat q_{hi}(x_i))` and the interval is
    :math:`[\hat q_{lo}(x) - \hat Q,\; \hat q_{hi}(x) + \hat Q]` with :math:`\hat Q` the
    conformal quantile of the :math:`E_i` (negative :math:`\hat Q` shrinks the band).
    Coverage :math:`\ge 1-\alpha` in finite samples (Theorem 1).

    Args:
        y_cal: calibration targets, shape ``(n,)`` or ``(n, d)``.
        lower_cal: lower quantile estimates on the calibration inputs, same shape.
        upper_cal: upper quantile estimates on the calibration inputs, same shape.
        lower_test: lower estimates on test inputs, shape ``(m,)`` or ``(m, d)``.
        upper_test: upper estimates on test inputs, same shape.
        alpha: miscoverage level in ``(0, 1)``.

    Returns:
        ``(lower, upper)``, each shaped like ``lower_test``.

    Example:
        >>> import jax.numpy as jnp
        >>> from edtjax.uq import conformalized_quantile_regression
        >>> lo, hi = conformalized_quantile_regression(
        ...     jnp.arange(9.0), -jnp.ones(9), jnp.ones(9), -jnp.ones(2), jnp.ones(2), 0.2)

    References:
        Romano, Y., Patterson, E. and Candès, E. (2019). Conformalized quantile regression.
        NeurIPS 32.
    """
    alpha, a = _prepare(
        alpha,
        ("y_cal", "lower_cal", "upper_cal"),
        ("lower_test", "upper_test"),
        y_cal=y_cal,
        lower_cal=lower_cal,
        upper_cal=upper_cal,
        lower_test=lower_test,
        upper_test=upper_test,
    )
    scores = jnp.maximum(a["lower_cal"] - a["y_cal"], a["y_cal"] - a["upper_cal"])
    q = conformal_quantile(scores, alpha)
    return a["lower_test"] - q, a["upper_test"] + q
