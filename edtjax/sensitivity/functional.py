"""Sensitivity of functional (time-series) outputs: index trajectories over time and generalised
indices aggregated over a time window."""

from __future__ import annotations

from statistics import NormalDist
from typing import NamedTuple

import jax
import jax.numpy as jnp

from edtjax._checks import as_array, check_probability
from edtjax._typing import ArrayLike, PRNGKey
from edtjax.sensitivity.estimators import Interval, sobol_indices_from_outputs
from edtjax.sensitivity.given_data import given_data_first_order

__all__ = ["IndexTrajectories", "index_trajectories"]


class IndexTrajectories(NamedTuple):
    """Sensitivity indices of ``d`` inputs along ``T`` output times, and over a window.

    Attributes:
        times: ``(T,)`` output times.
        first_order: ``(d, T)`` first-order Sobol' index of each input at each time.
        first_order_interval: :class:`~edtjax.sensitivity.Interval` of ``first_order``, or
            ``None`` (given data with too few rows for batches).
        total_order: ``(d, T)`` total indices, or ``None`` (given data has none).
        total_order_interval: their :class:`~edtjax.sensitivity.Interval`, or ``None``.
        window: ``(T,)`` booleans, the times aggregated over.
        aggregated_first_order: ``(d,)`` generalised first-order index over the window.
        aggregated_first_order_interval: its :class:`~edtjax.sensitivity.Interval`, or
            ``None``.
        aggregated_total_order: ``(d,)`` generalised total index over the window, or ``None``.
        aggregated_total_order_interval: its :class:`~edtjax.sensitivity.Interval`, or
            ``None``.
    """

    times: jax.Array
    first_order: jax.Array
    first_order_interval: Interval | None
    total_order: jax.Array | None
    total_order_interval: Interval | None
    window: jax.Array
    aggregated_first_order: jax.Array
    aggregated_first_order_interval: Interval | None
    aggregated_total_order: jax.Array | None
    aggregated_total_order_interval: Interval | None


def _window_mask(times, window):
    if window is None:
        return jnp.ones(times.shape, bool)
    try:
        start, stop = (float(w) for w in window)
    except (TypeError, ValueError) as err:
        raise ValueError(f"window must be a pair (start, stop) of times, got {window!r}") from err
    mask = (times >= start) & (times <= stop)
    if not bool(jnp.any(mask)):
        raise ValueError(f"window {window!r} holds none of the times")
    return mask


def _symmetric(value, stderr, confidence):
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return Interval(value - z * stderr, value + z * stderr)


