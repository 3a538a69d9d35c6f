"""Every figure of an audit report, built from an :class:`edtjax.audit.AuditResult`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure

from edtjax.audit.records import (
    ParameterSensitivity,
    ReliabilityResult,
    SobolResult,
    TransportResult,
)
from edtjax.audit.result import AuditResult, check_audit_result
from edtjax.report.domain_plots import plot_depth_map, plot_quantile_contours
from edtjax.report.sensitivity_plots import plot_parameter_gsa, plot_sobol_comparison
from edtjax.report.uq_plots import plot_calibration_curve, plot_coverage
from edtjax.report.validity_plots import (
    plot_indicator_scores,
    plot_shift_tests,
    plot_stage_timings,
)

__all__ = ["ReportFigure", "audit_figures"]


class ReportFigure(NamedTuple):
    """One figure of the report.

    Attributes:
        file_name: PNG file name inside the report folder.
        section: the ``AuditResult`` field (or ``"timings"``) it belongs to.
        title: a short heading.
        caption: one or two sentences saying what to look for.
        figure: the matplotlib ``Figure``.
    """

    file_name: str
    section: str
    title: str
    caption: str
    figure: Figure


def _array(arrays: Mapping[str, np.ndarray], name: str, what: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"result.arrays lacks {name!r}, needed for the {what}")
    return arrays[name]


def _columns(input_names: list[str], chosen: object, what: str) -> list[int]:
    if not isinstance(chosen, list) or len(chosen) != 2 or not set(chosen) <= set(input_names):
        raise ValueError(f"{what} must name two of the inputs {input_names}, got {chosen!r}")
    return [input_names.index(c) for c in chosen]


def _project(arrays: Mapping[str, np.ndarray], name: str, cols: list[int], d: int):
    if name not in arrays:
        return None
    pts = np.asarray(arrays[name], dtype=float)
    if pts.ndim != 2 or pts.shape[1] != d:
        raise ValueError(f"result.arrays[{name!r}] must have shape (*, {d}), got {pts.shape}")
    return pts[:, cols]


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "figure"


def _uq_figures(result: AuditResult, arrays) -> list[ReportFigure]:
    methods = list(result.surrogates)
    if not methods:
        return []
    expected = _array(arrays, "calibration/expected", "calibration curve")
    observed = {m: _array(arrays, f"calibration/{m}", "calibration curve") for m in methods}
    nominal = _array(arrays, "coverage/nominal", "coverage plot")
    raw = {m: _array(arrays, f"coverage/{m}", "coverage plot") for m in methods}
    conformal = {
        m: arrays[f"coverage/{m}/conformal"] for m in methods if f"coverage/{m}/conformal" in arrays
    }
    return [
        ReportFigure(
            "calibration.png",
            "surrogates",
            "Calibration curve",
            "Observed vs expected frequency of the probability integral transform on the test "
            "set; a calibrated method follows the dotted diagonal. Below then above it (PIT "
            "values bunched in the middle) means predictive distributions that are too wide, "
            "above then below it too narrow.",
            plot_calibration_curve(expected, observed),
        ),
        ReportFigure(
            "coverage.png",
            "surrogates",
            "Coverage of central intervals",
            "Empirical vs nominal coverage, raw (solid) and after conformal calibration "
            "(dashed); points below the diagonal are intervals that promise more than they "
            "deliver.",
            plot_coverage(nominal, raw, conformal),
        ),
    ]


def _sensitivity_figures(result: AuditResult) -> list[ReportFigure]:
    case, sobol = result.case, result.sobol
    out = []
    if not isinstance(sobol, SobolResult):
        sobol = None
    emp = None if sobol is None else sobol.empirical
    if emp is not None and emp.surrogate:  # empirical law: first-order indices only
        out.append(
            ReportFigure(
                "sobol_indices.png",
                "sobol",
                "First-order Sobol' indices on the labelled runs",
                "Rank-based first-order indices on the empirical law of the labelled runs: "
                "of the labelled outputs (blue) and of the surrogate's "
                "predictions at the same inputs (orange), with confidence intervals, one row "
                "per output. Total indices need declared input laws.",
                plot_sobol_comparison(
                    emp.surrogate.to_json(),
                    emp.data.to_json(),
                    input_names=case.input_names,
                    output_names=case.output_names,
                    reference_label="labelled outputs",
                ),
            )
        )
    elif sobol is not None and sobol.surrogate:
        if sobol.simulator:
            caption = (
                "First-order and total Sobol' indices of the simulator (blue) and the surrogate "
                "(orange) with confidence intervals, one row per output; a surrogate that learned "
                "what matters reproduces the simulator's bars within their intervals, and above "
                "all their ranking."
            )
        else:
            caption = (
                "First-order and total Sobol' indices of the surrogate with confidence intervals, "
                "one row per output (no simulator to compare with): the inputs it relies on most."
            )
        out.append(
            ReportFigure(
                "sobol_indices.png",
                "sobol",
                "Sobol' indices of the inputs",
                caption,
                plot_sobol_comparison(
                    sobol.surrogate.to_json(),
                    sobol.simulator and sobol.simulator.to_json(),
                    input_names=case.input_names,
                    output_names=case.output_names,
                ),
            )
        )
    gsa = result.parameter_gsa
    if isinstance(gsa, ParameterSensitivity):
        out.append(
            ReportFigure(
                "parameter_gsa.png",
                "parameter_gsa",
                "Sensitivity to network parameters by layer",
                "Sobol' indices of the surrogate's outputs with respect to groups of its "
                "parameters (one group per layer); a total index much larger than the "
                "first-order one means the layer acts through interactions.",
                plot_parameter_gsa(
                    gsa.groups, gsa.first, gsa.total, output_names=case.output_names
                ),
            )
        )
    return out


def _transport_figures(result: AuditResult, arrays) -> list[ReportFigure]:
    transport, names = result.transport, list(result.case.input_names)
    if not isinstance(transport, TransportResult):
        return []
    out = []
    levels = transport.contour_levels
    if levels:
        cols = _columns(names, transport.contour_inputs, "transport.contour_inputs")
        contours = {
            float(t): _array(arrays, f"contour/{k}", "quantile contours")
            for k, t in enumerate(levels)
        }
        label = "shifted queries" if result.case.queries_shifted_by_construction else "queries"
        out.append(
            ReportFigure(
                "quantile_contours.png",
                "transport",
                "Center-outward quantile contours",
                "Hallin center-outward quantile contours of the training inputs (each encloses the "
                f"stated probability content) in two inputs; {label} (projected on these two "
                "inputs) beyond the outer contour lie in the tails of the training distribution.",
                plot_quantile_contours(
                    contours,
                    _project(arrays, "inputs/train", cols, len(names)),
                    input_names=[names[c] for c in cols],
                    queries=_project(arrays, "inputs/queries", cols, len(names)),
                    queries_label=label,
                ),
            )
        )
    tests = transport.shift_tests
    if tests:
        out.append(
            ReportFigure(
                "shift_tests.png",
                "transport",
                "Distribution-shift tests",
                "Permutation null distribution of each two-sample statistic with the observed "
                "value (red); an observed value far in the right tail (small p) means the "
                "compared samples differ in distribution.",
                plot_shift_tests(
                    {t: _array(arrays, f"shift/{t}/null", "shift tests") for t in tests},
                    {t: v.statistic for t, v in tests.items()},
                    {t: v.p_value for t, v in tests.items()},
                ),
            )
        )
    return out


def _reliability_figures(result: AuditResult, arrays) -> list[ReportFigure]:
    if not isinstance(result.reliability, ReliabilityResult):
        return []
    indicators = result.reliability.indicators
    if not indicators:
        return []
    what = "indicator score histograms"
    if result.case.queries_shifted_by_construction:
        labels = ("in-domain", "shifted")
        caption = (
            "Scores of the in-domain test split (blue) and of this case's queries, shifted by "
            "construction (orange), with the conformal threshold (dashed); a useful indicator "
            "keeps the blue mass left of the threshold and pushes the orange mass right of it."
        )
    else:
        labels = ("in-domain test split", "your queries")
        caption = (
            "Scores of the held-out in-domain test split (blue) and of your queries (orange) "
            "with the conformal threshold (dashed): about α of the blue mass lies right of it; "
            "your queries right of it are the ones judged outside the domain."
        )
    return [
        ReportFigure(
            "indicator_scores.png",
            "reliability",
            "Reliability indicator scores",
            caption,
            plot_indicator_scores(
                {n: _array(arrays, f"reliability/{n}/scores_in", what) for n in indicators},
                {n: _array(arrays, f"reliability/{n}/scores_shifted", what) for n in indicators},
                {n: v.threshold for n, v in indicators.items()},
                labels=labels,
            ),
        )
    ]


def _depth_map_figures(result: AuditResult, arrays) -> list[ReportFigure]:
    if not result.depth_maps:
        return []
    names, out = list(result.case.input_names), []
    inside = outside = None
    if "inputs/queries" in arrays:
        outside_mask = np.asarray(_array(arrays, "queries/outside", "depth maps"), bool)
        queries = np.asarray(arrays["inputs/queries"], dtype=float)
        if outside_mask.shape != (queries.shape[0],):
            raise ValueError(
                f"result.arrays['queries/outside'] must have shape ({queries.shape[0]},), got "
                f"{outside_mask.shape}"
            )
    for i, m in enumerate(result.depth_maps):
        key = m.key
        cols = _columns(names, m.inputs, f"depth_maps[{i}].inputs")
        where = ", ".join(f"{k} = {v:.3g}" for k, v in m.fixed.items()) or "no other inputs"
        if "inputs/queries" in arrays:
            projected = _project(arrays, "inputs/queries", cols, len(names))
            inside, outside = projected[~outside_mask], projected[outside_mask]
        out.append(
            ReportFigure(
                f"{_file_name(key)}.png",
                "depth_maps",
                f"{m.indicator} over ({names[cols[0]]}, {names[cols[1]]})",
                f"Score of the {m.indicator} indicator on the slice where {where}; the red line "
                "is the validity boundary at the calibrated threshold (outside it the surrogate "
                "should not be trusted). Points are projected on the slice from all "
                f"{len(names)} inputs, and queries are marked by their verdict in all of them "
                "(combined indicator), so a query judged outside can appear inside this "
                "slice's boundary: it leaves the domain through the inputs held fixed here.",
                plot_depth_map(
                    _array(arrays, f"{key}/grid_x", "depth map"),
                    _array(arrays, f"{key}/grid_y", "depth map"),
                    _array(arrays, f"{key}/score", "depth map"),
                    m.threshold,
                    input_names=[names[c] for c in cols],
                    indicator=m.indicator,
                    train=_project(arrays, "inputs/train", cols, len(names)),
                    queries_inside=inside,
                    queries_outside=outside,
                    fixed=m.fixed,
                ),
            )
        )
    return out


def audit_figures(result: AuditResult) -> list[ReportFigure]:
    """Draw every figure of the report of an audit, in the order of the report's sections.

    Stages that did not run (``None``, empty, or :class:`~edtjax.audit.records.Skipped`)
    give no figure.
    Drawing cost is dominated by the depth maps, :math:`O(G H)` each, and the scatter of the
    training inputs, :math:`O(n)` per map.

    Args:
        result: an :class:`edtjax.audit.AuditResult` that passes
            :func:`edtjax.audit.check_audit_result`.

    Returns:
        A list of :class:`ReportFigure`, with unique file names.

    Raises:
        ValueError: if ``result`` violates the contract (a missing array, shapes that
            disagree with the input and output names, non-finite values).

    Example:
        >>> from edtjax.audit import AuditResult
        >>> from edtjax.audit.records import CaseInfo, SurrogateInfo
        >>> case = CaseInfo("toy", ["a", "b"], ["y"], 8, 4, 4, 4, 0, 0, False, 0, {}, "0",
        ...                 False, SurrogateInfo("trained", "ensemble", "trained"))
        >>> stages = dict.fromkeys(["surrogates", "sobol", "parameter_gsa", "transport",
        ...                         "reliability", "depth_maps", "queries", "bias"])
        >>> result = AuditResult(case, **stages, arrays={}, timings={"fit": 1.0})
        >>> [f.file_name for f in audit_figures(result)]
        ['stage_timings.png']

    References:
        Saltelli, A. et al. (2008). Global Sensitivity Analysis: The Primer. Wiley.
        Hallin, M. et al. (2021). Ann. Statist. 49(2), 1139-1165.
    """
    check_audit_result(result)
    arrays = result.arrays
    figures: list[ReportFigure] = []
    if result.surrogates:
        figures += _uq_figures(result, arrays)
    figures += _sensitivity_figures(result)
    figures += _transport_figures(result, arrays)
    figures += _reliability_figures(result, arrays)
    figures += _depth_map_figures(result, arrays)
    if result.timings:
        figures.append(
            ReportFigure(
                "stage_timings.png",
                "timings",
                "Stage timings",
                "Wall time of each stage in the order it ran; the longest bar is where to look "
                "first to make the audit faster.",
                plot_stage_timings(result.timings),
            )
        )
    file_names = [f.file_name for f in figures]
    if len(set(file_names)) != len(file_names):
        raise ValueError(f"result.depth_maps keys must be unique, got {file_names}")
    return figures
