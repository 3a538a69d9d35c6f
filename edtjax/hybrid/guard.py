r"""Guarded evaluation: the surrogate where its calibrated indicator accepts, the simulator
elsewhere.

For a batch of inputs :math:`x_1, \dots, x_m` the guard computes the surrogate's prediction
:math:`\hat\mu(x_j)` (and its scale :math:`\hat\sigma(x_j)`), the indicator score
:math:`s(x_j)` and its conformal p-value against the calibration scores
:math:`s_1, \dots, s_n`,

.. math::

    p_j = \frac{1 + \#\{i : s_i \ge s(x_j)\}}{n + 1},

and falls back to the simulator where :math:`p_j \le \alpha` (the indicator rejects: exactly
the flagging rule of :func:`edtjax.reliability.calibrate`) or, with a tolerance
:math:`w_{\max}`, where the normalised conformal interval
:math:`\hat\mu(x_j) \pm \hat q_{1-\alpha}\,\hat\sigma(x_j)` (Lei et al. 2018, Sec. 5.2) is wider
than :math:`w_{\max}` in some output; a NaN score or width, or a non-finite prediction, also
falls back.

**Guarantee.** For an in-domain input exchangeable with the calibration inputs,
:math:`P(\text{indicator rejects}) \le \alpha` (and :math:`\ge \alpha - 1/(n+1)` when scores have
no ties), whatever the surrogate, indicator and distribution (Vovk et al. 2005; Bates et al.
2023): the in-domain fallback rate of the indicator rule is at most :math:`\alpha`. The interval
rule adds the fallbacks of in-domain inputs whose interval is too wide, a share set by the
tolerance, which no conformal argument bounds. The interval itself covers the simulator's output
with probability :math:`\ge 1-\alpha` per output, marginally over in-domain inputs (not
conditionally on acceptance).

References:
    Vovk, V., Gammerman, A. & Shafer, G. (2005). Algorithmic Learning in a Random World.
    Springer. Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. & Wasserman, L. (2018).
    Distribution-free predictive inference for regression. JASA 113(523), 1094-1111. Bates, S.,
    Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers with conformal
    p-values. Ann. Statist. 51(1), 149-178.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax import _conformal
from edtjax._checks import as_array, check_int, check_probability, is_concrete
from edtjax._typing import ArrayLike, PyTree
from edtjax.reliability import Indicator
from edtjax.surrogates import Predictive

__all__ = ["GuardCalibration", "GuardedOutput", "calibrate_guard", "guarded"]


class GuardCalibration(NamedTuple):
    """What the guard needs, calibrated on held-out in-domain data (see :func:`calibrate_guard`).

    Attributes:
        indicator: the :class:`edtjax.reliability.Indicator`.
        state: its fitted state (fitted on data disjoint from the calibration inputs).
        scores: ``(n,)`` indicator scores of the calibration inputs, sorted ascending.
        residual_scores: ``(n, p)`` normalised residuals ``|y - μ̂| / σ̂`` of the surrogate on
            the calibration inputs, each column sorted ascending, or ``None`` (no intervals).
    """

    indicator: Indicator
    state: PyTree
    scores: jax.Array
    residual_scores: jax.Array | None


class GuardedOutput(NamedTuple):
    """Per-input result of a guarded evaluation (see :func:`guarded`).

    Attributes:
        output: ``(m, p)``: the simulator's output where the guard fell back, the surrogate's
            mean elsewhere.
        used_surrogate: ``(m,)`` bool, the path taken (``False``: the simulator ran).
        indicator_rejected: ``(m,)`` bool, the conformal p-value was ``<= α`` (or the score
            is NaN).
        interval_too_wide: ``(m,)`` bool, some output's conformal interval was wider than the
            tolerance, or its width is NaN (always ``False`` without a tolerance).
        prediction_not_finite: ``(m,)`` bool, the surrogate's mean has a NaN or infinite entry
            (the guard never returns a non-finite prediction of the surrogate).
        p_value: ``(m,)`` conformal p-values of the indicator scores.
        interval_width: ``(m, p)`` widths ``2 q̂ σ̂`` of the conformal intervals, or ``None``
            when the calibration has no residual scores.
    """

    output: jax.Array
    used_surrogate: jax.Array
    indicator_rejected: jax.Array
    interval_too_wide: jax.Array
    prediction_not_finite: jax.Array
    p_value: jax.Array
    interval_width: jax.Array | None


def _scale(pred: Predictive) -> jax.Array:
    """Predictive standard deviation, or ones for a point predictor (plain split conformal)."""
    if pred.variance is None:
        return jnp.ones_like(pred.mean)
    return jnp.sqrt(pred.variance)


def _predict(surrogate: Callable, x: jax.Array) -> Predictive:
    pred = surrogate(x)
    if not isinstance(pred, Predictive):
        raise ValueError(
            f"surrogate must return an edtjax.surrogates.Predictive, got {type(pred).__name__}"
        )
    return pred


def calibrate_guard(
    surrogate: Callable[[jax.Array], Predictive],
    indicator: Indicator,
    state: PyTree,
    x_calibration: ArrayLike,
    y_calibration: ArrayLike | None = None,
) -> GuardCalibration:
    r"""Calibrate a guard: indicator scores and normalised residuals on held-out in-domain data.

    Scores :math:`s_i = s(x_i)` of the indicator and, when ``y_calibration`` is given, the
    normalised residuals :math:`r_{ij} = |y_{ij} - \hat\mu_j(x_i)| / \hat\sigma_j(x_i)` of the
    surrogate (:math:`\hat\sigma = 1` for a point predictor: plain split conformal), both sorted.
    The level is chosen later, in :func:`guarded`, from the same calibration (conformal
    p-values and quantiles exist at every level).

    Args:
        surrogate: ``x (m, d) -> Predictive`` with ``mean`` ``(m, p)`` (and optionally
            ``variance``), pure and JAX-traceable.
        indicator: an :class:`edtjax.reliability.Indicator`.
        state: its state, fitted on inputs disjoint from ``x_calibration``.
        x_calibration: ``(n, d)`` in-domain inputs not used to fit the surrogate or the
            indicator.
        y_calibration: ``(n, p)`` simulator outputs at ``x_calibration``, or ``None`` (the
            guard then has no interval rule).

    Returns:
        :class:`GuardCalibration`. Cost: one scoring and one surrogate evaluation of ``n``
        inputs, plus ``O(n p log n)``.

    Raises:
        ValueError: a non-Indicator, non-finite or wrongly shaped inputs, non-finite scores or
            residuals, or a surrogate that does not return a ``Predictive`` of ``(n, p)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.reliability import mahalanobis_indicator
        >>> from edtjax.surrogates import Predictive
        >>> ind = mahalanobis_indicator()
        >>> x = jax.random.normal(jax.random.key(0), (300, 2))
        >>> state = ind.fit(None, x[:200])
        >>> cal = calibrate_guard(lambda z: Predictive(mean=z[:, :1]), ind, state, x[200:],
        ...                       x[200:, :1] + 0.1)
        >>> cal.scores.shape, cal.residual_scores.shape
        ((100,), (100, 1))

    References:
        Lei, J. et al. (2018). Distribution-free predictive inference for regression. JASA
        113(523), 1094-1111.
    """
    if not isinstance(indicator, Indicator):
        raise ValueError(f"indicator must be an Indicator, got {type(indicator).__name__}")
    if not callable(surrogate):
        raise ValueError(f"surrogate must be callable, got {type(surrogate).__name__}")
    x = as_array("x_calibration", x_calibration, ndim=2)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    n = x.shape[0]
    scores = jnp.asarray(indicator.score(state, x))
    if scores.shape != (n,):
        raise ValueError(f"indicator.score must return shape ({n},), got {scores.shape}")
    if not bool(jnp.all(jnp.isfinite(scores))):
        raise ValueError(
            f"the indicator returned {int(jnp.sum(~jnp.isfinite(scores)))} non-finite scores on "
            "x_calibration: no threshold can be calibrated (a degenerate indicator state)"
        )
    residuals = None
    if y_calibration is not None:
        y = as_array("y_calibration", y_calibration, ndim=2)
        pred = _predict(surrogate, x)
        if pred.mean.shape != y.shape:
            raise ValueError(
                f"y_calibration must have the shape of the surrogate's mean {pred.mean.shape}, "
                f"got {y.shape}"
            )
        residuals = jnp.abs(y.astype(pred.mean.dtype) - pred.mean) / _scale(pred)
        if not bool(jnp.all(jnp.isfinite(residuals))):
            raise ValueError(
                "the surrogate's normalised residuals on the calibration set are not finite "
                "(a zero or non-finite predictive variance)"
            )
        residuals = jnp.sort(residuals, axis=0)
    return GuardCalibration(indicator, state, jnp.sort(scores), residuals)


def _fallback_jax(simulator, x, fallback, like, batch):
    """Simulator outputs at the rows where ``fallback`` holds (zeros elsewhere).

    The fallback rows are moved to the front (stable argsort) and simulated ``batch`` rows at a
    time in a ``lax.while_loop`` that runs ``ceil(k / batch)`` times for ``k`` fallback rows;
    the tail of the last block is filled with the next (accepted) rows, whose outputs are
    dropped.
    """
    m = x.shape[0]
    c = min(batch, m)
    n_blocks = -(-m // c)
    order = jnp.argsort(~fallback, stable=True)
    order = jnp.concatenate([order, jnp.broadcast_to(order[:1], (n_blocks * c - m,))])
    n_fallback = jnp.sum(fallback, dtype=jnp.int32)

    def body(i: int, out: jax.Array) -> jax.Array:
        idx = jax.lax.dynamic_slice(order, (i * c,), (c,))
        y = jnp.asarray(simulator(x[idx])).astype(out.dtype)
        keep = i * c + jnp.arange(c) < n_fallback
        return out.at[jnp.where(keep, idx, m)].set(y, mode="drop")

    return jax.lax.fori_loop(0, (n_fallback + c - 1) // c, body, jnp.zeros_like(like))


def _fallback_host(simulator, x, fallback, like):
    """The host callback path: NumPy simulator called once on exactly the fallback rows."""
    shape, dtype = like.shape, np.dtype(like.dtype)

    def call(x_host: np.ndarray, mask: np.ndarray) -> np.ndarray:
        x_host, mask = np.asarray(x_host), np.asarray(mask)
        out = np.zeros(shape, dtype)
        y = np.asarray(simulator(x_host[mask]), dtype=dtype)
        if y.shape != (int(mask.sum()), shape[1]):
            raise ValueError(
                f"simulator must return shape ({int(mask.sum())}, {shape[1]}), got {y.shape}"
            )
        out[mask] = y
        return out

    def run() -> jax.Array:
        spec = jax.ShapeDtypeStruct(shape, dtype)
        return jax.pure_callback(call, spec, x, fallback, vmap_method="sequential")

    return jax.lax.cond(jnp.any(fallback), run, lambda: jnp.zeros(shape, dtype))


@functools.partial(
    jax.jit, static_argnames=("surrogate", "simulator", "score", "host", "batch", "wide")
)
def _guarded(
    x, state, scores, threshold, q, max_width, *, surrogate, simulator, score, host, batch, wide
):
    pred = _predict(surrogate, x)
    s = score(state, x)
    p_value = _conformal.p_values(scores, s)
    # p <= alpha, decided on the exact rank (no rounding of p); a NaN score is rejected
    rejected = ~(s <= threshold)
    width = None if q is None else 2.0 * q * _scale(pred)
    too_wide = ~jnp.all(width <= max_width, axis=1) if wide else jnp.zeros_like(rejected)
    not_finite = ~jnp.all(jnp.isfinite(pred.mean), axis=1)
    fallback = rejected | too_wide | not_finite
    if host:
        y_sim = _fallback_host(simulator, x, fallback, pred.mean)
    else:
        y_sim = _fallback_jax(simulator, x, fallback, pred.mean, batch)
    output = jnp.where(fallback[:, None], y_sim, pred.mean)
    return GuardedOutput(output, ~fallback, rejected, too_wide, not_finite, p_value, width)


def guarded(
    surrogate: Callable[[jax.Array], Predictive],
    simulator: Callable[[jax.Array], ArrayLike],
    calibration: GuardCalibration,
    *,
    alpha: float,
    max_interval_width: ArrayLike | None = None,
    host_simulator: bool = False,
    fallback_batch: int = 1,
) -> Callable[[jax.Array], GuardedOutput]:
    r"""A function of a batch of inputs that runs the surrogate where it can be trusted and the
    simulator elsewhere.

    The returned ``evaluate(x)`` computes, in one jitted program, the surrogate's predictive,
    the indicator's conformal p-values and (with residual scores) the conformal interval
    widths on all ``m`` rows (both cheap next to a simulation), decides per row as in the module
    docstring, and runs the simulator on the fallback rows only:

    * a JAX ``simulator`` (``host_simulator=False``): the ``k`` fallback rows are compacted to
      the front and simulated ``fallback_batch`` rows per call inside a ``lax.while_loop`` of
      ``ceil(k / fallback_batch)`` iterations, so no simulation runs when every row is accepted
      and at most ``fallback_batch - 1`` extra rows are simulated (and discarded) otherwise.
      A larger ``fallback_batch`` suits a simulator that is cheaper per row in batches (an
      accelerator), ``fallback_batch >= m`` simulates all fallback rows in one call;
    * an external NumPy ``simulator`` (``host_simulator=True``): one :func:`jax.pure_callback`
      receives the ``k`` fallback rows (a dynamic shape on the host), skipped by
      :func:`jax.lax.cond` when ``k = 0``.

    The outputs are the surrogate's mean on the accepted rows and the simulator's outputs on the
    fallback rows: bitwise those of the jitted simulator on the same rows when its arithmetic on
    a row does not depend on the rows batched with it (elementwise models; the thermodiffusion
    step on one trajectory, see the tests), to its own tolerance otherwise (a vmapped
    iteration that runs until every row of its batch converges gives a row a few more
    iterations in a larger batch). ``evaluate`` composes with ``jit``, ``vmap`` and
    ``lax.scan`` (a time loop calls it at every step); calling it again with new inputs of the
    same shape does not recompile, and neither does a new :func:`guarded` with the same
    ``surrogate``, ``simulator`` and indicator objects and calibrations of the same shapes (they
    are static arguments: reuse the objects). It is not differentiable: the path taken is a
    piecewise-constant function of the input, and reverse mode cannot go through the fallback
    loop's dynamic trip count.

    In-domain fallback rate: at most ``α`` for the indicator rule (the conformal guarantee of
    the module docstring), plus the in-domain share of too-wide intervals with a tolerance.

    Args:
        surrogate: ``x (m, d) -> Predictive`` with ``mean`` ``(m, p)``, pure and traceable.
        simulator: ``x (k, d) -> (k, p)``, a JAX function (traced) or, with
            ``host_simulator=True``, any Python/NumPy function (called on the host).
        calibration: :class:`GuardCalibration` from :func:`calibrate_guard`.
        alpha: level in ``(0, 1)``: target in-domain fallback rate of the indicator rule and
            miscoverage of the intervals; needs ``n >= 1/α - 1`` calibration scores.
        max_interval_width: ``None`` (no interval rule), or a positive scalar or ``(p,)``
            tolerance on the width ``2 q̂ σ̂`` of each output's interval (needs residual
            scores in ``calibration``).
        host_simulator: call ``simulator`` on the host through :func:`jax.pure_callback`.
        fallback_batch: rows per simulator call on the JAX path, ``>= 1``.

    Returns:
        ``evaluate(x) -> GuardedOutput`` for ``x`` of shape ``(m, d)``. Cost per call: one
        surrogate and one indicator evaluation of ``m`` rows, ``O(m log n)`` for the p-values,
        plus ``ceil(k / fallback_batch)`` simulator calls of ``fallback_batch`` rows (JAX path)
        or one call of ``k`` rows (host path).

    Raises:
        ValueError: ``alpha`` outside ``(0, 1)`` or too few calibration scores for it (the
            message gives the minimum), a tolerance without residual scores or not positive,
            bad ``fallback_batch``, non-callables; ``evaluate`` raises on non-finite or wrongly
            shaped concrete inputs.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from edtjax.reliability import mahalanobis_indicator
        >>> from edtjax.surrogates import Predictive
        >>> simulator = lambda z: jnp.sin(z[:, :1]) + z[:, 1:] ** 2
        >>> surrogate = lambda z: Predictive(mean=z[:, :1] + z[:, 1:] ** 2)  # sin x ~ x
        >>> ind = mahalanobis_indicator()
        >>> x = 0.3 * jax.random.normal(jax.random.key(0), (400, 2))
        >>> state = ind.fit(None, x[:200])
        >>> cal = calibrate_guard(surrogate, ind, state, x[200:], simulator(x[200:]))
        >>> evaluate = guarded(surrogate, simulator, cal, alpha=0.1)
        >>> res = evaluate(jnp.array([[0.1, 0.0], [3.0, 0.0]]))
        >>> res.used_surrogate.tolist(), res.indicator_rejected.tolist()
        ([True, False], [False, True])
        >>> bool(res.output[1, 0] == simulator(jnp.array([[3.0, 0.0]]))[0, 0])
        True

    References:
        Vovk, V. et al. (2005). Algorithmic Learning in a Random World. Springer. Lei, J. et al.
        (2018). JASA 113(523), 1094-1111. Bates, S. et al. (2023). Ann. Statist. 51(1),
        149-178.
    """
    if not callable(surrogate):
        raise ValueError(f"surrogate must be callable, got {type(surrogate).__name__}")
    if not callable(simulator):
        raise ValueError(f"simulator must be callable, got {type(simulator).__name__}")
    if not isinstance(calibration, GuardCalibration):
        raise ValueError(
            f"calibration must be a GuardCalibration, got {type(calibration).__name__}"
        )
    alpha = float(check_probability("alpha", alpha))
    fallback_batch = check_int("fallback_batch", fallback_batch, minimum=1)
    n = calibration.scores.shape[0]
    n_min = _conformal.minimum_calibration_size(alpha)
    if n < n_min:
        raise ValueError(
            f"calibration must hold at least {n_min} scores for alpha = {alpha} "
            f"(n >= 1/alpha - 1), got {n}"
        )
    q = None
    if calibration.residual_scores is not None:
        k = _conformal.conformal_rank(calibration.residual_scores.shape[0], alpha)
        q = _conformal.order_statistic(calibration.residual_scores, k, jnp.inf)
    max_width = None
    if max_interval_width is not None:
        if q is None:
            raise ValueError(
                "max_interval_width needs residual scores: calibrate_guard with y_calibration"
            )
        max_width = as_array("max_interval_width", max_interval_width, ndim=(0, 1))
        if max_width.ndim == 1 and max_width.shape != q.shape:
            raise ValueError(
                f"max_interval_width must be a scalar or have shape {q.shape}, got "
                f"{max_width.shape}"
            )
        if not bool(jnp.all(max_width > 0)):
            raise ValueError("max_interval_width must be positive")
    score = calibration.indicator.score
    d_state = calibration.state
    scores = calibration.scores
    threshold = scores[_conformal.conformal_rank(n, alpha) - 1]

    def evaluate(x: ArrayLike) -> GuardedOutput:
        x = as_array("x", x, ndim=2)
        if is_concrete(x) and x.shape[0] == 0:
            raise ValueError("x must have at least one row, got shape (0, d)")
        return _guarded(
            x,
            d_state,
            scores,
            threshold,
            q,
            max_width,
            surrogate=surrogate,
            simulator=simulator,
            score=score,
            host=bool(host_simulator),
            batch=fallback_batch,
            wide=max_width is not None,
        )

    return evaluate
