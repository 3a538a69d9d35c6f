"""An answer per query: the rows of ``queries.csv`` and ``queries.json`` of an audit report."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping

import numpy as np

from edtjax._typing import ArrayLike
from edtjax.audit.records import CaseInfo, QueryAnswers, Skipped, SurrogateInfo
from edtjax.audit.result import AuditResult, check_audit_result

__all__ = ["query_table", "query_table_csv", "query_table_json"]


def _example_result() -> AuditResult:
    """A two-query result for the examples: one input ``a``, one output ``y``."""
    case = CaseInfo(
        "toy", ["a"], ["y"], 8, 4, 4, 4, 2, 0, False, 0, {}, "0", False,
        SurrogateInfo("trained", "deep ensemble", "trained by the audit"),
    )  # fmt: skip
    queries = QueryAnswers(
        count=2,
        alpha=0.1,
        verdict_indicator="combined",
        n_inside=1,
        n_outside=1,
        shifted_by_construction=False,
        interval_level=0.9,
        indicators=["combined"],
        attribution=Skipped("no differentiable indicator"),
        extreme=[],
        labelled=None,
    )
    arrays = {
        "inputs/queries": np.array([[0.0], [5.0]]),
        "queries/mean": np.zeros((2, 1)),
        "queries/lower": -np.ones((2, 1)),
        "queries/upper": np.ones((2, 1)),
        "queries/score/combined": np.array([0.1, 9.0]),
        "queries/p_value/combined": np.array([0.8, 0.01]),
        "queries/outside": np.array([False, True]),
        "queries/pushed_out_by": np.array([-1, -1]),
        "queries/attribution_indicator": np.array([-1, -1]),
        "queries/attribution_share": np.zeros(2),
    }
    stages = ("surrogates", "sobol", "parameter_gsa", "transport", "reliability")
    stages += ("depth_maps", "bias")
    return AuditResult(
        case=case, **dict.fromkeys(stages), queries=queries, arrays=arrays, timings={}
    )


def _array(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"result.arrays lacks {name!r}, needed for the per-query table")
    a = np.asarray(arrays[name])
    if a.shape != shape:
        raise ValueError(f"result.arrays[{name!r}] must have shape {shape}, got {a.shape}")
    return a


def _number(value: ArrayLike) -> float | bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return float(value)


def query_table(
    result: AuditResult,
) -> tuple[list[str], list[dict[str, str | float | bool | None]]]:
    r"""One row per query, in the user's order, from an audit result.

    Columns, in order (``<input>``, ``<output>`` and ``<indicator>`` are names of the case):

    * ``query``: the 0-based row of the query in the user's queries file;
    * ``<input>``: the query's inputs (named ``input[<input>]`` if a name collides with
      another column);
    * ``mean[<output>]``, ``lower[<output>]``, ``upper[<output>]``: the surrogate's predictive
      mean and split-conformal interval at ``interval_level`` (physical units);
    * ``score[<indicator>]``, ``p[<indicator>]``: each indicator's score (larger = less like
      the training inputs) and conformal p-value :math:`p = (1 + \#\{s_i \ge s\})/(n + 1)`
      against its calibration scores, the combined indicator last;
    * ``verdict``: ``"outside"`` when the combined indicator's score exceeds its calibrated
      threshold, equivalently ``p[combined] <= alpha``, else ``"inside"``;
    * ``pushed_out_by``, ``attribution_indicator``, ``attribution_share``: the input with
      the largest derivative of a differentiable indicator's score (in training standard
      deviations), which indicator that is, and the share of the squared gradient on that
      input (empty when no indicator is differentiable);
    * when the queries carry outputs: ``true[<output>]``, ``abs_error[<output>]``,
      ``in_interval[<output>]`` and ``large_error`` (see ``result.queries.labelled``).

    Args:
        result: an :class:`~edtjax.audit.AuditResult` with ``queries``.

    Returns:
        ``(columns, rows)``: the column names and one ``{column: value}`` dict per query
        (values are Python ``int``, ``float``, ``bool``, ``str`` or ``None``). Cost
        ``O(m (d + o + K))``.

    Raises:
        ValueError: no queries in ``result``, or arrays missing or of the wrong shape.

    Example:
        >>> from edtjax.report.queries import _example_result
        >>> columns, rows = query_table(_example_result())
        >>> columns[:3], [(r["query"], r["verdict"]) for r in rows]
        (['query', 'a', 'mean[y]'], [(0, 'inside'), (1, 'outside')])

    References:
        Bates, S., Candès, E., Lei, L., Romano, Y. & Sesia, M. (2023). Testing for outliers
        with conformal p-values. Ann. Statist. 51(1), 149-178.
    """
    check_audit_result(result)
    queries, arrays = result.queries, result.arrays
    if queries is None:
        raise ValueError("result has no queries (result.queries is None)")
    inputs, outputs = list(result.case.input_names), list(result.case.output_names)
    m, d, o = queries.count, len(inputs), len(outputs)
    indicators = list(queries.indicators)
    used = [] if isinstance(queries.attribution, Skipped) else list(queries.attribution.indicators)
    x = _array(arrays, "inputs/queries", (m, d))
    parts = {k: _array(arrays, f"queries/{k}", (m, o)) for k in ("mean", "lower", "upper")}
    scores = {n: _array(arrays, f"queries/score/{n}", (m,)) for n in indicators}
    p_values = {n: _array(arrays, f"queries/p_value/{n}", (m,)) for n in indicators}
    outside = _array(arrays, "queries/outside", (m,)).astype(bool)
    top = _array(arrays, "queries/pushed_out_by", (m,)).astype(int)
    which = _array(arrays, "queries/attribution_indicator", (m,)).astype(int)
    share = _array(arrays, "queries/attribution_share", (m,))
    labelled = queries.labelled is not None
    if labelled:
        truth = _array(arrays, "queries/y", (m, o))
        error = _array(arrays, "queries/abs_error", (m, o))
        hit = _array(arrays, "queries/in_interval", (m, o)).astype(bool)
        large = _array(arrays, "queries/large_error", (m,)).astype(bool)

    fixed = ["query"]
    fixed += [f"{k}[{y}]" for y in outputs for k in ("mean", "lower", "upper")]
    fixed += [f"{k}[{n}]" for n in indicators for k in ("score", "p")]
    fixed += ["verdict", "pushed_out_by", "attribution_indicator", "attribution_share"]
    if labelled:
        fixed += [f"{k}[{y}]" for y in outputs for k in ("true", "abs_error", "in_interval")]
        fixed += ["large_error"]
    taken = set(fixed)
    input_columns = [f"input[{a}]" if a in taken else a for a in inputs]
    columns = [fixed[0], *input_columns, *fixed[1:]]

    rows = []
    for q in range(m):
        row: dict[str, str | float | bool | None] = {"query": q}
        row.update((c, _number(x[q, i])) for i, c in enumerate(input_columns))
        for j, y in enumerate(outputs):
            for k in ("mean", "lower", "upper"):
                row[f"{k}[{y}]"] = _number(parts[k][q, j])
        for n in indicators:
            row[f"score[{n}]"] = _number(scores[n][q])
            row[f"p[{n}]"] = _number(p_values[n][q])
        row["verdict"] = "outside" if outside[q] else "inside"
        found = top[q] >= 0 and 0 <= which[q] < len(used)
        row["pushed_out_by"] = inputs[top[q]] if found else None
        row["attribution_indicator"] = used[which[q]] if found else None
        row["attribution_share"] = _number(share[q]) if found else None
        if labelled:
            for j, y in enumerate(outputs):
                row[f"true[{y}]"] = _number(truth[q, j])
                row[f"abs_error[{y}]"] = _number(error[q, j])
                row[f"in_interval[{y}]"] = bool(hit[q, j])
            row["large_error"] = bool(large[q])
        rows.append({c: row[c] for c in columns})
    return columns, rows


def _cell(value: str | float | bool | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def query_table_csv(result: AuditResult) -> str:
    """``queries.csv``: a header row of the columns of :func:`query_table`, then one row per
    query; floats in full precision (``repr``), booleans ``true``/``false``, empty cells for
    what is not available.

    Example:
        >>> from edtjax.report.queries import _example_result
        >>> print(query_table_csv(_example_result()).splitlines()[2])
        1,5.0,0.0,-1.0,1.0,9.0,0.01,outside,,,
    """
    columns, rows = query_table(result)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
    return buf.getvalue()


def query_table_json(result: AuditResult) -> str:
    """``queries.json``: ``{"alpha", "interval_level", "verdict_indicator", "columns",
    "queries": [rows of query_table]}`` (``null`` for what is not available).

    Example:
        >>> import json
        >>> from edtjax.report.queries import _example_result
        >>> document = json.loads(query_table_json(_example_result()))
        >>> document["alpha"], document["queries"][1]["p[combined]"]
        (0.1, 0.01)
    """
    columns, rows = query_table(result)
    q = result.queries
    document = {
        "alpha": q.alpha,
        "interval_level": q.interval_level,
        "verdict_indicator": q.verdict_indicator,
        "columns": columns,
        "queries": rows,
    }
    return json.dumps(document, indent=1) + "\n"
