"""What an audit reads and what it produces: :class:`AuditData` and :class:`AuditResult`.

These two containers are the contract between the audit pipeline (which fills them) and the
report writer (which turns them into ``report.json``, PNG figures and ``report.html``).

:class:`AuditResult` holds one typed record per stage (the classes of
:mod:`edtjax.audit.records`, read by attribute), the arrays behind the figures and the timings.
A stage that cannot run, such as the simulator's Sobol indices on user data, holds ``None``
or :class:`~edtjax.audit.records.Skipped` (``reason``). ``AuditResult.numbers`` gives every
record as JSON, ``report.json["numbers"]``: each record becomes an object whose keys are its
field names in order (``Skipped`` becomes ``{"skipped": reason}``), and
``AuditResult.from_json`` reads it back. Lists of lists are row-major arrays; ``(d, o)``
is indexed by input then output, ``(d, o, 2)`` adds the lower and upper bound.

* ``case``, :class:`~edtjax.audit.records.CaseInfo`:
  ``name``, ``input_names``, ``output_names``, ``n_train``, ``n_calibration``, ``n_test``,
  ``n_queries_in`` (the in-domain test split), ``n_queries`` (the user's queries),
  ``n_queries_shifted`` (``n_queries`` when they are shifted by construction, else 0),
  ``queries_shifted_by_construction``, ``seed``, ``config`` (the full configuration as a
  dict, one entry per section as :func:`~edtjax.audit.config_to_dict` writes it),
  ``edtjax_version``, ``has_simulator`` and ``surrogate``, a
  :class:`~edtjax.audit.records.SurrogateInfo` (``source``: ``"trained"``,
  ``"function"`` or ``"predictions"``, ``name``, ``statement``): the audit's own ensemble
  or the user's surrogate, see :mod:`edtjax.audit.surrogate`.
* ``surrogates``, ``{method: SurrogateScores}``:
  :class:`~edtjax.audit.records.SurrogateScores` on the in-domain test set: ``rmse`` (per
  output), ``nll``, ``crps``, ``coverage_90``, ``width_90``, ``calibration_error``,
  ``conformal_coverage_90``, ``conformal_width_90`` (standardised outputs for nll, crps,
  widths).
* ``sobol``, :class:`~edtjax.audit.records.SobolResult`:
  ``law``, ``simulator``, ``surrogate``, ``surrogate_note`` (why the surrogate's indices
  are missing, else ``None``), ``empirical``, ``agreement``, ``total_available``,
  ``total_note``, ``validity``, ``ranking_index`` (``"total"`` or ``"first"``),
  ``ranking_inputs`` (names, most influential first). The law the indices describe is an
  :class:`~edtjax.audit.records.InputLaw` (``kind``: ``"declared"`` or ``"empirical"``,
  ``source``, ``description`` e.g. ``"empirical (800 runs)"``, ``inputs``: ``{name: law
  text}`` or ``None``, ``num_runs``: int or ``None``): declared by the config's
  ``[inputs]`` table, or by the data's ``box`` (independent uniform laws, the built-in
  case); else the empirical law of the labelled runs. With declared laws, ``simulator``
  and ``surrogate`` are :class:`~edtjax.audit.records.IndexTable` (pick-freeze ``first``,
  ``total`` ``(d, o)``, ``first_ci``, ``total_ci`` ``(d, o, 2)``, ``num_samples``; the
  simulator's only with a simulator), ``agreement`` an
  :class:`~edtjax.audit.records.Agreement` (simulator vs surrogate:
  ``max_abs_diff_first``, ``max_abs_diff_total``, ``same_ranking``,
  ``ranking_conflicts``, ``same_top_input``) and ``empirical`` is ``None``. Without them,
  ``simulator``, ``surrogate`` and ``agreement`` are ``None``, ``total_available`` is
  false with the reason in ``total_note``, and ``empirical`` is an
  :class:`~edtjax.audit.records.EmpiricalIndices` (``data``, ``surrogate``: rank-based
  :class:`~edtjax.audit.records.FirstOrderIndices` of the labelled outputs and of the
  surrogate's predictions at the labelled inputs, ``first`` ``(d, o)``, ``first_ci``
  ``(d, o, 2)`` or ``None``, ``num_samples``, ``method``; ``agreement``: a
  :class:`~edtjax.audit.records.FirstOrderAgreement`, surrogate vs data, or ``None``;
  ``num_runs``, ``method``). With declared laws, after the reliability stage,
  ``validity`` is a :class:`~edtjax.audit.records.LawValidity` (``indicator``
  ``"combined"``, ``alpha``, ``num_draws``, ``n_outside``, ``share_outside``,
  ``threshold``, ``describes_extrapolation``, ``statement``, ``restricted``: a
  :class:`~edtjax.audit.records.RestrictedIndices` with ``num_draws``, ``surrogate`` and
  ``simulator`` first-order indices or ``None``, ``note``; or ``Skipped``): the share of
  i.i.d. draws from the declared laws that the combined indicator flags outside the
  validity domain, whether it exceeds the threshold
  (``config.sensitivity.sobol_extrapolation_share``: the indices then describe
  extrapolation), and first-order indices on the accepted draws only (the laws restricted to
  the domain). ``validity`` is ``Skipped`` on the empirical
  law or when the indicator cannot judge new draws.
* ``parameter_gsa``, :class:`~edtjax.audit.records.ParameterSensitivity`:
  ``groups`` (layer names), ``first``, ``total`` ``(g, o)``, ``num_samples``,
  ``perturbation``, ``points``; ``Skipped`` for a user surrogate (its parameters are
  unknown).
* ``transport``, :class:`~edtjax.audit.records.TransportResult`:
  ``mk_depth`` (:class:`~edtjax.audit.records.MeanDepths`: ``in_domain_mean``,
  ``shifted_mean``), ``contour_levels`` (taus), ``shift_tests``: ``{test: ShiftTest}``
  (:class:`~edtjax.audit.records.ShiftTest`: ``statistic``, ``p_value``, ``rejected``,
  ``compared``), ``contour_inputs`` (``[name_i, name_j]``).
* ``reliability``, :class:`~edtjax.audit.records.ReliabilityResult`:
  ``alpha``, ``indicators``: ``{name: IndicatorRates}``
  (:class:`~edtjax.audit.records.IndicatorRates`: ``false_alarm_rate``,
  ``detection_rate``, ``auroc``, ``error_spearman`` (each float or ``None``),
  ``threshold``), ``how_combined``, ``evaluated_on``; the combined indicator is one of the
  indicators, named ``"combined"``. False alarms are counted on the in-domain test split;
  detection rate and AUROC are ``None`` unless the queries are shifted by construction.
* ``depth_maps``, list of :class:`~edtjax.audit.records.DepthMap`:
  ``key`` (``"depth_map/<k>"``), ``inputs`` (``[name_i, name_j]``), ``indicator``,
  ``threshold``, ``fixed`` (``{other input: value}``): 2-D slices.
* ``queries``, :class:`~edtjax.audit.records.QueryAnswers`, ``None`` without queries:
  ``count``, ``alpha``, ``verdict_indicator`` (``"combined"``), ``n_inside``,
  ``n_outside``, ``shifted_by_construction``, ``interval_level``, ``indicators`` (names,
  ``"combined"`` last), ``attribution`` (:class:`~edtjax.audit.records.Attribution`:
  ``indicators``, ``not_differentiable``, ``method``; or ``Skipped``), ``extreme``
  (:class:`~edtjax.audit.records.ExtremeQuery` list, lowest combined p-values first:
  ``query``, ``p_combined``, ``verdict`` ``"inside"`` or ``"outside"``,
  ``pushed_out_by`` (name or ``None``), ``inputs`` ``{name: value}``, ``mean`` (per
  output), ``interval`` (``[lo, hi]`` per output)), ``labelled``: when the queries carry
  outputs a :class:`~edtjax.audit.records.LabelledErrors` (``large_error_quantile``,
  ``large_error_threshold``, ``large_error_definition``, ``inside`` and ``outside``:
  :class:`~edtjax.audit.records.ErrorGroup` of the accepted and flagged queries with
  ``count``, ``mae`` and ``coverage`` (per output, or ``None``), ``n_large_errors``;
  ``n_large_errors``, ``large_errors_caught``, ``flagged_with_large_error``,
  ``error_spearman``), else ``None``.
* ``bias``, :class:`~edtjax.audit.records.BiasResult`:
  ``quantity``, ``description``, ``exact``, ``surrogate``, ``true_bias``,
  ``predicted_bias``, ``interval`` (``[lo, hi]``), ``level``, ``contains_true``,
  ``posterior_spread`` (:class:`~edtjax.audit.records.Spread`: ``mean``, ``interval``;
  it needs the ensemble's members: ``None`` for a user surrogate); ``None`` on user data
  without a downstream quantity, or ``Skipped`` when the surrogate is known only by its
  predictions and the quantity needs new inputs.

* ``arrays``: ``{name: numpy array}`` that the figures need, flat names with ``/``:

  ``"calibration/expected"`` ``(L,)`` and ``"calibration/<method>"`` ``(L,)``: expected vs
  observed frequency of the PIT (one curve per surrogate method).
  ``"coverage/nominal"`` ``(K,)``, ``"coverage/<method>"`` ``(K,)`` and
  ``"coverage/<method>/conformal"`` ``(K,)``: empirical coverage of central intervals.
  ``"inputs/train"`` ``(n, d)``, ``"inputs/queries_in"`` ``(m1, d)`` (the in-domain test
  split), ``"inputs/queries"`` ``(m, d)`` (the queries, in the user's order): points to
  overlay on the maps.
  Per query, in the user's order (present with ``queries``):
  ``"queries/mean"``, ``"queries/lower"``, ``"queries/upper"`` ``(m, o)`` (prediction and
  conformal interval, physical units), ``"queries/score/<indicator>"`` and
  ``"queries/p_value/<indicator>"`` ``(m,)`` (the combined indicator included),
  ``"queries/outside"`` ``(m,)`` bool (the verdict), ``"queries/pushed_out_by"`` ``(m,)`` int
  (input index, -1 when no attribution), ``"queries/attribution_indicator"`` ``(m,)`` int
  (index into ``queries.attribution.indicators``, -1 when none),
  ``"queries/attribution_share"`` ``(m,)`` (share of the squared gradient on that input); with
  true outputs also ``"queries/y"``, ``"queries/abs_error"`` ``(m, o)``,
  ``"queries/in_interval"`` ``(m, o)`` bool and ``"queries/large_error"`` ``(m,)`` bool.
  ``"depth_map/<k>/grid_x"`` ``(G,)``, ``"depth_map/<k>/grid_y"`` ``(H,)``,
  ``"depth_map/<k>/score"`` ``(H, G)``: indicator score on the slice, ``score[a, b]`` at
  ``(grid_x[b], grid_y[a])``; the validity boundary is its contour at the slice's threshold.
  ``"contour/<k>"`` ``(P, 2)``: the center-outward quantile contour of level
  ``contour_levels[k]`` in the two ``contour_inputs``.
  ``"shift/<test>/null"`` ``(B,)``: permutation statistics of each shift test.
  ``"reliability/<indicator>/scores_in"``, ``"reliability/<indicator>/scores_shifted"``:
  scores of the in-domain test split and of the queries (the name is historical: the queries
  are shifted only when ``case.queries_shifted_by_construction``).

* ``timings``: ``{stage: seconds}`` in the order the stages ran.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from edtjax.audit.records import (
    BiasResult,
    CaseInfo,
    DepthMap,
    HybridResult,
    ParameterSensitivity,
    QueryAnswers,
    ReliabilityResult,
    Skipped,
    SobolResult,
    SurrogateScores,
    TransportResult,
    read_json,
    to_json,
)

__all__ = ["AuditData", "AuditResult", "check_audit_result"]


class AuditData(NamedTuple):
    """The data an audit runs on.

    Attributes:
        name: a short name of the case (``"thermodiffusion"`` or the data file's name).
        x: ``(n, d)`` inputs of the labelled data (split by the pipeline into train,
            calibration and test).
        y: ``(n, o)`` outputs.
        queries: ``(m, d)`` new inputs to judge (the "new context"); ``None`` if there are none.
        queries_y: ``(m, o)`` outputs at the queries when they are known, else ``None``.
        input_names: ``d`` column names of ``x``.
        output_names: ``o`` column names of ``y``.
        simulator: ``f(x) -> y`` on ``(k, d)`` arrays when the exact model is available
            (built-in case), else ``None`` (user data: no simulator Sobol indices).
        box: ``{input name: (low, high)}`` of the training domain when known, else ``None``;
            when given, it declares independent uniform laws for the Sobol' stage (and the
            downstream bias sample) unless the config's ``[inputs]`` declares others.
        queries_shifted: ``True`` only when every query is known, by construction, to lie
            outside the training domain (the built-in case draws them beyond its box); the
            report then also gives the indicators' detection rate and AUROC on them. Default
            ``False``: the queries are the user's, and which of them are outside is the
            audit's answer, not an assumption.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    queries: np.ndarray | None
    queries_y: np.ndarray | None
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    simulator: Callable[[np.ndarray], np.ndarray] | None
    box: Mapping[str, tuple[float, float]] | None
    queries_shifted: bool = False


