"""Audit stage on reuse: reliability indicators fitted on the training inputs, calibrated on
the calibration split, evaluated on the in-domain test split and on the queries, an answer per
query (:func:`query_answers`), and indicator scores drawn on 2-D slices.

The queries are the user's: which of them lie inside or outside the domain of validity is the
answer, never an assumption. Detection rates and AUROC, which need to know which queries are
shifted, are computed only when the data say so by construction (``AuditData.queries_shifted``,
the built-in case); otherwise the indicators are evaluated on the in-domain test split alone
(false alarms) and, when the queries carry outputs, by the surrogate's error among accepted and
flagged queries.

References:
    Bates, S., Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers with
    conformal p-values. Ann. Statist. 51(1), 149-178.
    Lei, J. et al. (2018). Distribution-free predictive inference for regression. JASA 113.
    Sobol', I. M. & Kucherenko, S. (2009). Derivative based global sensitivity measures and
    their link with global sensitivity indices. Math. Comput. Simul. 79, 3009-3017.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from edtjax._typing import ArrayLike, PyTree
from edtjax.audit._surrogates import READS_SURROGATE, Split, Surrogates
from edtjax.audit.records import (
    Attribution,
    DepthMap,
    ErrorGroup,
    ExtremeQuery,
    IndicatorRates,
    LabelledErrors,
    QueryAnswers,
    ReliabilityResult,
    Skipped,
)
from edtjax.audit.sections import MapsConfig, ReliabilityConfig
from edtjax.reliability import (
    INDICATORS,
    Calibration,
    CombinedState,
    Indicator,
    calibrate,
    combine,
    make_indicator,
    score_gradient,
    spearman_correlation,
    validity_report,
)
from edtjax.uq import split_conformal

COMBINED = "combined"


def build_indicators(surrogates: Surrogates, config: ReliabilityConfig) -> dict[str, Indicator]:
    """The configured indicators, by name (:data:`edtjax.reliability.INDICATORS`; inputs are
    standardised). Those that read the surrogate get its epistemic variance or its features."""
    predict = surrogates.main

    def epistemic(z: jax.Array) -> jax.Array:  # the whole predictive variance when it is not split
        pred = predict(z)
        return pred.variance if pred.aleatoric is None else pred.variance - pred.aleatoric

    options = {
        "lens_fermat": {"alpha": config.fermat_alpha, "n_neighbors": config.fermat_neighbors},
        "ensemble_spread": {"variance_fn": epistemic},
        "feature_mahalanobis": {"feature_fn": surrogates.features},
    }
    # Scores are jitted (one compilation per query shape); fit stays as the indicator has it.
    indicators = {}
    for name in config.indicators:
        ind = make_indicator(name, **options.get(name, {}))
        indicators[name] = Indicator(ind.fit, jax.jit(ind.score))
    return indicators


#: Level of the per-query conformal prediction intervals (as the test split's coverage_90).
INTERVAL_LEVEL = 0.9

#: Queries of the most-extreme table (lowest combined p-values) in ``AuditResult.queries.extreme``.
EXTREME_QUERIES = 10

#: A query's error is *large* above this quantile of the held-out test split's errors.
LARGE_ERROR_QUANTILE = 0.9


def _errors(split: Split, surrogates: Surrogates) -> np.ndarray | None:
    """Mean absolute standardised error of the ensemble mean at test and shifted queries."""
    if split.x_shift is not None and split.y_shift is None:
        return None
    predict = surrogates.main
    parts = [jnp.mean(jnp.abs(predict(split.x_test).mean - split.y_test), axis=1)]
    if split.x_shift is not None:
        parts.append(jnp.mean(jnp.abs(predict(split.x_shift).mean - split.y_shift), axis=1))
    return np.asarray(jnp.concatenate(parts))


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def exact_p_values(calibration_scores: ArrayLike, scores: ArrayLike) -> np.ndarray:
    r"""Conformal p-values in float64, :math:`p(s) = (1 + \#\{i : s_i \ge s\}) / (n + 1)`.

    The same p-values as :func:`edtjax.reliability.conformal_p_values`, counted in NumPy and
    divided in float64 so that ``p <= alpha`` agrees with ``score > threshold`` of
    :func:`edtjax.reliability.calibrate` wherever the two differ by more than rounding.

    Args:
        calibration_scores: ``(n,)`` calibration scores (any order).
        scores: ``(m,)`` query scores.

    Returns:
        ``(m,)`` float64 p-values in ``(0, 1]``. Cost ``O((n + m) log n)``.

    Example:
        >>> exact_p_values([1.0, 2.0, 3.0], [0.5, 2.0, 3.5]).tolist()
        [1.0, 0.75, 0.25]
    """
    cal = np.sort(np.asarray(calibration_scores).ravel())
    s = np.asarray(scores).astype(cal.dtype).ravel()
    n = cal.shape[0]
    count = n - np.searchsorted(cal, s, side="left")
    return (1.0 + count) / (n + 1.0)


def _rates(outside: np.ndarray, labels: np.ndarray | None, m_in: int) -> tuple[float, float | None]:
    """False alarms on the in-domain test split; detection only where labels are known."""
    detection = None
    if labels is not None and (~labels).any():
        detection = float(np.mean(outside[~labels]))
    return float(np.mean(outside[:m_in])), detection


class ReliabilityOutputs(NamedTuple):
    """What :func:`reliability_stage` gives the pipeline.

    Attributes:
        reliability: the :class:`~edtjax.audit.records.ReliabilityResult`.
        depth_maps: the :class:`~edtjax.audit.records.DepthMap` descriptions.
        arrays: the reliability, query and depth-map arrays.
        queries: the :class:`~edtjax.audit.records.QueryAnswers` (``None`` without queries).
        outside: ``outside(z) -> (k,) bool`` of the fitted combined indicator at
            ``config.alpha``, on standardised inputs ``(k, d)``: its score above its calibrated
            threshold. The Sobol' stage judges its declared-law draws with it
            (:func:`edtjax.audit._sensitivity.sobol_validity`) instead of fitting it again.
        combined: the combined indicator (jitted score).
        combined_state: its state: members fitted on the training inputs, their p-values
            calibrated on the first half of the calibration split (the second half calibrates
            the combined score, and the hybrid stage's guard).
    """

    reliability: ReliabilityResult
    depth_maps: list[DepthMap]
    arrays: dict[str, np.ndarray]
    queries: QueryAnswers | None
    outside: Callable[[ArrayLike], np.ndarray]
    combined: Indicator
    combined_state: CombinedState


def reliability_stage(
    key: jax.Array,
    split: Split,
    surrogates: Surrogates,
    contour_inputs: tuple[int, int],
    input_names: tuple[str, ...],
    config: ReliabilityConfig,
    maps: MapsConfig,
    *,
    devices: int | None = None,
    queries_shifted: bool = False,
    queries_y: np.ndarray | None = None,
) -> ReliabilityOutputs:
    """Fit, calibrate, combine and evaluate the indicators; answer each query; draw slices.

    ``queries_shifted`` says that every query is known to be shifted (built-in case): only then
    are detection rates and AUROC computed on them. ``queries_y`` are the queries' true
    outputs in physical units (float64), when known. Returns the reliability numbers, the depth
    map descriptions, the arrays, the per-query numbers (``None`` without queries) and the
    fitted combined indicator's verdict function (:class:`ReliabilityOutputs`). ``config``
    and ``maps`` are the ``[reliability]`` and ``[maps]`` sections; ``devices`` shares the
    calibration and the queries (``None``: one device).
    """
    indicators = build_indicators(surrogates, config)
    keys = jax.random.split(key, 2 * len(indicators) + 1)
    states, calibrations = {}, {}
    for k, (name, ind) in enumerate(indicators.items()):
        states[name] = ind.fit(keys[2 * k], split.x_train)
        calibrations[name] = calibrate(
            keys[2 * k + 1], ind, states[name], split.x_cal, config.alpha, devices=devices
        )
    # The combined indicator calibrates its members on one half of the calibration split and
    # is itself calibrated on the other half, so its threshold keeps the conformal guarantee.
    # Its state is what ``combine(...).fit(key, x_train, x_calibration)`` builds, assembled
    # from the members already fitted on the training inputs instead of fitting them again.
    half = split.x_cal.shape[0] // 2
    combined = combine(*indicators.values(), how=config.combine_how)
    combined = Indicator(combined.fit, jax.jit(combined.score))
    members = tuple(states)
    states[COMBINED] = CombinedState(
        tuple(states[n] for n in members),
        tuple(jnp.sort(indicators[n].score(states[n], split.x_cal[:half])) for n in members),
    )
    indicators[COMBINED] = combined
    calibrations[COMBINED] = calibrate(
        keys[-1], combined, states[COMBINED], split.x_cal[half:], config.alpha, devices=devices
    )

    m_in = split.x_test.shape[0]
    if split.x_shift is None:
        queries = split.x_test
    else:
        queries = jnp.concatenate([split.x_test, split.x_shift])
    # In-domain labels only where they are known: the test split always, the queries only
    # when shifted by construction (else detection and AUROC would assume an answer).
    labels = None
    if split.x_shift is not None and queries_shifted:
        labels = np.arange(queries.shape[0]) < m_in
    errors = _errors(split, surrogates)
    results: dict[str, IndicatorRates] = {}
    arrays: dict[str, np.ndarray] = {}
    scores_of: dict[str, np.ndarray] = {}
    for name, ind in indicators.items():
        rep = validity_report(
            ind,
            states[name],
            calibrations[name],
            queries,
            in_domain=labels,
            errors=errors,
            devices=devices,
        )
        scores = np.asarray(rep.scores, np.float64)
        outside = np.asarray(rep.outside, bool)
        false_alarms, detection = _rates(outside, labels, m_in)
        results[name] = IndicatorRates(
            false_alarm_rate=false_alarms,
            detection_rate=detection,
            auroc=None if labels is None else _finite_or_none(rep.auroc),
            error_spearman=_finite_or_none(rep.error_spearman),
            threshold=float(calibrations[name].threshold),
        )
        scores_of[name] = np.asarray(rep.scores)
        arrays[f"reliability/{name}/scores_in"] = scores[:m_in]
        arrays[f"reliability/{name}/scores_shifted"] = scores[m_in:]
    numbers = ReliabilityResult(
        alpha=config.alpha,
        indicators=results,
        how_combined=config.combine_how,
        evaluated_on=(
            "the in-domain test split and the queries, shifted by construction"
            if labels is not None
            else "the in-domain test split (false alarms); the queries are not assumed shifted"
        ),
    )
    answers = None
    if split.x_shift is not None:
        answers, more = query_answers(
            split,
            surrogates,
            indicators,
            states,
            calibrations,
            {name: s[m_in:] for name, s in scores_of.items()},
            input_names,
            config,
            queries_shifted=queries_shifted,
            queries_y=queries_y,
        )
        arrays.update(more)
    drawn = maps.depth_map_indicators
    if not surrogates.evaluable:  # a surrogate known at given rows only: no grid scores
        reading = set(READS_SURROGATE) & set(indicators)
        drawn = tuple(n for n in drawn if n not in reading and not (n == COMBINED and reading))
    maps, map_arrays = depth_maps(
        split, indicators, states, calibrations, contour_inputs, input_names, maps, drawn
    )
    arrays.update(map_arrays)
    combined_state = states[COMBINED]
    combined_threshold = calibrations[COMBINED].threshold

    def outside(z: ArrayLike) -> np.ndarray:
        return np.asarray(combined.score(combined_state, z) > combined_threshold)

    return ReliabilityOutputs(numbers, maps, arrays, answers, outside, combined, combined_state)


def _differentiable(indicators, surrogates: Surrogates) -> list[str]:
    """The configured indicators whose score JAX can differentiate in the query."""
    return [
        n
        for n in indicators
        if n in INDICATORS
        and INDICATORS[n].differentiable
        and (surrogates.differentiable or not INDICATORS[n].reads_surrogate)
    ]


def _attribution(split, indicators, states, p_values, usable):
    """Per query: the input whose derivative of a differentiable score is largest.

    Gradients are taken in standardised inputs (one unit = one training standard deviation),
    so that inputs in different units compare. For each query the differentiable indicator
    with the smallest p-value is used (the one that most says "outside").
    """
    m = split.x_shift.shape[0]
    top = np.full(m, -1, np.int64)
    used = np.full(m, -1, np.int64)
    share = np.zeros(m)
    if not usable:
        return usable, top, used, share
    grads = {n: np.asarray(score_gradient(indicators[n], states[n], split.x_shift)) for n in usable}
    order = np.stack([p_values[n] for n in usable])  # (K, m)
    for q in range(m):
        for k in np.argsort(order[:, q], kind="stable"):
            g = grads[usable[k]][q]
            sq = g * g
            if np.all(np.isfinite(g)) and sq.sum() > 0.0:
                top[q], used[q] = int(np.argmax(sq)), int(k)
                share[q] = float(sq.max() / sq.sum())
                break
    return usable, top, used, share


def _labelled(split, surrogates, mean, lower, upper, outside, combined_scores, y_phys):
    """Error of the surrogate among accepted and flagged queries, and large errors caught."""
    predict = surrogates.main
    y_test = np.asarray(split.y_test, np.float64)
    test_mean = np.asarray(predict(split.x_test).mean, np.float64)
    test_err = np.mean(np.abs(test_mean - y_test), axis=1)  # standardised, mean over outputs
    threshold = float(np.quantile(test_err, LARGE_ERROR_QUANTILE))
    abs_err = np.abs(mean - y_phys)  # physical units, float64 from the user's values
    err_std = np.mean(abs_err / split.y_scale, axis=1)
    large = err_std > threshold
    hit = (y_phys >= lower) & (y_phys <= upper)

    def group(mask: np.ndarray) -> ErrorGroup:
        count = int(mask.sum())
        if count == 0:
            return ErrorGroup(count=0, mae=None, coverage=None, n_large_errors=0)
        return ErrorGroup(
            count=count,
            mae=[float(v) for v in abs_err[mask].mean(0)],
            coverage=[float(v) for v in hit[mask].mean(0)],
            n_large_errors=int(large[mask].sum()),
        )

    n_large, n_flagged = int(large.sum()), int(outside.sum())
    numbers = LabelledErrors(
        large_error_quantile=LARGE_ERROR_QUANTILE,
        large_error_threshold=threshold,
        large_error_definition=(
            "its absolute error, averaged over the outputs in training standard deviations, "
            f"exceeds {threshold:.3g}, the {LARGE_ERROR_QUANTILE:.0%} quantile of the same error "
            "on the held-out test split"
        ),
        inside=group(~outside),
        outside=group(outside),
        n_large_errors=n_large,
        large_errors_caught=None if n_large == 0 else float((large & outside).sum() / n_large),
        flagged_with_large_error=(
            None if n_flagged == 0 else float((large & outside).sum() / n_flagged)
        ),
        error_spearman=(
            _finite_or_none(spearman_correlation(combined_scores, err_std))
            if len(err_std) > 1
            else None
        ),
    )
    arrays = {
        "queries/y": y_phys,
        "queries/abs_error": abs_err,
        "queries/in_interval": hit,
        "queries/large_error": large,
    }
    return numbers, arrays


def query_answers(
    split: Split,
    surrogates: Surrogates,
    indicators: dict[str, Indicator],
    states: dict[str, PyTree],
    calibrations: dict[str, Calibration],
    query_scores: dict[str, ArrayLike],
    input_names: tuple[str, ...],
    config: ReliabilityConfig,
    *,
    queries_shifted: bool = False,
    queries_y: np.ndarray | None = None,
) -> tuple[QueryAnswers, dict[str, np.ndarray]]:
    r"""An answer per query: prediction, interval, p-values, verdict and what pushes it out.

    For query :math:`x_q` (in the user's order): the ensemble's predictive mean per output; the
    split-conformal interval :math:`\hat\mu(x_q) \pm \hat q` at level
    :data:`INTERVAL_LEVEL` (Lei et al. 2018, calibration split); each indicator's score and
    conformal p-value :math:`p = (1 + \#\{s_i \ge s\})/(n + 1)` against its calibration
    scores; the verdict *outside* when the combined indicator's score exceeds its calibrated
    threshold, equivalently :math:`p_{\text{combined}} \le \alpha` (an in-domain query is
    flagged with probability at most :math:`\alpha`, Bates et al. 2023); and the input with the
    largest :math:`|\partial s / \partial z_i|` (standardised input :math:`z`) of the
    differentiable indicator with the smallest p-value, the local form of the score's DGSM
    (Sobol' & Kucherenko 2009). When the queries carry outputs: true outputs, absolute errors,
    interval hits, and the error among accepted vs flagged queries (:func:`_labelled`).

    Returns:
        ``(answers, arrays)``: the :class:`~edtjax.audit.records.QueryAnswers` and the
        ``"inputs/queries"`` and ``"queries/..."`` arrays (see :mod:`edtjax.audit.result`).
        Cost: one prediction and one gradient per differentiable indicator per query.
    """
    predict = surrogates.main
    x_q = split.x_shift
    m = x_q.shape[0]
    mean_std = np.asarray(predict(x_q).mean, np.float64)
    cal_mean = predict(split.x_cal).mean
    lo, hi = split_conformal(
        split.y_cal, cal_mean, jnp.asarray(mean_std, cal_mean.dtype), 1.0 - INTERVAL_LEVEL
    )
    scale, shift = split.y_scale, split.y_mean
    mean = mean_std * scale + shift
    lower = np.asarray(lo, np.float64) * scale + shift
    upper = np.asarray(hi, np.float64) * scale + shift
    arrays: dict[str, np.ndarray] = {
        "inputs/queries": np.asarray(split.raw_shift, np.float64),
        "queries/mean": mean,
        "queries/lower": lower,
        "queries/upper": upper,
    }
    p_values = {}
    for name in indicators:
        s = np.asarray(query_scores[name])
        p_values[name] = exact_p_values(calibrations[name].scores, s)
        arrays[f"queries/score/{name}"] = s.astype(np.float64)
        arrays[f"queries/p_value/{name}"] = p_values[name]
    outside = np.asarray(query_scores[COMBINED] > np.asarray(calibrations[COMBINED].threshold))
    arrays["queries/outside"] = outside
    usable, top, used, share = _attribution(
        split, indicators, states, p_values, _differentiable(indicators, surrogates)
    )
    arrays["queries/pushed_out_by"] = top
    arrays["queries/attribution_indicator"] = used
    arrays["queries/attribution_share"] = share
    order = np.argsort(p_values[COMBINED], kind="stable")[: min(EXTREME_QUERIES, m)]
    names = list(input_names)
    extreme = [
        ExtremeQuery(
            query=int(q),
            p_combined=float(p_values[COMBINED][q]),
            verdict="outside" if outside[q] else "inside",
            pushed_out_by=names[top[q]] if top[q] >= 0 else None,
            inputs={a: float(split.raw_shift[q, i]) for i, a in enumerate(names)},
            mean=[float(v) for v in mean[q]],
            interval=[[float(a), float(b)] for a, b in zip(lower[q], upper[q], strict=True)],
        )
        for q in order
    ]
    not_diff = [n for n in indicators if n not in usable]
    attribution = (
        Attribution(
            indicators=list(usable),
            not_differentiable=not_diff,
            method=(
                "largest |d score / d input| in training standard deviations, of the "
                "differentiable indicator with the smallest p-value at that query"
            ),
        )
        if usable
        else Skipped(
            "no differentiable indicator is configured (the attribution needs one "
            f"of {[n for n, e in INDICATORS.items() if e.differentiable]}; {not_diff} are not "
            "differentiable)"
        )
    )
    labelled = None
    if split.y_shift is not None:
        if queries_y is None:  # back from the standardised outputs
            queries_y = np.asarray(split.y_shift, np.float64) * scale + shift
        labelled, more = _labelled(
            split,
            surrogates,
            mean,
            lower,
            upper,
            outside,
            query_scores[COMBINED],
            np.asarray(queries_y, np.float64),
        )
        arrays.update(more)
    answers = QueryAnswers(
        count=int(m),
        alpha=config.alpha,
        verdict_indicator=COMBINED,
        n_inside=int(m - outside.sum()),
        n_outside=int(outside.sum()),
        shifted_by_construction=bool(queries_shifted),
        interval_level=INTERVAL_LEVEL,
        indicators=list(indicators),
        attribution=attribution,
        extreme=extreme,
        labelled=labelled,
    )
    return answers, arrays


def depth_maps(
    split: Split,
    indicators: dict[str, Indicator],
    states: dict[str, PyTree],
    calibrations: dict[str, Calibration],
    contour_inputs: tuple[int, int],
    input_names: tuple[str, ...],
    config: MapsConfig,
    drawn: tuple[str, ...],
) -> tuple[list[DepthMap], dict[str, np.ndarray]]:
    """Scores of the indicators ``drawn`` on a ``G x G`` grid over two inputs, the others at
    the training median.

    The grid spans the training inputs and the shifted queries in those two inputs, padded by
    5% of the range on each side.
    """
    i, j = contour_inputs
    raw = (
        split.raw_train
        if split.raw_shift is None
        else np.vstack([split.raw_train, split.raw_shift])
    )
    median = np.median(split.raw_train, axis=0)
    axes = []
    for c in (i, j):
        lo, hi = raw[:, c].min(), raw[:, c].max()
        pad = 0.05 * (hi - lo)
        axes.append(np.linspace(lo - pad, hi + pad, config.grid_size))
    gx, gy = axes
    xx, yy = np.meshgrid(gx, gy)  # (H, G): row a is grid_y[a], column b is grid_x[b]
    points = np.tile(median, (xx.size, 1))
    points[:, i], points[:, j] = xx.ravel(), yy.ravel()
    z = split.to_inputs(points)
    maps, arrays = [], {}
    fixed = {input_names[c]: float(median[c]) for c in range(len(input_names)) if c not in (i, j)}
    for k, name in enumerate(drawn):
        score = np.asarray(indicators[name].score(states[name], z), np.float64).reshape(xx.shape)
        arrays[f"depth_map/{k}/grid_x"] = gx
        arrays[f"depth_map/{k}/grid_y"] = gy
        arrays[f"depth_map/{k}/score"] = score
        maps.append(
            DepthMap(
                key=f"depth_map/{k}",
                inputs=[input_names[i], input_names[j]],
                indicator=name,
                threshold=float(calibrations[name].threshold),
                fixed=fixed,
            )
        )
    return maps, arrays