def index_trajectories(
    key: PRNGKey,
    y: ArrayLike,
    *,
    x: ArrayLike | None = None,
    y_b: ArrayLike | None = None,
    y_ab: ArrayLike | None = None,
    times: ArrayLike | None = None,
    window: tuple[float, float] | None = None,
    estimator: str = "janon2014",
    num_bootstrap: int = 0,
    confidence: float = 0.95,
) -> IndexTrajectories:
    r"""Sobol' index trajectories of a time-series output and generalised indices over a window.

    For an output history ``Y(t)`` observed at ``T`` times, the first-order index of input
    ``i`` at each time, ``S_i(t) = Var(E[Y(t) | X_i]) / Var(Y(t))`` (and the total index
    ``T_i(t)`` from a pick-freeze design), and the generalised (aggregated) index of Gamboa,
    Janon, Klein and Lagnoux (2014) over the times ``W`` of a window,

    ``S_i(W) = sum_(t in W) Var(E[Y(t) | X_i]) / sum_(t in W) Var(Y(t))``,

    the average of ``S_i(t)`` weighted by the output variance at each time: it ranks the
    inputs by their share of the variance of the whole window, which the trajectories alone
    do not (an index near 1 at a time where ``Y`` hardly varies counts for little).

    Two sources of outputs:

    * a pick-freeze design (pass ``y_b`` and ``y_ab``): ``y = f(A)``, ``y_b = f(B)``,
      ``y_ab = f(AB_i)`` as for :func:`edtjax.sensitivity.sobol_indices_from_outputs`
      (the design of :func:`edtjax.sensitivity.saltelli_design`), whose estimators give the
      trajectories (first and total, with delta-method intervals, or bootstrap ones with
      ``num_bootstrap``) on all times and, run on the window's times, the aggregated indices
      with their delta-method intervals;
    * one i.i.d. sample (pass ``x``): :func:`edtjax.sensitivity.given_data_first_order` gives
      the first-order trajectories with their batch-means intervals and the aggregated index;
      its interval is ``[sum_t w_t low_t, sum_t w_t high_t]`` with ``w_t`` the share of the
      window's variance at time ``t``, conservative whatever the correlation of the errors at
      different times (the standard deviation of a weighted sum is at most the weighted sum
      of the standard deviations), the noise of the weights aside.

    Cost: that of the estimator on ``T`` output components, twice (all times, then the window).

    Args:
        key: PRNG key of the bootstrap (pick-freeze only; unused otherwise).
        y: ``(n, T)`` output histories, on ``A`` for a pick-freeze design.
        x: ``(n, d)`` i.i.d. inputs of a given sample (then leave ``y_b`` and ``y_ab`` out).
        y_b: ``(n, T)`` outputs on ``B`` of a pick-freeze design.
        y_ab: ``(d, n, T)`` outputs on ``AB_i`` of a pick-freeze design.
        times: ``(T,)`` output times (``0, 1, ..., T - 1`` if ``None``).
        window: ``(start, stop)``: aggregate over the times in ``[start, stop]``; ``None`` for
            all times.
        estimator: first-order pick-freeze estimator (``"janon2014"`` or ``"saltelli2010"``).
        num_bootstrap: pick-freeze bootstrap resamples for the trajectories' intervals (0:
            delta method).
        confidence: level of every interval, in ``(0, 1)``.

    Returns:
        :class:`IndexTrajectories`; plot it with
        :func:`edtjax.report.plot_index_trajectories`.

    Raises:
        ValueError: both or neither of ``x`` and (``y_b``, ``y_ab``), outputs not of shape
            ``(n, T)``, ``times`` not ``(T,)``, a window holding no time, or the errors of the
            estimators (constant outputs, bad options).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> t = jnp.linspace(0.0, 1.0, 5)
        >>> x = jax.random.uniform(jax.random.key(0), (4096, 2))
        >>> y = x[:, :1] * t + x[:, 1:] * (1.0 - t)  # X1 matters late, X2 early
        >>> r = index_trajectories(None, y, x=x, times=t, window=(0.5, 1.0))
        >>> [round(float(v), 1) for v in r.first_order[0, 1:]]  # t^2 / (t^2 + (1 - t)^2)
        [0.1, 0.5, 0.9, 1.0]
        >>> bool(r.aggregated_first_order[0] > 0.8)
        True

        A thermodiffusion example is on the sensitivity API page.

    References:
        Gamboa, F., Janon, A., Klein, T., Lagnoux, A. (2014). Sensitivity analysis for
        multidimensional and functional outputs. Electron. J. Statist. 8, 575-603.
        Lamboni, M., Monod, H., Makowski, D. (2011). Multivariate sensitivity analysis to
        measure global contribution of input factors in dynamic models. Reliab. Eng. Syst.
        Saf. 96, 450-459.
    """
    confidence = float(check_probability("confidence", confidence))
    y = as_array("y", y, ndim=2)
    num_times = y.shape[1]
    pick_freeze = y_b is not None or y_ab is not None
    if (x is not None) == pick_freeze or (pick_freeze and (y_b is None or y_ab is None)):
        raise ValueError("pass either x (given data) or both y_b and y_ab (pick-freeze design)")
    if times is None:
        times = jnp.arange(num_times, dtype=y.dtype)
    times = as_array("times", times, ndim=1)
    if times.shape[0] != num_times:
        raise ValueError(
            f"times must have shape ({num_times},) like y's columns, got {times.shape}"
        )
    mask = _window_mask(times, window)
    if pick_freeze:
        y_b = as_array("y_b", y_b, ndim=2)
        y_ab = as_array("y_ab", y_ab, ndim=3)
        opts = {"estimator": estimator, "confidence": confidence}
        full = sobol_indices_from_outputs(key, y, y_b, y_ab, num_bootstrap=num_bootstrap, **opts)
        part = sobol_indices_from_outputs(key, y[:, mask], y_b[:, mask], y_ab[..., mask], **opts)
        return IndexTrajectories(
            times=times,
            first_order=full.first_order,
            first_order_interval=full.first_order_bootstrap or full.first_order_interval,
            total_order=full.total_order,
            total_order_interval=full.total_order_bootstrap or full.total_order_interval,
            window=mask,
            aggregated_first_order=part.aggregated_first_order,
            aggregated_first_order_interval=_symmetric(
                part.aggregated_first_order, part.aggregated_first_order_stderr, confidence
            ),
            aggregated_total_order=part.aggregated_total_order,
            aggregated_total_order_interval=_symmetric(
                part.aggregated_total_order, part.aggregated_total_order_stderr, confidence
            ),
        )
    full = given_data_first_order(x, y, confidence=confidence)
    var = jnp.var(y[:, mask], axis=0)
    weights = var / jnp.sum(var)
    aggregated = full.first_order[:, mask] @ weights
    interval = full.first_order_interval
    agg_interval = None
    if interval is not None:
        agg_interval = Interval(interval.low[:, mask] @ weights, interval.high[:, mask] @ weights)
    return IndexTrajectories(
        times=times,
        first_order=full.first_order,
        first_order_interval=interval,
        total_order=None,
        total_order_interval=None,
        window=mask,
        aggregated_first_order=aggregated,
        aggregated_first_order_interval=agg_interval,
        aggregated_total_order=None,
        aggregated_total_order_interval=None,
    )