class AuditResult(NamedTuple):
    """Everything an audit found, one typed record per stage (see the module docstring).

    A stage that did not run holds ``None`` or :class:`~edtjax.audit.records.Skipped`.

    Attributes:
        case: the :class:`~edtjax.audit.records.CaseInfo`.
        surrogates: ``{method: SurrogateScores}`` on the in-domain test split.
        sobol: the :class:`~edtjax.audit.records.SobolResult`.
        parameter_gsa: the :class:`~edtjax.audit.records.ParameterSensitivity`.
        transport: the :class:`~edtjax.audit.records.TransportResult`.
        reliability: the :class:`~edtjax.audit.records.ReliabilityResult`.
        depth_maps: the :class:`~edtjax.audit.records.DepthMap` slices.
        queries: the :class:`~edtjax.audit.records.QueryAnswers` (``None`` without queries).
        bias: the :class:`~edtjax.audit.records.BiasResult`.
        arrays: ``{name: numpy array}`` behind the figures.
        timings: ``{stage: seconds}`` in the order the stages ran.
        hybrid: the :class:`~edtjax.audit.records.HybridResult` (the surrogate in the loop on
            the queries, with the simulator as fallback), :class:`Skipped` or ``None``.
    """

    case: CaseInfo
    surrogates: dict[str, SurrogateScores] | None
    sobol: SobolResult | Skipped | None
    parameter_gsa: ParameterSensitivity | Skipped | None
    transport: TransportResult | Skipped | None
    reliability: ReliabilityResult | Skipped | None
    depth_maps: list[DepthMap] | None
    queries: QueryAnswers | None
    bias: BiasResult | Skipped | None
    arrays: dict[str, np.ndarray]
    timings: dict[str, float]
    hybrid: HybridResult | Skipped | None = None

    @property
    def numbers(self) -> dict[str, object]:
        """Every reported number as the nested JSON dict of ``report.json["numbers"]``."""
        return {name: to_json(getattr(self, name)) for name in _NUMBERS}

    @classmethod
    def from_json(
        cls, numbers: Mapping[str, object], arrays: dict[str, np.ndarray], timings: dict[str, float]
    ) -> AuditResult:
        """Read a result back from its ``numbers`` (e.g. ``report.json["numbers"]``).

        ``numbers["queries"]`` may be absent (no queries), and ``numbers["hybrid"]`` (a report
        written before the hybrid stage existed).

        Raises:
            ValueError: a part of ``numbers`` lacks a key of its record or has an unknown one
                (the message names it).

        Example:
            >>> import json
            >>> numbers = {k: None for k in ("surrogates", "sobol", "parameter_gsa",
            ...            "transport", "reliability", "depth_maps", "queries", "bias")}
            >>> numbers["case"] = {"name": "toy", "input_names": ["a", "b"],
            ...     "output_names": ["y"], "n_train": 8, "n_calibration": 4, "n_test": 4,
            ...     "n_queries_in": 4, "n_queries": 0, "n_queries_shifted": 0,
            ...     "queries_shifted_by_construction": False, "seed": 0, "config": {},
            ...     "edtjax_version": "0", "has_simulator": False, "surrogate": {
            ...     "source": "trained", "name": "ensemble", "statement": "trained"}}
            >>> result = AuditResult.from_json(numbers, {}, {"split": 0.1})
            >>> result.case.input_names, result.numbers["case"] == numbers["case"]
            (['a', 'b'], True)
        """
        if not isinstance(numbers, Mapping):
            raise ValueError(f"numbers must be a dict, got {type(numbers).__name__}")
        missing = [k for k in _NUMBERS if k not in numbers and k not in _OPTIONAL]
        extra = [k for k in numbers if k not in _NUMBERS]
        if missing or extra:
            raise ValueError(f"numbers lacks the keys {missing} or has unknown keys {extra}")
        hints = typing.get_type_hints(cls)
        fields = {k: read_json(hints[k], numbers.get(k), f"numbers[{k!r}]") for k in _NUMBERS}
        return cls(**fields, arrays=arrays, timings=timings)


