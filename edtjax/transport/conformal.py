r"""Optimal-transport conformal prediction regions for multi-output regressors (OTCP).

For a regressor :math:`\hat\mu : \mathcal{X} \to \mathbb{R}^d`, residuals
:math:`r = y - \hat\mu(x)` are ordered center-outward by their transport to the spherical
uniform, following Thurin, Nadjahi and Boyer (2025). The held-out residuals are split in two
exchangeable parts:

1. a *fit* part defines the smooth center-outward distribution function
   :math:`\hat{\mathbf{F}}_\pm` of the residuals (:func:`~edtjax.transport.center_outward_fit`);
2. a *calibration* part gives scores :math:`s_i = \|\hat{\mathbf{F}}_\pm(r_i)\|`,
   :math:`i = 1..n`, and the threshold :math:`\hat t = s_{(\lceil (n+1)(1-\alpha)\rceil)}`
   (:math:`\hat t = 1`, the whole space, if that order exceeds :math:`n`), the rank computed
   exactly, so that float rounding of :math:`(n+1)(1-\alpha)` cannot raise it by one.

The region for a new input is :math:`\hat C(x) = \{y : \|\hat{\mathbf{F}}_\pm(y - \hat\mu(x))\| \le
\hat t\}`, a center-outward quantile region of the residual law centred at the prediction: it
adapts to the shape (correlation, skewness, heavy tails) of the multivariate residuals instead of
being a box or a ball. Because the score function is fixed before the calibration points are
seen, the split-conformal argument gives, for exchangeable data, the finite-sample guarantee

.. math::

    1 - \alpha \le \Pr\big(y_{n+1} \in \hat C(x_{n+1})\big) \le 1 - \alpha + \frac{1}{n+1}

(upper bound when scores have no ties). Cost: one Sinkhorn fit on the fit part plus
:math:`O(k n_{\mathrm{fit}} d)` per batch of :math:`k` queries.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax import _checks, _conformal
from edtjax._typing import ArrayLike
from edtjax.transport._quantile import check_num_points, knots, quantile
from edtjax.transport.center_outward import CenterOutwardFit, center_outward_fit
from edtjax.transport.reference import sphere_directions

__all__ = [
    "OTConformalRegion",
    "ot_conformal_boundary",
    "ot_conformal_calibrate",
    "ot_conformal_contains",
]


class OTConformalRegion(NamedTuple):
    r"""Calibrated OT conformal region.

    Attributes:
        fit: center-outward functions of the residual law.
        threshold: :math:`\hat t`, the conformal quantile of calibration scores (scalar).
        alpha: the miscoverage level (scalar).
    """

    fit: CenterOutwardFit
    threshold: jax.Array
    alpha: jax.Array


def ot_conformal_calibrate(
    residuals_fit: ArrayLike,
    residuals_calibration: ArrayLike,
    alpha: float,
    *,
    epsilon: float | None = None,
    threshold: float = 1e-3,
    max_iterations: int = 2000,
) -> OTConformalRegion:
    r"""Calibrate an OT conformal region from two independent sets of held-out residuals.

    Args:
        residuals_fit: residuals :math:`y - \hat\mu(x)` used to fit :math:`\hat{\mathbf{F}}_\pm`,
            shape ``(n_fit, d)``.
        residuals_calibration: residuals used to calibrate the threshold, ``(n, d)``,
            exchangeable with future residuals and independent of ``residuals_fit``.
        alpha: miscoverage level in :math:`(0, 1)`.
        epsilon, threshold, max_iterations: passed to
            :func:`~edtjax.transport.center_outward_fit`.

    Returns:
        :class:`OTConformalRegion`.

    Raises:
        ValueError: mismatched dimensions, fewer than 2 points, NaN/inf, ``alpha`` not in (0, 1).

    Example:
        >>> import jax
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> region = ot_conformal_calibrate(
        ...     jax.random.normal(k1, (200, 2)), jax.random.normal(k2, (200, 2)), 0.1)
        >>> y_hat = jax.numpy.zeros((500, 2))
        >>> cover = ot_conformal_contains(region, y_hat, jax.random.normal(k3, (500, 2)))
        >>> bool(abs(float(cover.mean()) - 0.9) < 0.06)
        True

    References:
        Thurin, G., Nadjahi, K., Boyer, C. (2025). Optimal transport-based conformal
        prediction. ICML. Lei, J. et al. (2018). Distribution-free predictive inference for
        regression. J. Amer. Statist. Assoc. 113(523), 1094-1111.
    """
    alpha = _checks.check_probability("alpha", alpha)
    cal = _checks.as_array("residuals_calibration", residuals_calibration, ndim=2)
    fit = center_outward_fit(
        residuals_fit, epsilon=epsilon, threshold=threshold, max_iterations=max_iterations
    )
    d = fit.transport.x.shape[1]
    if cal.shape[1] != d:
        raise ValueError(
            f"residuals_calibration must have {d} columns like residuals_fit, got {cal.shape[1]}"
        )
    n = cal.shape[0]
    if n < 2:
        raise ValueError(f"residuals_calibration must have at least 2 points, got {n}")
    order = _conformal.conformal_rank(n, alpha)
    t = _conformal_threshold(fit, cal.astype(fit.transport.x.dtype), order)
    return OTConformalRegion(fit=fit, threshold=t, alpha=jnp.asarray(alpha, dtype=t.dtype))


@partial(jax.jit, static_argnames=("order",))
def _conformal_threshold(fit: CenterOutwardFit, residuals: jax.Array, order: int) -> jax.Array:
    scores = jnp.linalg.norm(fit.transport.apply(residuals), axis=-1)
    return _conformal.order_statistic(scores, order, 1.0)


def _check_pair(region: OTConformalRegion, name: str, value: ArrayLike) -> jax.Array:
    d = region.fit.transport.x.shape[1]
    arr = _checks.as_array(name, value, ndim=2)
    if arr.shape[1] != d:
        raise ValueError(f"{name} must have {d} columns, got {arr.shape[1]}")
    return arr.astype(region.fit.transport.x.dtype)


def ot_conformal_contains(
    region: OTConformalRegion, predictions: ArrayLike, targets: ArrayLike
) -> jax.Array:
    r"""Whether each target lies in the conformal region around its prediction.

    Args:
        region: from :func:`ot_conformal_calibrate`.
        predictions: :math:`\hat\mu(x)`, shape ``(k, d)``.
        targets: candidate outputs :math:`y`, shape ``(k, d)``.

    Returns:
        Boolean ``(k,)``: :math:`\|\hat{\mathbf{F}}_\pm(y - \hat\mu(x))\| \le \hat t`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> k1, k2 = jax.random.split(jax.random.key(0))
        >>> region = ot_conformal_calibrate(
        ...     jax.random.normal(k1, (100, 2)), jax.random.normal(k2, (100, 2)), 0.2)
        >>> ot_conformal_contains(region, jnp.zeros((2, 2)), jnp.array([[0.0, 0.0], [9.0, 9.0]]))
        Array([ True, False], dtype=bool)

    References:
        Thurin, G., Nadjahi, K., Boyer, C. (2025). Optimal transport-based conformal prediction.
    """
    predictions = _check_pair(region, "predictions", predictions)
    targets = _check_pair(region, "targets", targets)
    _checks.check_same_length(("predictions", "targets"), predictions, targets)
    scores = jnp.linalg.norm(region.fit.transport.apply(targets - predictions), axis=-1)
    return scores <= region.threshold


def ot_conformal_boundary(
    region: OTConformalRegion, predictions: ArrayLike, num_points: int
) -> jax.Array:
    r"""Boundary points of each region, :math:`\hat\mu(x) + \hat{\mathbf{Q}}_\pm(G(\hat t)\, S)`.

    The region is :math:`\{y : \|\mathbf{T}_\varepsilon(y - \hat\mu(x))\| \le \hat t\}` with
    :math:`\mathbf{T}_\varepsilon` the raw entropic map of the fit (the scores of
    :func:`ot_conformal_calibrate` are its norms), so its edge in the direction :math:`s` is
    the point :math:`r` with :math:`\mathbf{T}_\varepsilon(r) = \hat t\, s`. The calibrated
    quantile function :math:`\hat{\mathbf{Q}}_\pm` solves
    :math:`\mathbf{T}_\varepsilon(r) = G^{-1}(\|u\|)\, u/\|u\|` (see
    :func:`~edtjax.transport.center_outward_quantile`), so :math:`u = G(\hat t)\, s`, with
    :math:`G` the radial calibration of the fit, gives exactly that point: the points lie on
    the edge of the region tested by :func:`ot_conformal_contains`, to the accuracy of the
    Newton solve (the dtype's resolution).

    Args:
        region: from :func:`ot_conformal_calibrate`.
        predictions: shape ``(k, d)``.
        num_points: directions per region (equally spaced angles in ``d = 2``, so each row is an
            ordered closed polygon; low-discrepancy directions for ``d > 2``; 2 in ``d = 1``).

    Returns:
        Shape ``(k, num_points, d)``: the same residual contour shifted to each prediction.
        Cost: one Newton solve per direction, :math:`O(n_{\mathrm{fit}} d)` per step.

    Raises:
        ValueError: if ``predictions`` has the wrong number of columns, ``num_points < 1``,
            the region is the whole space (threshold 1: the calibration set is too small for
            ``alpha``), or the region is unbounded in some direction (the threshold exceeds
            the range of the fitted map there, the convex hull of the reference grid).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> k1, k2 = jax.random.split(jax.random.key(0))
        >>> region = ot_conformal_calibrate(
        ...     jax.random.normal(k1, (100, 2)), jax.random.normal(k2, (100, 2)), 0.2)
        >>> ot_conformal_boundary(region, jnp.zeros((3, 2)), 32).shape
        (3, 32, 2)

    References:
        Thurin, G., Nadjahi, K., Boyer, C. (2025). Optimal transport-based conformal prediction.
    """
    predictions = _check_pair(region, "predictions", predictions)
    d = predictions.shape[1]
    num_points = check_num_points(num_points, d)
    if _checks.is_concrete(region.threshold) and float(region.threshold) >= 1.0:
        raise ValueError(
            "region covers the whole space (threshold 1: ceil((n + 1)(1 - alpha)) exceeds the "
            "number n of calibration points), so it has no boundary; use more calibration "
            "points or a larger alpha"
        )
    directions = jnp.asarray(sphere_directions(num_points, d), dtype=predictions.dtype)
    shape = _boundary(region.fit, region.threshold, directions)
    if _checks.is_concrete(shape):
        bad = np.flatnonzero(np.isnan(np.asarray(shape)).any(axis=-1))
        if bad.size:
            raise ValueError(
                f"region is unbounded along directions {bad[:8].tolist()}: its threshold "
                f"{float(region.threshold):.6g} exceeds the range of the fitted map there (the "
                "convex hull of the reference grid); use a larger alpha, more calibration "
                "points or a larger epsilon"
            )
    return predictions[:, None, :] + shape[None, :, :]


@jax.jit
def _boundary(fit: CenterOutwardFit, t: jax.Array, directions: jax.Array) -> jax.Array:
    r"""Points :math:`r` with :math:`\mathbf{T}_\varepsilon(r) = t\, s` for each direction
    :math:`s`: the calibrated quantile at level :math:`G(t)` (NaN where unreachable)."""
    level = jnp.interp(t, *knots(fit.levels))
    return quantile(fit.transport, fit.levels, level * directions)
