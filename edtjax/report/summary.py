"""The verdicts of an audit in plain words: the answers a report (or a terminal) shows first."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Verdict", "audit_summary", "format_number", "unavailable_reason"]

#: Half-width of the acceptance band around a nominal coverage, in binomial standard errors.
#: A calibrated method falls outside it with probability about 0.3% (normal approximation).
COVERAGE_STANDARD_ERRORS = 3.0


_DEFAULT_REASONS = {
    "bias": "no downstream quantity was given (user data without a simulator)",
    "depth_maps": "the audit computed no 2-D slices",
    "parameter_gsa": "the surrogate has no parameter groups to analyse",
    "reliability": "no queries to judge",
    "sobol": "the Sobol' stage did not run",
    "surrogates": "no surrogate was fitted",
    "transport": "no queries to compare with the training inputs",
}


class Verdict(NamedTuple):
    """One question of the summary and its answer.

    Attributes:
        question: the question, e.g. ``"Is the surrogate calibrated?"``.
        answer: one to three sentences with the numbers behind the answer.
        status: ``"good"``, ``"warn"``, ``"bad"`` or ``"n/a"``.
    """

    question: str
    answer: str
    status: str


def format_number(value: Any, digits: int = 3) -> str:
    """A number for a table: ``digits`` significant figures, ``—`` for ``None``.

    Example:
        >>> format_number(0.123456), format_number(None), format_number(True), format_number(3)
        ('0.123', '—', 'yes', '3')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_number(v, digits) for v in value) + "]"
    return str(value)


def unavailable_reason(numbers: Mapping[str, Any], section: str) -> str | None:
    """Why a section of ``numbers`` holds no result (``None`` when it does).

    A section is unavailable when it is ``None``, an empty list, or a dict with a
    ``"skipped"`` entry (whose text is the reason).

    Example:
        >>> unavailable_reason({"bias": {"skipped": "no quantity"}}, "bias")
        'no quantity'
        >>> unavailable_reason({"bias": None}, "bias")
        'no downstream quantity was given (user data without a simulator)'
    """
    value = numbers.get(section)
    if isinstance(value, dict) and "skipped" in value:
        return str(value["skipped"])
    if value is None or (isinstance(value, list) and not value):
        return _DEFAULT_REASONS.get(section, "this stage did not run")
    return None


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def _calibration(numbers: Mapping[str, Any]) -> Verdict:
    q = "Is the surrogate calibrated?"
    why = unavailable_reason(numbers, "surrogates")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a")
    n = numbers["case"].get("n_test")
    if isinstance(n, int) and n > 0:
        tol = COVERAGE_STANDARD_ERRORS * math.sqrt(0.9 * 0.1 / n)
        band = f"90% ± {_pct(tol)} ({COVERAGE_STANDARD_ERRORS:g} binomial s.e., n = {n})"
    else:
        tol, band = 0.05, "90% ± 5% (test-set size unknown)"
    parts, states = [], []
    for method, m in numbers["surrogates"].items():
        raw, conf = m.get("coverage_90"), m.get("conformal_coverage_90")
        if raw is None:
            parts.append(f"{method}: no coverage reported.")
            states.append("n/a")
            continue
        ok = abs(raw - 0.9) <= tol
        shape = "calibrated" if ok else ("too narrow" if raw < 0.9 else "too wide")
        text = f"{method}: 90% intervals cover {_pct(raw)} ({shape})"
        conf_ok = conf is not None and conf >= 0.9 - tol
        if conf is not None:
            text += f", {_pct(conf)} after conformal calibration"
        if m.get("calibration_error") is not None:
            text += f"; calibration error {format_number(m['calibration_error'])}"
        parts.append(text + ".")
        states.append("good" if ok else ("warn" if conf_ok else "bad"))
    status = "bad" if "bad" in states else ("warn" if "warn" in states else "good")
    if states and all(s == "n/a" for s in states):
        status = "n/a"
    lead = {"good": "Yes.", "warn": "Only after conformal calibration.", "bad": "No."}
    lead["n/a"] = "Unknown."
    return Verdict(q, f"{lead[status]} Accepted band {band}. " + " ".join(parts), status)