_NUMBERS = (
    "surrogates",
    "sobol",
    "parameter_gsa",
    "transport",
    "reliability",
    "depth_maps",
    "queries",
    "bias",
    "hybrid",
    "case",
)
"""The parts of ``AuditResult.numbers``, in the order of ``report.json``."""

_OPTIONAL = ("queries", "hybrid")


def _check_json(path: str, value: object) -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"numbers{path} is not finite: {value}")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(f"{path}[{i}]", item)
        return
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                raise ValueError(f"numbers{path} has a non-string key {k!r}")
            _check_json(f"{path}[{k!r}]", item)
        return
    raise ValueError(f"numbers{path} has a value of type {type(value).__name__}, not JSON")


def check_audit_result(result: AuditResult) -> None:
    """Raise ``ValueError`` unless ``result`` follows the contract of this module.

    Checks that the result has a :class:`~edtjax.audit.records.CaseInfo`, that every number
    is a finite JSON value, that every array is a finite NumPy array, and that timings are
    non-negative seconds.
    """
    if not isinstance(result, AuditResult):
        raise ValueError(f"result must be an AuditResult, got {type(result).__name__}")
    if not isinstance(result.case, CaseInfo):
        raise ValueError(f"result.case must be a CaseInfo, got {type(result.case).__name__}")
    _check_json("", result.numbers)
    for name, array in result.arrays.items():
        if not isinstance(array, np.ndarray):
            raise ValueError(f"result.arrays[{name!r}] must be a numpy array")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"result.arrays[{name!r}] has non-finite values")
    for stage, seconds in result.timings.items():
        if not (isinstance(seconds, float) and seconds >= 0.0):
            raise ValueError(f"result.timings[{stage!r}] must be non-negative seconds")
