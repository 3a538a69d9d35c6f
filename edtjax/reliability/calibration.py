"""Split-conformal calibration of an indicator: thresholds with a finite-sample false-alarm
guarantee and per-query conformal p-values."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax import _conformal
from edtjax._checks import check_memory, is_concrete
from edtjax._sharding import device_mesh
from edtjax._typing import ArrayLike, Devices, PyTree
from edtjax.reliability import _validate
from edtjax.reliability._scoring import score_rows
from edtjax.reliability.indicator import Indicator

__all__ = ["Calibration", "calibrate", "conformal_p_values", "minimum_calibration_size"]

_CHUNK = 2**22  # calibration rows scored per call of the indicator


class Calibration(NamedTuple):
    """A calibrated indicator.

    Attributes:
        scores: ``(n,)`` calibration scores, sorted ascending.
        threshold: scalar, the ``k``-th smallest calibration score, ``k = ⌈(n + 1)(1 - α)⌉``;
            a query is flagged (judged outside the domain) when its score exceeds it.
        alpha: scalar target false-alarm rate ``α``.
        key: PRNG key for the smoothed p-values of :func:`conformal_p_values`.
    """

    scores: jax.Array
    threshold: jax.Array
    alpha: jax.Array
    key: jax.Array


def minimum_calibration_size(alpha: float) -> int:
    """Smallest calibration-set size for which level ``alpha`` can be guaranteed.

    The threshold is the ``⌈(n + 1)(1 - α)⌉``-th smallest of ``n`` scores, which exists only
    when ``n >= 1/α - 1``.

    Args:
        alpha: level in ``(0, 1)``.

    Returns:
        The minimum ``n`` (Python int).

    Example:
        >>> minimum_calibration_size(0.1), minimum_calibration_size(0.05)
        (9, 19)
    """
    return _conformal.minimum_calibration_size(_validate.alpha(alpha))


@jax.jit
def _calibrate(scores: jax.Array, k: jax.Array, alpha: jax.Array, key: jax.Array) -> Calibration:
    sorted_scores = jnp.sort(scores)
    return Calibration(sorted_scores, sorted_scores[k - 1], alpha, key)


def calibrate(
    key: jax.Array,
    indicator: Indicator,
    state: PyTree,
    x_calibration: ArrayLike,
    alpha: float,
    *,
    devices: Devices = None,
) -> Calibration:
    """Split-conformal calibration of an indicator on held-out in-domain inputs.

    With ``s_1 <= ... <= s_n`` the scores of ``n`` calibration inputs drawn from the training
    distribution (and not used by ``fit``), the threshold is ``t = s_(k)``,
    ``k = ⌈(n + 1)(1 - α)⌉``. For a new in-domain query exchangeable with the calibration set,
    ``P(score > t) <= α`` (and ``>= α - 1/(n + 1)`` when scores have no ties), whatever the
    indicator and the distribution (Vovk et al. 2005, Lei et al. 2018). Equivalently a query is
    flagged iff its conformal p-value (:func:`conformal_p_values`) is ``<= α``.

    Args:
        key: PRNG key, kept for the optional smoothed (randomised tie-breaking) p-values.
        indicator: an :class:`edtjax.reliability.Indicator`.
        state: its fitted state (fitted on data disjoint from ``x_calibration``).
        x_calibration: ``(n, d)`` in-domain inputs, ``n >= 1/α - 1``.
        alpha: target false-alarm rate in ``(0, 1)``.
        devices: ``None`` (one device), an int ``k`` (the first ``k`` of ``jax.devices()``), a
            sequence of ``jax.Device`` or a one-axis ``jax.sharding.Mesh``: split the scoring
            of the calibration inputs over these devices with :func:`jax.shard_map` (the state
            replicated, ``ceil(n / k)`` inputs each, in one jitted program with
            ``indicator.score`` static). Indicators score rows independently, so the scores
            agree with ``devices=None`` up to the rounding of compiled versus op-by-op
            execution, and the threshold is one of them.

    Returns:
        :class:`Calibration`. Cost: one scoring of ``n`` inputs (divided among the devices;
        above ``2^22`` rows, in consecutive chunks of ``2^22`` rows, which bounds the
        indicator's working memory) plus ``O(n log n)``.

    Raises:
        ValueError: ``alpha`` outside ``(0, 1)``, too few calibration inputs (the message gives
            the minimum), non-finite or wrongly shaped inputs, bad ``devices``, non-finite
            calibration scores (a degenerate indicator: the message says how many), or a
            calibration set too large for the device's memory (checked before anything is
            allocated: ``n (d + 4)`` numbers against half the memory; the message says how much
            and to calibrate on a random subset of the rows).

    Example:
        >>> import jax
        >>> from edtjax.reliability import calibrate, mahalanobis_indicator
        >>> ind = mahalanobis_indicator()
        >>> x = jax.random.normal(jax.random.key(0), (300, 2))
        >>> state = ind.fit(jax.random.key(1), x[:200])
        >>> cal = calibrate(jax.random.key(2), ind, state, x[200:], 0.1)
        >>> cal.scores.shape
        (100,)
        >>> cal_all = calibrate(jax.random.key(2), ind, state, x[200:], 0.1,
        ...                     devices=len(jax.devices()))
        >>> cal_all.scores.shape
        (100,)

    References:
        Vovk, V., Gammerman, A. & Shafer, G. (2005). Algorithmic Learning in a Random World.
        Springer. Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. & Wasserman, L. (2018).
        Distribution-free predictive inference for regression. JASA 113(523), 1094-1111.
        Bates, S., Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers
        with conformal p-values. Ann. Statist. 51(1), 149-178.
    """
    alpha = _validate.alpha(alpha)
    indicator = _validate.indicator(indicator)
    mesh = device_mesh(devices)
    _check_calibration_memory(x_calibration)
    x_calibration = _validate.queries("x_calibration", indicator, state, x_calibration)
    n = x_calibration.shape[0]
    n_min = _conformal.minimum_calibration_size(alpha)
    if n < n_min:
        raise ValueError(
            f"x_calibration must have at least {n_min} rows for alpha = {alpha} "
            f"(n >= 1/alpha - 1), got {n}"
        )
    if n <= _CHUNK:
        scores = score_rows(indicator, state, x_calibration, mesh)
    else:  # rows are scored independently: bound the indicator's working memory
        scores = jnp.concatenate(
            [
                score_rows(indicator, state, x_calibration[i : i + _CHUNK], mesh)
                for i in range(0, n, _CHUNK)
            ]
        )
    _check_scores(scores, n)
    k = _conformal.conformal_rank(n, alpha)
    return _calibrate(scores, jnp.asarray(k), jnp.asarray(alpha, scores.dtype), key)


def _check_calibration_memory(x_calibration: ArrayLike) -> None:
    """Refuse, before anything is allocated, a calibration set whose scoring cannot fit.

    Counts what :func:`calibrate` itself holds: the inputs in the working dtype (``n d``
    numbers) and about four arrays of ``n`` scores (the scores, their sorted copy kept in the
    :class:`Calibration`, and the sort's working copies). The indicator's own working memory
    comes on top, for at most ``_CHUNK`` rows at a time.
    """
    shape = getattr(x_calibration, "shape", None)
    dtype = getattr(x_calibration, "dtype", None)
    if shape is None or len(shape) != 2:
        return  # lists, scalars and wrong ranks are converted and reported by the validation
    if dtype is None or not np.issubdtype(np.dtype(dtype), np.floating):
        dtype = np.float64
    itemsize = np.dtype(jax.dtypes.canonicalize_dtype(dtype)).itemsize
    n, d = int(shape[0]), int(shape[1])
    nbytes = float(n) * (d + 4) * itemsize
    check_memory(
        f"calibrating on x_calibration of {n} rows x {d} columns",
        nbytes,
        "the rows of x_calibration: a random subset of 10**5 to 10**6 rows keeps the "
        "guarantee (it holds for any n >= 1/alpha - 1, with slack 1/(n + 1))",
    )


def _check_scores(scores: jax.Array, n: int) -> None:
    """Raise if the indicator returned NaN or infinite calibration scores (a degenerate state)."""
    if not is_concrete(scores):
        return
    bad = np.flatnonzero(~np.isfinite(np.asarray(scores)))
    if bad.size:
        raise ValueError(
            f"the indicator returned {bad.size} non-finite (NaN or inf) scores on the {n} rows "
            f"of x_calibration (first at rows {bad[:5].tolist()}): the indicator is degenerate "
            "for these data (its fitted state or its score breaks down on them, e.g. a "
            "singular covariance or a constant feature), so no threshold can be calibrated; "
            "fix the training inputs or choose another indicator"
        )


@jax.jit
def _p_values(calibration: Calibration, scores: jax.Array) -> jax.Array:
    return _conformal.p_values(calibration.scores, scores)


@jax.jit
def _smoothed_p_values(calibration: Calibration, scores: jax.Array) -> jax.Array:
    return _conformal.smoothed_p_values(calibration.key, calibration.scores, scores)


def conformal_p_values(
    calibration: Calibration, scores: ArrayLike, *, smoothed: bool = False
) -> jax.Array:
    """Conformal p-values of query scores against the calibration scores.

    ``p(s) = (1 + #{i : s_i >= s}) / (n + 1)``: under exchangeability of an in-domain query
    with the calibration set, ``P(p <= u) <= u`` for all ``u`` (super-uniform), so
    ``p <= α`` is exactly the flagging rule of :func:`calibrate`. With ``smoothed=True`` ties
    are broken at random, ``p = (#{s_i > s} + U (1 + #{s_i = s})) / (n + 1)`` with ``U``
    uniform from ``calibration.key``, which is exactly uniform (useful for discrete scores such
    as the lens depth).

    Args:
        calibration: output of :func:`calibrate`.
        scores: ``(m,)`` query scores from the same indicator and state.
        smoothed: randomised tie-breaking.

    Returns:
        ``(m,)`` p-values in ``(0, 1]``. Cost ``O(m log n)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> cal = Calibration(jnp.arange(1.0, 10.0), jnp.array(9.0), jnp.array(0.1),
        ...                   jax.random.key(0))
        >>> [round(float(p), 3) for p in conformal_p_values(cal, jnp.array([0.5, 5.5, 9.5]))]
        [1.0, 0.5, 0.1]

    References:
        Bates, S., Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers
        with conformal p-values. Ann. Statist. 51(1), 149-178.
    """
    if not isinstance(calibration, Calibration):
        raise ValueError(f"calibration must be a Calibration, got {type(calibration).__name__}")
    scores = _validate.as_array("scores", scores, ndim=1).astype(calibration.scores.dtype)
    if smoothed:
        return _smoothed_p_values(calibration, scores)
    return _p_values(calibration, scores)
