"""What an audit reads and what it produces: :class:`AuditData` and :class:`AuditResult`.

These two containers are the contract between the audit pipeline (which fills them) and the
report writer (which turns them into ``report.json``, PNG figures and ``report.html``).

:class:`AuditResult` holds three things:

* ``numbers``: every number of the report, as a nested JSON-serialisable ``dict`` (str keys;
  values are ``float``, ``int``, ``bool``, ``str``, ``None``, lists or dicts of these). Lists of
  lists are row-major arrays. Top-level keys, each present (a stage that cannot run, such as the
  simulator's Sobol indices on user data, holds ``None`` or says why in ``"skipped"``):

  ``"case"``
      ``name`` (str), ``input_names``, ``output_names`` (lists of str), ``n_train``,
      ``n_calibration``, ``n_test``, ``n_queries_in`` (the in-domain test split), ``n_queries``
      (the user's queries), ``n_queries_shifted`` (``n_queries`` when they are shifted by
      construction, else 0) (int), ``queries_shifted_by_construction`` (bool), ``seed``,
      ``config`` (the full configuration as a dict), ``edtjax_version`` (str),
      ``has_simulator`` (bool), ``surrogate`` (``{"source": "trained" | "function" |
      "predictions", "name": str, "statement": str}``: the audit's own ensemble or the user's
      surrogate, see :mod:`edtjax.audit.surrogate`).
  ``"surrogates"``
      ``{method: {"rmse": [per output], "nll": f, "crps": f, "coverage_90": f, "width_90": f,
      "calibration_error": f, "conformal_coverage_90": f, "conformal_width_90": f}}`` on the
      in-domain test set (standardised outputs for nll, crps, widths).
  ``"sobol"``
      ``{"law": W, "simulator": S or None, "surrogate": S or None, "surrogate_note": str or
      None (why the surrogate's indices are missing), "agreement": A or None,
      "empirical": E or None, "total_available": bool, "total_note": str or None,
      "validity": V or {"skipped": why} or None, "ranking_index": "total" | "first",
      "ranking_inputs": [names, most influential first]}``. The law the indices describe is
      ``W = {"kind": "declared" | "empirical", "source": str, "description": str (e.g.
      ``"empirical (800 runs)"``), "inputs": {name: law text} or None, "num_runs": int or
      None}``: declared by the config's ``[inputs]`` table, or by the data's ``box``
      (independent uniform laws, the built-in case); else the empirical law of the labelled
      runs. With declared laws, ``S = {"first": (d, o), "first_ci": (d, o, 2), "total":
      (d, o), "total_ci": (d, o, 2), "num_samples": int}`` (pick-freeze, indexed by input then
      output; the simulator's only with a simulator) and ``A = {"max_abs_diff_first": f,
      "max_abs_diff_total": f, "same_ranking": bool, "ranking_conflicts": [str],
      "same_top_input": bool}`` (simulator vs surrogate); ``empirical`` is ``None``. Without
      them, ``simulator``, ``surrogate`` and ``agreement`` are ``None``, ``total_available``
      is false with the reason in ``total_note``, and ``E = {"data": F, "surrogate": F or
      None, "agreement": A without "max_abs_diff_total" (surrogate vs data, first order) or
      None, "num_runs": int, "method": str}`` with rank-based first-order indices
      ``F = {"first": (d, o), "first_ci": (d, o, 2) or None, "num_samples": int, "method":
      str}`` of the labelled outputs and of the surrogate's predictions at the labelled
      inputs. With declared laws, after the reliability stage, ``V = {"indicator":
      "combined", "alpha": f, "num_draws": int, "n_outside": int, "share_outside": f,
      "threshold": f, "describes_extrapolation": bool, "statement": str, "restricted":
      {"num_draws": int, "surrogate": F or None, "simulator": F or None, "note": str} or
      {"skipped": why}}``: the share of i.i.d. draws from the declared laws that the combined
      indicator flags outside the validity domain, whether it exceeds the threshold
      (``config.sobol_extrapolation_share``: the indices then describe extrapolation), and
      first-order indices on the accepted draws only (the laws restricted to the domain).
  ``"parameter_gsa"``
      ``{"groups": [layer names], "first": (g, o), "total": (g, o), "num_samples": int}``,
      or ``{"skipped": why}`` for a user surrogate (its parameters are unknown).
  ``"transport"``
      ``{"shift_tests": {test: {"statistic": f, "p_value": f, "rejected": bool,
      "compared": str}}, "contour_inputs": [name_i, name_j], "contour_levels": [taus],
      "mk_depth": {"in_domain_mean": f, "shifted_mean": f}}``.
  ``"reliability"``
      ``{"alpha": f, "evaluated_on": str, "indicators": {name: {"false_alarm_rate": f,
      "detection_rate": f or None, "auroc": f or None, "error_spearman": f or None,
      "threshold": f}}}``; the combined indicator is one of them, named ``"combined"``. False
      alarms are counted on the in-domain test split; detection rate and AUROC are ``None``
      unless the queries are shifted by construction.
  ``"depth_maps"``
      list of ``{"key": "depth_map/<k>", "inputs": [name_i, name_j], "indicator": name,
      "threshold": f, "fixed": {other input: value}}`` describing 2-D slices.
  ``"queries"`` (optional: absent or ``None`` without queries)
      ``{"count": m, "alpha": f, "verdict_indicator": "combined", "n_inside": int,
      "n_outside": int, "shifted_by_construction": bool, "interval_level": f,
      "indicators": [names, "combined" last], "attribution": {"indicators": [names],
      "not_differentiable": [names], "method": str} or {"skipped": why},
      "extreme": [{"query": int, "p_combined": f, "verdict": "inside"|"outside",
      "pushed_out_by": name or None, "inputs": {name: f}, "mean": [per output],
      "interval": [[lo, hi] per output]}] (lowest combined p-values first), "labelled": L or
      None}``
      where, when the queries carry outputs, ``L = {"large_error_quantile": f,
      "large_error_threshold": f, "large_error_definition": str, "inside": G, "outside": G,
      "n_large_errors": int, "large_errors_caught": f or None, "flagged_with_large_error": f or
      None, "error_spearman": f or None}`` and ``G = {"count": int, "mae": [per output] or
      None, "coverage": [per output] or None, "n_large_errors": int}`` (accepted and flagged
      queries).
  ``"bias"``
      ``{"quantity": str, "description": str, "exact": f, "surrogate": f, "true_bias": f,
      "predicted_bias": f, "interval": [lo, hi], "level": f, "contains_true": bool,
      "posterior_spread": {"mean": f, "interval": [lo, hi]} or None}`` (the spread needs
      the ensemble's members: ``None`` for a user surrogate), ``None`` on user data without
      a downstream quantity, or ``{"skipped": why}`` when the surrogate is known only by its
      predictions and the quantity needs new inputs.

* ``arrays``: ``{name: numpy array}`` that the figures need, flat names with ``/``:

  ``"calibration/expected"`` ``(L,)`` and ``"calibration/<method>"`` ``(L,)``: expected vs
  observed frequency of the PIT (one curve per surrogate method).
  ``"coverage/nominal"`` ``(K,)``, ``"coverage/<method>"`` ``(K,)`` and
  ``"coverage/<method>/conformal"`` ``(K,)``: empirical coverage of central intervals.
  ``"inputs/train"`` ``(n, d)``, ``"inputs/queries_in"`` ``(m1, d)`` (the in-domain test
  split), ``"inputs/queries"`` ``(m, d)`` (the queries, in the user's order): points to
  overlay on the maps.
  Per query, in the user's order (present with ``numbers["queries"]``):
  ``"queries/mean"``, ``"queries/lower"``, ``"queries/upper"`` ``(m, o)`` (prediction and
  conformal interval, physical units), ``"queries/score/<indicator>"`` and
  ``"queries/p_value/<indicator>"`` ``(m,)`` (the combined indicator included),
  ``"queries/outside"`` ``(m,)`` bool (the verdict), ``"queries/pushed_out_by"`` ``(m,)`` int
  (input index, -1 when no attribution), ``"queries/attribution_indicator"`` ``(m,)`` int
  (index into ``numbers["queries"]["attribution"]["indicators"]``, -1 when none),
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
  are shifted only when ``numbers["case"]["queries_shifted_by_construction"]``).

* ``timings``: ``{stage: seconds}`` in the order the stages ran.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["AuditData", "AuditResult", "check_audit_result"]

_TOP_LEVEL_KEYS = (
    "bias",
    "case",
    "depth_maps",
    "parameter_gsa",
    "reliability",
    "sobol",
    "surrogates",
    "transport",
)


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
    simulator: Callable[[Any], Any] | None
    box: Mapping[str, tuple[float, float]] | None
    queries_shifted: bool = False


class AuditResult(NamedTuple):
    """Everything an audit found; see the module docstring for the keys.

    Attributes:
        numbers: nested JSON-serialisable dict of every reported number.
        arrays: ``{name: numpy array}`` behind the figures.
        timings: ``{stage: seconds}`` in the order the stages ran.
    """

    numbers: dict[str, Any]
    arrays: dict[str, np.ndarray]
    timings: dict[str, float]


def _check_json(path: str, value: Any) -> None:
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

    Checks the top-level keys, that every number is a finite JSON value, that every array is a
    finite NumPy array, and that timings are non-negative seconds.
    """
    if not isinstance(result, AuditResult):
        raise ValueError(f"result must be an AuditResult, got {type(result).__name__}")
    missing = [k for k in _TOP_LEVEL_KEYS if k not in result.numbers]
    if missing:
        raise ValueError(f"result.numbers lacks the keys {missing}")
    _check_json("", result.numbers)
    for name, array in result.arrays.items():
        if not isinstance(array, np.ndarray):
            raise ValueError(f"result.arrays[{name!r}] must be a numpy array")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"result.arrays[{name!r}] has non-finite values")
    for stage, seconds in result.timings.items():
        if not (isinstance(seconds, float) and seconds >= 0.0):
            raise ValueError(f"result.timings[{stage!r}] must be non-negative seconds")