def _ranking(s: Mapping[str, Any], inputs: list[str], outputs: list[str]) -> str:
    total = s["total"]
    tops = []
    for j, out in enumerate(outputs):
        i = max(range(len(inputs)), key=lambda k: total[k][j])
        tops.append(f"{inputs[i]} for {out}")
    return ", ".join(tops)


def _overlaps(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[int, int]:
    hits = count = 0
    for kind in ("first_ci", "total_ci"):
        for row_a, row_b in zip(a[kind], b[kind], strict=True):
            for (lo_a, hi_a), (lo_b, hi_b) in zip(row_a, row_b, strict=True):
                count += 1
                hits += lo_a <= hi_b and lo_b <= hi_a
    return hits, count


def _agreement(numbers: Mapping[str, Any]) -> Verdict:
    q = "Do simulator and surrogate agree on what matters?"
    why = unavailable_reason(numbers, "sobol")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a")
    sobol, case = numbers["sobol"], numbers["case"]
    inputs, outputs = list(case["input_names"]), list(case["output_names"])
    sur, sim, agree = sobol.get("surrogate"), sobol.get("simulator"), sobol.get("agreement")
    if sim is None or sur is None:
        text = "Not available: no simulator to compare with (user data)."
        if sur is not None:
            top = _ranking(sur, inputs, outputs)
            text += f" The surrogate's most influential input (total index): {top}."
        return Verdict(q, text, "n/a")
    hits, count = _overlaps(sim, sur)
    same = bool(agree and agree.get("same_ranking"))
    text = (
        f"{'Yes' if same and hits == count else 'Partly' if same or hits == count else 'No'}: "
        f"the ranking of the inputs is {'the same' if same else 'different'} (wherever the "
        f"simulator's intervals separate two inputs); the confidence "
        f"intervals of simulator and surrogate overlap for {hits} of {count} indices"
    )
    if agree:
        text += (
            f"; largest difference {format_number(agree.get('max_abs_diff_first'))} (first "
            f"order), {format_number(agree.get('max_abs_diff_total'))} (total)"
        )
    text += f". Most influential input (simulator, total index): {_ranking(sim, inputs, outputs)}."
    status = "good" if same and hits == count else ("warn" if same or hits == count else "bad")
    return Verdict(q, text, status)


def _domain(numbers: Mapping[str, Any]) -> Verdict:
    q = "Which queries are outside the domain of validity?"
    why = unavailable_reason(numbers, "reliability")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a")
    rel, case = numbers["reliability"], numbers["case"]
    indicators = rel.get("indicators") or {}
    if not indicators:
        return Verdict(q, "Not available: no reliability indicator was evaluated.", "n/a")
    name = "combined" if "combined" in indicators else next(iter(indicators))
    ind, alpha = indicators[name], rel.get("alpha")
    n_sh, n_in = case.get("n_queries_shifted") or 0, case.get("n_queries_in") or 0
    det, fa = ind.get("detection_rate"), ind.get("false_alarm_rate")
    parts = [f"The {name} indicator (threshold {format_number(ind.get('threshold'))})"]
    if det is not None and n_sh:
        parts.append(f"flags {round(det * n_sh)} of {n_sh} shifted queries ({_pct(det)})")
    if fa is not None and n_in:
        target = f", target at most α = {_pct(alpha)}" if alpha is not None else ""
        parts.append(f"and {round(fa * n_in)} of {n_in} in-domain queries ({_pct(fa)}{target})")
    text = " ".join(parts)
    if ind.get("auroc") is not None:
        text += f"; AUROC {format_number(ind['auroc'])}"
    text += "."
    tests = (numbers.get("transport") or {}).get("shift_tests") or {}
    rejected = [t for t, v in tests.items() if v.get("rejected")]
    if tests:
        text += (
            f" Shift tests rejecting 'same distribution': {len(rejected)} of {len(tests)}"
            + (f" ({', '.join(rejected)})" if rejected else "")
            + "."
        )
    text += " The depth maps below show where the validity boundary lies."
    outside = (det or 0.0) > 0.0 or bool(rejected)
    too_many_alarms = (
        alpha is not None
        and fa is not None
        and n_in > 0
        and fa > alpha + COVERAGE_STANDARD_ERRORS * math.sqrt(alpha * (1 - alpha) / n_in)
    )
    if too_many_alarms:
        text += " In-domain queries are flagged more often than α allows."
    return Verdict(q, text, "bad" if too_many_alarms else ("warn" if outside else "good"))


def _bias(numbers: Mapping[str, Any]) -> Verdict:
    q = "What bias does the surrogate induce downstream?"
    why = unavailable_reason(numbers, "bias")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a")
    b = numbers["bias"]
    lo, hi = (b.get("interval") or [None, None])[:2]
    level = _pct(b["level"]) if isinstance(b.get("level"), float) else "predictive"
    text = (
        f"Predicted bias of {b.get('quantity', 'the downstream quantity')}: "
        f"{format_number(b.get('predicted_bias'))}, {level} interval "
        f"[{format_number(lo)}, {format_number(hi)}]"
    )
    status = "n/a"
    if b.get("true_bias") is not None:
        inside = b.get("contains_true")
        text += (
            f"; actual bias {format_number(b['true_bias'])} "
            f"({'inside' if inside else 'outside'} the interval)"
        )
        status = "good" if inside else "bad"
    return Verdict(q, text + ".", status)


def audit_summary(numbers: Mapping[str, Any]) -> list[Verdict]:
    r"""The four verdicts of an audit, computed from ``AuditResult.numbers``.

    1. Calibration: a method is called calibrated when the empirical coverage :math:`\hat c`
       of its 90% intervals on :math:`n` test points satisfies :math:`|\hat c - 0.9| \le
       3\sqrt{0.9 \cdot 0.1 / n}` (three binomial standard errors: a calibrated method fails
       with probability about 0.3%).
    2. Agreement: same ranking of the inputs (from the pipeline) and the fraction of
       simulator/surrogate Sobol' indices whose confidence intervals overlap.
    3. Domain of validity: what the combined indicator flags among shifted and in-domain
       queries, and which shift tests reject; more in-domain alarms than
       :math:`\alpha + 3\sqrt{\alpha(1-\alpha)/n_{in}}` is reported as a failure.
    4. Surrogate-induced bias: the predicted bias, its interval and, when known, whether it
       covers the actual bias.

    A part of ``numbers`` that is ``None`` or ``{"skipped": why}`` gives the status ``"n/a"``
    and says why. Cost is linear in the size of ``numbers``.

    Args:
        numbers: ``AuditResult.numbers`` (see :mod:`edtjax.audit.result`).

    Returns:
        A list of four :class:`Verdict`.

    Example:
        >>> numbers = dict.fromkeys(["bias", "depth_maps", "parameter_gsa", "reliability",
        ...                          "sobol", "transport"])
        >>> numbers["case"] = {"name": "toy", "input_names": ["a"], "output_names": ["y"],
        ...                    "n_test": 100}
        >>> numbers["surrogates"] = {"ensemble": {"coverage_90": 0.88,
        ...                                       "conformal_coverage_90": 0.91}}
        >>> [v.status for v in audit_summary(numbers)]
        ['good', 'n/a', 'n/a', 'n/a']

    References:
        Gneiting, T., Balabdaoui, F. and Raftery, A. E. (2007). Probabilistic forecasts,
        calibration and sharpness. J. R. Stat. Soc. B 69(2), 243-268.
    """
    return [_calibration(numbers), _agreement(numbers), _domain(numbers), _bias(numbers)]
