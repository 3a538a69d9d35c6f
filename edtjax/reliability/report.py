"""Validity reports: per-query p-values and verdicts, and the metrics that evaluate an
indicator (false-alarm rate, detection rate, AUROC, rank correlation with the actual error)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._checks import as_array
from edtjax._sharding import device_mesh
from edtjax._typing import ArrayLike, Devices, PyTree
from edtjax.depth import auroc
from edtjax.reliability import _validate
from edtjax.reliability._scoring import score_rows
from edtjax.reliability.calibration import Calibration, conformal_p_values
from edtjax.reliability.indicator import Indicator

__all__ = ["ValidityReport", "spearman_correlation", "validity_report"]


class ValidityReport(NamedTuple):
    """Per-query decisions and, where labels or errors are given, evaluation metrics.

    Attributes:
        scores: ``(m,)`` indicator scores.
        p_values: ``(m,)`` conformal p-values.
        outside: ``(m,)`` verdicts, True when the query is judged outside the domain
            (``score > threshold``, equivalently ``p <= α``).
        intervals: ``(m, 2)`` or ``(m, p, 2)`` surrogate predictive intervals, or None.
        errors: ``(m,)`` actual surrogate errors, or None.
        false_alarm_rate: fraction of in-domain queries flagged (NaN without ``in_domain``).
        detection_rate: fraction of out-of-domain queries flagged (NaN without them).
        auroc: AUROC of the score separating out- from in-domain queries (NaN without both).
        error_spearman: Spearman rank correlation of score and error (NaN without ``errors``).
    """

    scores: jax.Array
    p_values: jax.Array
    outside: jax.Array
    intervals: jax.Array | None
    errors: jax.Array | None
    false_alarm_rate: float
    detection_rate: float
    auroc: float
    error_spearman: float


@jax.jit
def _spearman(a: jax.Array, b: jax.Array) -> jax.Array:
    ra = jax.scipy.stats.rankdata(a)
    rb = jax.scipy.stats.rankdata(b)
    ra, rb = ra - jnp.mean(ra), rb - jnp.mean(rb)
    return jnp.sum(ra * rb) / jnp.sqrt(jnp.sum(ra**2) * jnp.sum(rb**2))


def spearman_correlation(a: ArrayLike, b: ArrayLike) -> jax.Array:
    """Spearman rank correlation: the Pearson correlation of the (average, for ties) ranks.

    Args:
        a: ``(m,)`` values, ``m >= 2``.
        b: ``(m,)`` values.

    Returns:
        Scalar in ``[-1, 1]`` (NaN if either input is constant). Cost ``O(m log m)``.

    Example:
        >>> import jax.numpy as jnp
        >>> float(spearman_correlation(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 4.0, 9.0])))
        1.0

    References:
        Spearman, C. (1904). The proof and measurement of association between two things.
        Am. J. Psychol. 15(1), 72-101.
    """
    a = as_array("a", a, ndim=1)
    b = as_array("b", b, ndim=1)
    if a.shape != b.shape or a.shape[0] < 2:
        raise ValueError(f"a and b must have the same length >= 2, got {a.shape} and {b.shape}")
    dtype = jnp.result_type(a.dtype, b.dtype, float)
    return _spearman(a.astype(dtype), b.astype(dtype))


def validity_report(
    indicator: Indicator,
    state: PyTree,
    calibration: Calibration,
    x_query: ArrayLike,
    *,
    in_domain: ArrayLike | None = None,
    intervals: ArrayLike | None = None,
    errors: ArrayLike | None = None,
    devices: Devices = None,
) -> ValidityReport:
    """Score, test and, where the truth is known, evaluate a set of queries.

    Each query gets its score, its conformal p-value and the verdict ``p <= α`` (outside the
    domain of validity). When ``in_domain`` labels are given (e.g. an in-box test set and a
    shifted set stacked together) the report gives the false-alarm rate on in-domain queries
    (``<= α`` in expectation by the conformal guarantee), the detection rate on the others and
    the AUROC of the score; when the surrogate's actual ``errors`` are given, the Spearman rank
    correlation between score and error, which measures whether the score tracks the error.

    Args:
        indicator: the :class:`Indicator`.
        state: its fitted state.
        calibration: :func:`edtjax.reliability.calibrate` output for this indicator and state.
        x_query: ``(m, d)`` queries.
        in_domain: optional ``(m,)`` booleans, True for queries from the training distribution.
        intervals: optional surrogate predictive intervals, leading axis ``m``, carried along.
        errors: optional ``(m,)`` actual surrogate errors (e.g. absolute error).
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: split the scoring
            of the queries over these devices with :func:`jax.shard_map` (the state
            replicated, ``ceil(m / k)`` queries each, in one jitted program with
            ``indicator.score`` static). Indicators score rows independently, so the scores
            agree with ``devices=None`` up to the rounding of compiled versus op-by-op
            execution. When ``k`` divides ``m``, ``scores``, ``p_values`` and ``outside``
            come back sharded along the queries.

    Returns:
        :class:`ValidityReport`. Cost: one scoring of ``m`` queries (divided among the
        devices) plus ``O(m log m)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.reliability import calibrate, mahalanobis_indicator
        >>> ind = mahalanobis_indicator()
        >>> x = jax.random.normal(jax.random.key(0), (300, 2))
        >>> state = ind.fit(jax.random.key(1), x[:200])
        >>> cal = calibrate(jax.random.key(2), ind, state, x[200:], 0.1)
        >>> rep = validity_report(ind, state, cal, jnp.array([[0.0, 0.0], [9.0, 9.0]]),
        ...                       in_domain=jnp.array([True, False]))
        >>> rep.outside.tolist(), rep.detection_rate
        ([False, True], 1.0)

    References:
        Bates, S., Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers
        with conformal p-values. Ann. Statist. 51(1), 149-178.
    """
    indicator = _validate.indicator(indicator)
    if not isinstance(calibration, Calibration):
        raise ValueError(f"calibration must be a Calibration, got {type(calibration).__name__}")
    mesh = device_mesh(devices)
    x_query = _validate.queries("x_query", indicator, state, x_query)
    m = x_query.shape[0]
    scores = score_rows(indicator, state, x_query, mesh)
    p_values = conformal_p_values(calibration, scores)
    outside = scores > calibration.threshold
    nan = float("nan")
    false_alarm = detection = area = rho = nan
    if in_domain is not None:
        labels = np.asarray(in_domain)
        if labels.shape != (m,) or labels.dtype != bool:
            raise ValueError(f"in_domain must be a boolean array of shape ({m},), got {labels}")
        flagged = np.asarray(outside)
        if labels.any():
            false_alarm = float(flagged[labels].mean())
        if (~labels).any():
            detection = float(flagged[~labels].mean())
        if labels.any() and (~labels).any():
            area = float(auroc(scores[labels], scores[~labels]))
    if intervals is not None:
        intervals = as_array("intervals", intervals)
        if intervals.ndim < 2 or intervals.shape[0] != m or intervals.shape[-1] != 2:
            raise ValueError(f"intervals must have shape ({m}, ..., 2), got {intervals.shape}")
    if errors is not None:
        errors = as_array("errors", errors, ndim=1)
        if errors.shape[0] != m:
            raise ValueError(f"errors must have shape ({m},), got {errors.shape}")
        rho = float(spearman_correlation(scores, errors)) if m >= 2 else nan
    return ValidityReport(
        scores, p_values, outside, intervals, errors, false_alarm, detection, area, rho
    )
