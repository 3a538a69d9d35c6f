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
      ``n_calibration``, ``n_test``, ``n_queries_in``, ``n_queries_shifted`` (int), ``seed``,
      ``config`` (the full configuration as a dict), ``edtjax_version`` (str).
  ``"surrogates"``
      ``{method: {"rmse": [per output], "nll": f, "crps": f, "coverage_90": f, "width_90": f,
      "calibration_error": f, "conformal_coverage_90": f, "conformal_width_90": f}}`` on the
      in-domain test set (standardised outputs for nll, crps, widths).
  ``"sobol"``
      ``{"simulator": S or None, "surrogate": S, "agreement": {"max_abs_diff_first": f,
      "max_abs_diff_total": f, "same_ranking": bool, "ranking_conflicts": [str],
      "same_top_input": bool} or None}`` with
      ``S = {"first": (d, o), "first_ci": (d, o, 2), "total": (d, o), "total_ci": (d, o, 2),
      "num_samples": int}`` indexed by input then output.
  ``"parameter_gsa"``
      ``{"groups": [layer names], "first": (g, o), "total": (g, o), "num_samples": int}``.
  ``"transport"``
      ``{"shift_tests": {test: {"statistic": f, "p_value": f, "rejected": bool,
      "compared": str}}, "contour_inputs": [name_i, name_j], "contour_levels": [taus],
      "mk_depth": {"in_domain_mean": f, "shifted_mean": f}}``.
  ``"reliability"``
      ``{"alpha": f, "indicators": {name: {"false_alarm_rate": f, "detection_rate": f,
      "auroc": f, "error_spearman": f, "threshold": f}}}``; the combined indicator is one of them,
      named ``"combined"``.
  ``"depth_maps"``
      list of ``{"key": "depth_map/<k>", "inputs": [name_i, name_j], "indicator": name,
      "threshold": f, "fixed": {other input: value}}`` describing 2-D slices.
  ``"bias"``
      ``{"quantity": str, "description": str, "exact": f, "surrogate": f, "true_bias": f,
      "predicted_bias": f, "interval": [lo, hi], "level": f, "contains_true": bool,
      "posterior_spread": {"mean": f, "interval": [lo, hi]}}`` or ``None`` on user data
      without a downstream quantity.

* ``arrays``: ``{name: numpy array}`` that the figures need, flat names with ``/``:

  ``"calibration/expected"`` ``(L,)`` and ``"calibration/<method>"`` ``(L,)``: expected vs
  observed frequency of the PIT (one curve per surrogate method).
  ``"coverage/nominal"`` ``(K,)``, ``"coverage/<method>"`` ``(K,)`` and
  ``"coverage/<method>/conformal"`` ``(K,)``: empirical coverage of central intervals.
  ``"inputs/train"`` ``(n, d)``, ``"inputs/queries_in"`` ``(m1, d)``,
  ``"inputs/queries_shifted"`` ``(m2, d)``: points to overlay on the maps.
  ``"depth_map/<k>/grid_x"`` ``(G,)``, ``"depth_map/<k>/grid_y"`` ``(H,)``,
  ``"depth_map/<k>/score"`` ``(H, G)``: indicator score on the slice, ``score[a, b]`` at
  ``(grid_x[b], grid_y[a])``; the validity boundary is its contour at the slice's threshold.
  ``"contour/<k>"`` ``(P, 2)``: the center-outward quantile contour of level
  ``contour_levels[k]`` in the two ``contour_inputs``.
  ``"shift/<test>/null"`` ``(B,)``: permutation statistics of each shift test.
  ``"reliability/<indicator>/scores_in"``, ``"reliability/<indicator>/scores_shifted"``:
  scores of in-domain and shifted queries.

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
        box: ``{input name: (low, high)}`` of the training domain when known, else ``None``.
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
