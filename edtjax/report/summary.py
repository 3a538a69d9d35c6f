"""The verdicts of an audit in plain words: the answers a report (or a terminal) shows first."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from edtjax.audit.records import (
    FirstOrderIndices,
    IndexTable,
    LabelledErrors,
    LawValidity,
    Skipped,
    SobolResult,
    TransportResult,
)
from edtjax.audit.result import AuditResult

__all__ = [
    "LEVELS",
    "Verdict",
    "audit_summary",
    "format_number",
    "reaches_level",
    "unavailable_reason",
    "verdict_records",
]

#: Half-width of the acceptance band around a nominal coverage, in binomial standard errors.
#: A calibrated method falls outside it with probability about 0.3% (normal approximation).
COVERAGE_STANDARD_ERRORS = 3.0


_DEFAULT_REASONS = {
    "bias": "no downstream quantity was given (user data without a simulator)",
    "depth_maps": "the audit computed no 2-D slices",
    "hybrid": "no queries to evaluate in the loop",
    "parameter_gsa": "the surrogate has no parameter groups to analyse",
    "queries": "no queries were given (--queries)",
    "reliability": "no queries to judge",
    "sobol": "the Sobol' stage did not run",
    "surrogates": "no surrogate was fitted",
    "transport": "no queries to compare with the training inputs",
}


#: Verdict levels from mildest to worst (a verdict may also be ``"n/a"``, never a failure).
LEVELS = ("ok", "caution", "problem")


class Verdict(NamedTuple):
    """One question of the summary, its answer and its level.

    Attributes:
        question: the question, e.g. ``"Is the surrogate calibrated?"``.
        answer: one to a few sentences with the numbers behind the answer.
        level: ``"ok"``, ``"caution"``, ``"problem"`` (see :data:`LEVELS`) or ``"n/a"``.
        reasons: short sentences saying why the level is what it is.
        topic: ``"calibration"``, ``"agreement"``, ``"domain"`` or ``"bias"``.
    """

    question: str
    answer: str
    level: str
    reasons: tuple[str, ...]
    topic: str


def verdict_records(verdicts: Sequence[Verdict]) -> list[dict[str, str | list[str]]]:
    """The verdicts as JSON records (``report.json["verdicts"]``), in order.

    Example:
        >>> v = Verdict("Q?", "Yes.", "ok", ("fine",), "calibration")
        >>> verdict_records([v])[0]["level"], verdict_records([v])[0]["reasons"]
        ('ok', ['fine'])
    """
    return [
        {
            "topic": v.topic,
            "question": v.question,
            "level": v.level,
            "reasons": list(v.reasons),
            "answer": v.answer,
        }
        for v in verdicts
    ]


def reaches_level(verdicts: Sequence[Verdict], level: str) -> list[Verdict]:
    """The verdicts at ``level`` or worse (``"n/a"`` never counts); empty when none.

    This is the rule of ``edtjax audit --fail-on LEVEL``.

    Args:
        verdicts: from :func:`audit_summary`.
        level: ``"caution"`` or ``"problem"`` (``"ok"`` matches every available verdict).

    Example:
        >>> vs = [Verdict("A?", "", "caution", (), "domain"), Verdict("B?", "", "n/a", (), "bias")]
        >>> len(reaches_level(vs, "caution")), len(reaches_level(vs, "problem"))
        (1, 0)
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}")
    rank = LEVELS.index(level)
    return [v for v in verdicts if v.level in LEVELS and LEVELS.index(v.level) >= rank]


def format_number(value: object, digits: int = 3) -> str:
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


def unavailable_reason(value: object, section: str) -> str | None:
    """Why the ``section`` of a result (its record ``value``) holds nothing (``None`` when
    it does).

    A section is unavailable when it is ``None``, an empty list, or
    :class:`~edtjax.audit.records.Skipped` (whose reason is the answer).

    Example:
        >>> from edtjax.audit.records import Skipped
        >>> unavailable_reason(Skipped("no quantity"), "bias")
        'no quantity'
        >>> unavailable_reason(None, "bias")
        'no downstream quantity was given (user data without a simulator)'
    """
    if isinstance(value, Skipped):
        return value.reason
    if value is None or (isinstance(value, list) and not value):
        return _DEFAULT_REASONS.get(section, "this stage did not run")
    return None


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}%"


def _calibration(result: AuditResult) -> Verdict:
    q = "Is the surrogate calibrated?"
    why = unavailable_reason(result.surrogates, "surrogates")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a", (why,), "calibration")
    n = result.case.n_test
    if isinstance(n, int) and n > 0:
        tol = COVERAGE_STANDARD_ERRORS * math.sqrt(0.9 * 0.1 / n)
        band = f"90% ± {_pct(tol)} ({COVERAGE_STANDARD_ERRORS:g} binomial s.e., n = {n})"
    else:
        tol, band = 0.05, "90% ± 5% (test-set size unknown)"
    parts, states, reasons = [], [], []
    for method, m in result.surrogates.items():
        raw, conf = m.coverage_90, m.conformal_coverage_90
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
        if m.calibration_error is not None:
            text += f"; calibration error {format_number(m.calibration_error)}"
        parts.append(text + ".")
        states.append("ok" if ok else ("caution" if conf_ok else "problem"))
        if not ok:
            reasons.append(
                f"{method}: 90% intervals cover {_pct(raw)}, outside the band {band}"
                + ("" if conf_ok else " even after conformal calibration")
            )
    level = _worst(states)
    if not reasons:
        reasons = [
            "every method's 90% intervals cover within the band"
            if level == "ok"
            else "no method reported a coverage"
        ]
    lead = {"ok": "Yes.", "caution": "Only after conformal calibration.", "problem": "No."}
    lead["n/a"] = "Unknown."
    text = f"{lead[level]} Accepted band {band}. " + " ".join(parts)
    return Verdict(q, text, level, tuple(reasons), "calibration")


def _worst(levels: Sequence[str]) -> str:
    """The worst of ``levels`` (``"n/a"`` when none is available)."""
    known = [x for x in levels if x in LEVELS]
    return max(known, key=LEVELS.index) if known else "n/a"


def _ranking(
    s: IndexTable | FirstOrderIndices, inputs: list[str], outputs: list[str], index: str = "total"
) -> str:
    values = getattr(s, index)
    tops = []
    for j, out in enumerate(outputs):
        i = max(range(len(inputs)), key=lambda k: values[k][j])
        tops.append(f"{inputs[i]} for {out}")
    return ", ".join(tops)


def _overlaps(
    a: IndexTable | FirstOrderIndices,
    b: IndexTable | FirstOrderIndices,
    kinds: Sequence[str] = ("first_ci", "total_ci"),
) -> tuple[int, int]:
    """How many of the indices' intervals overlap, of how many (intervals ``None``: none)."""
    hits = count = 0
    for kind in kinds:
        ci_a, ci_b = getattr(a, kind), getattr(b, kind)
        if ci_a is None or ci_b is None:
            continue
        for row_a, row_b in zip(ci_a, ci_b, strict=True):
            for (lo_a, hi_a), (lo_b, hi_b) in zip(row_a, row_b, strict=True):
                count += 1
                hits += lo_a <= hi_b and lo_b <= hi_a
    return hits, count


def _law_sentence(sobol: SobolResult) -> str:
    """Which input law the indices describe, in one sentence ("" when not reported)."""
    description = sobol.law.description
    return f" Input law of the sensitivity analysis: {description}." if description else ""


def _validity_of_law(sobol: SobolResult) -> tuple[str, list[str]]:
    """The declared laws' share outside the validity domain, and a caution reason when the
    indices describe extrapolation (``SobolResult.validity``)."""
    v = sobol.validity
    if not isinstance(v, LawValidity):
        return "", []
    text = f" {v.statement}." if v.statement else ""
    if not v.describes_extrapolation:
        return text, []
    reason = (
        f"{v.n_outside} of {v.num_draws} draws from the declared input laws "
        f"({_pct(v.share_outside)}) lie outside the surrogate's validity domain, above the "
        f"{_pct(v.threshold)} threshold: its Sobol' indices describe largely where "
        "it extrapolates (indices restricted to the validity domain are in the report)"
    )
    return text, [reason]


def _lead_and_level(same: bool, overlap: bool) -> tuple[str, str]:
    if same and overlap:
        return "Yes", "ok"
    return ("Partly", "caution") if same or overlap else ("No", "problem")


def _empirical_agreement(sobol: SobolResult, inputs, outputs) -> tuple[str, str, list]:
    """Surrogate vs labelled outputs, first-order indices on the empirical law."""
    emp = sobol.empirical
    data, sur, agree = (
        (None, None, None) if emp is None else (emp.data, emp.surrogate, emp.agreement)
    )
    note = sobol.total_note
    tail = f" Total indices are not available: {note}." if note else ""
    if data is None or sur is None:
        why = "no surrogate indices to compare with those of the labelled outputs"
        return f"Not available: {why}.{tail}", "n/a", [why]
    hits, count = _overlaps(data, sur, ("first_ci",))
    same = bool(agree and agree.same_ranking)
    lead, level = _lead_and_level(same, hits == count)
    text = (
        f"{lead}: on the labelled runs (no simulator to run elsewhere), the surrogate's "
        "first-order indices rank the inputs "
        f"{'as' if same else 'differently from'} those of the labelled outputs (wherever the "
        "latter's intervals separate two inputs); "
        + (
            f"their confidence intervals overlap for {hits} of {count} indices"
            if count
            else "no confidence intervals (too few runs)"
        )
    )
    if agree:
        text += f"; largest difference {format_number(agree.max_abs_diff_first)}"
    text += (
        f". Most influential input (labelled outputs, first-order index): "
        f"{_ranking(data, inputs, outputs, 'first')}.{tail}"
    )
    reasons = []
    if not same:
        reasons.append(
            "the first-order ranking of the inputs differs between the labelled "
            "outputs and the surrogate"
        )
    if hits != count:
        reasons.append(f"{count - hits} of {count} first-order index intervals do not overlap")
    if not reasons:
        reasons.append(
            "same first-order ranking as the labelled outputs"
            + (" and every interval overlaps" if count else "")
        )
    return text, level, reasons


def _agreement(result: AuditResult) -> Verdict:
    q = "Do simulator and surrogate agree on what matters?"
    sobol = result.sobol
    why = unavailable_reason(sobol, "sobol")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a", (why,), "agreement")
    inputs, outputs = list(result.case.input_names), list(result.case.output_names)
    sur, sim, agree = sobol.surrogate, sobol.simulator, sobol.agreement
    law = _law_sentence(sobol)
    valid_text, valid_reasons = _validity_of_law(sobol)
    if not sobol.total_available:
        text, level, reasons = _empirical_agreement(sobol, inputs, outputs)
    elif sim is None or sur is None:
        text = "Not available: no simulator to compare with (user data)."
        if sur is not None:
            top = _ranking(sur, inputs, outputs)
            text += f" The surrogate's most influential input (total index): {top}."
        level, reasons = "n/a", ["no simulator to compare with"]
    else:
        hits, count = _overlaps(sim, sur)
        same = bool(agree and agree.same_ranking)
        lead, level = _lead_and_level(same, hits == count)
        text = (
            f"{lead}: the ranking of the inputs is {'the same' if same else 'different'} "
            "(wherever the simulator's intervals separate two inputs); the confidence "
            f"intervals of simulator and surrogate overlap for {hits} of {count} indices"
        )
        if agree:
            text += (
                f"; largest difference {format_number(agree.max_abs_diff_first)} (first "
                f"order), {format_number(agree.max_abs_diff_total)} (total)"
            )
        text += (
            f". Most influential input (simulator, total index): {_ranking(sim, inputs, outputs)}."
        )
        reasons = []
        if not same:
            reasons.append("the ranking of the inputs differs between simulator and surrogate")
        if hits != count:
            reasons.append(f"{count - hits} of {count} Sobol' index intervals do not overlap")
        if not reasons:
            reasons.append("same ranking and every interval overlaps")
    if valid_reasons:  # the indices describe extrapolation: at least a caution
        if level == "n/a" and text.startswith("Not available: "):
            text = text[len("Not available: ") :].capitalize()
        level = _worst([level, "caution"])
        reasons = [r for r in reasons if r != "no simulator to compare with"] + valid_reasons
    return Verdict(q, text + law + valid_text, level, tuple(reasons), "agreement")


def _pcts(values: Sequence[float] | None) -> str:
    return ", ".join(_pct(v) for v in values) if values else "—"


def _list(values: Sequence[object] | None) -> str:
    return ", ".join(format_number(v) for v in values) if values else "—"


def _excess(rate: float | None, alpha: float | None, n: int) -> bool:
    """Whether ``rate`` of ``n`` exceeds ``alpha`` by more than 3 binomial standard errors."""
    if rate is None or alpha is None or n <= 0:
        return False
    return rate > alpha + COVERAGE_STANDARD_ERRORS * math.sqrt(alpha * (1 - alpha) / n)


def _labelled_text(lab: LabelledErrors, level_of_interval: float) -> tuple[str, list[str]]:
    """Sentences on the error among accepted and flagged queries, and caution reasons."""
    inside, outside = lab.inside, lab.outside
    text = (
        f" With the true outputs of the queries: mean absolute error {_list(inside.mae)} "
        f"among the {inside.count} accepted and {_list(outside.mae)} among the "
        f"{outside.count} flagged; {_pct(level_of_interval)} interval coverage "
        f"{_pcts(inside.coverage)} vs {_pcts(outside.coverage)}."
    )
    n_large, caught = lab.n_large_errors, lab.large_errors_caught
    if n_large:
        text += (
            f" Large errors (above the {_pct(lab.large_error_quantile)} quantile of the "
            f"test split's errors): {round(caught * n_large)} of {n_large} flagged "
            f"({_pct(caught)})."
        )
    else:
        text += " No query has a large error (above the test split's error quantile)."
    reasons = []
    count, cover = inside.count, inside.coverage
    if count and cover:
        worst = min(cover)
        tol = COVERAGE_STANDARD_ERRORS * math.sqrt(
            level_of_interval * (1 - level_of_interval) / count
        )
        if worst < level_of_interval - tol:
            reasons.append(
                f"intervals of accepted queries cover {_pct(worst)}, below "
                f"{_pct(level_of_interval)} by more than {COVERAGE_STANDARD_ERRORS:g} binomial "
                "standard errors: the indicator accepts queries where the surrogate fails"
            )
    return text, reasons


def _domain(result: AuditResult) -> Verdict:
    q = "Which queries are outside the domain of validity?"
    rel, case = result.reliability, result.case
    why = unavailable_reason(rel, "reliability")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a", (why,), "domain")
    indicators = rel.indicators
    if not indicators:
        why = "no reliability indicator was evaluated"
        return Verdict(q, f"Not available: {why}.", "n/a", (why,), "domain")
    name = "combined" if "combined" in indicators else next(iter(indicators))
    ind, alpha = indicators[name], rel.alpha
    at = f"α = {_pct(alpha)}"
    queries = result.queries
    levels, reasons = ["ok"], []
    if queries:
        n, out = queries.count, queries.n_outside
        text = (
            f"{out} of {n} queries are judged outside the domain and {n - out} inside (the "
            f"{name} indicator's p-value ≤ {at}); every query, with its prediction, interval, "
            "p-values and the input that pushes it out most, is in queries.csv."
        )
        if out:
            levels.append("caution")
            reasons.append(f"{out} of {n} queries are judged outside the domain at {at}")
    else:
        text = "No queries were given; the indicators were calibrated and checked only."
    fa, n_in = ind.false_alarm_rate, case.n_queries_in
    if n_in:
        text += (
            f" On the held-out in-domain test split the indicator flags {round(fa * n_in)} of "
            f"{n_in} ({_pct(fa)}, target at most {at})."
        )
        if _excess(fa, alpha, n_in):
            text += " In-domain queries are flagged more often than α allows."
            levels.append("problem")
            reasons.append(f"false alarms on the test split {_pct(fa)} exceed {at}")
    det, n_sh = ind.detection_rate, case.n_queries_shifted
    if det is not None and n_sh:
        text += (
            f" Evaluation on this case, whose queries are shifted by construction: it flags "
            f"{round(det * n_sh)} of {n_sh} ({_pct(det)})"
        )
        if ind.auroc is not None:
            text += f", AUROC {format_number(ind.auroc)}"
        text += "."
    lab = queries.labelled if queries else None
    if lab:
        more, why = _labelled_text(lab, queries.interval_level)
        text += more
        if why:
            levels.append("caution")
            reasons += why
    transport = result.transport
    tests = transport.shift_tests if isinstance(transport, TransportResult) else {}
    versus = {t: v for t, v in tests.items() if "in_domain" not in t}
    rejected = [t for t, v in versus.items() if v.rejected]
    if versus:
        text += (
            f" Shift tests of the queries as a whole against the training inputs rejecting "
            f"'same distribution': {len(rejected)} of {len(versus)}"
            + (f" ({', '.join(rejected)})" if rejected else "")
            + "."
        )
        if rejected:
            levels.append("caution")
            reasons.append(
                f"shift tests reject that the queries follow the training distribution "
                f"({', '.join(rejected)})"
            )
    level = _worst(levels)
    if not reasons:
        reasons = ["no query is judged outside and the false alarms are within α"]
    return Verdict(q, text, level, tuple(reasons), "domain")


def _bias(result: AuditResult) -> Verdict:
    q = "What bias does the surrogate induce downstream?"
    b = result.bias
    why = unavailable_reason(b, "bias")
    if why is not None:
        return Verdict(q, f"Not available: {why}.", "n/a", (why,), "bias")
    lo, hi = b.interval
    text = (
        f"Predicted bias of {b.quantity}: {format_number(b.predicted_bias)}, "
        f"{_pct(b.level)} interval [{format_number(lo)}, {format_number(hi)}]"
    )
    level, reasons = "n/a", ("the actual bias is unknown",)
    if b.true_bias is not None:
        inside = b.contains_true
        text += (
            f"; actual bias {format_number(b.true_bias)} "
            f"({'inside' if inside else 'outside'} the interval)"
        )
        level = "ok" if inside else "problem"
        reasons = (f"the predicted interval {'covers' if inside else 'misses'} the actual bias",)
    return Verdict(q, text + ".", level, reasons, "bias")


def audit_summary(result: AuditResult) -> list[Verdict]:
    r"""The four verdicts of an audit, computed from its :class:`~edtjax.audit.AuditResult`.

    Each verdict has a level, ``"ok"``, ``"caution"`` or ``"problem"`` (``"n/a"`` when it
    cannot be answered), and the reasons for it; this list is the one source of the verdicts
    in the terminal, ``report.html``, ``report.json`` and ``edtjax audit --fail-on``.

    1. Calibration: a method is called calibrated when the empirical coverage :math:`\hat c`
       of its 90% intervals on :math:`n` test points satisfies :math:`|\hat c - 0.9| \le
       3\sqrt{0.9 \cdot 0.1 / n}` (three binomial standard errors: a calibrated method fails
       with probability about 0.3%): *ok*; *caution* when only its conformal intervals cover,
       *problem* when neither does.
    2. Agreement: same ranking of the inputs (from the pipeline) and the fraction of
       simulator/surrogate Sobol' indices whose confidence intervals overlap: *ok* when both
       hold, *caution* when one does, *problem* when neither. Without declared input laws
       (``result.sobol.total_available`` false) the surrogate's first-order indices
       are compared with those of the labelled outputs on their empirical law, by the same
       rule. The answer names the input law used; when the declared laws' draws lie outside
       the validity domain above ``result.sobol.validity.threshold`` (the indices
       describe extrapolation), the level is at least *caution* with that reason, even
       without a simulator to compare with.
    3. Domain of validity: how many of the queries the combined indicator judges outside
       (p-value :math:`\le \alpha`), its false alarms on the in-domain test split, its
       detection rate only where the queries are shifted by construction, the error among
       accepted and flagged queries when they carry outputs, and which shift tests reject.
       Levels: *problem* for more test-split alarms than
       :math:`\alpha + 3\sqrt{\alpha(1-\alpha)/n_{in}}`; *caution* when a query is judged
       outside, a shift test rejects, or the intervals of accepted labelled queries cover less
       than their level by 3 binomial standard errors; else *ok*.
    4. Surrogate-induced bias: the predicted bias, its interval and, when known, whether it
       covers the actual bias (*ok*, else *problem*).

    A stage that is ``None`` or :class:`~edtjax.audit.records.Skipped` gives the level
    ``"n/a"`` and says why. Cost is linear in the size of the result.

    Args:
        result: an :class:`~edtjax.audit.AuditResult` (see :mod:`edtjax.audit.result`).

    Returns:
        A list of four :class:`Verdict`.

    Example:
        >>> from edtjax.audit import AuditResult
        >>> from edtjax.audit.records import CaseInfo, SurrogateInfo, SurrogateScores
        >>> case = CaseInfo("toy", ["a", "b"], ["y"], 200, 100, 100, 100, 0, 0, False, 0, {},
        ...                 "0", False, SurrogateInfo("trained", "ensemble", "trained"))
        >>> scores = SurrogateScores([0.1], -1.0, 0.2, 0.88, 3.2, 0.02, 0.91, 3.4)
        >>> stages = dict.fromkeys(["sobol", "parameter_gsa", "transport", "reliability",
        ...                         "depth_maps", "queries", "bias"])
        >>> result = AuditResult(case, {"ensemble": scores}, **stages, arrays={}, timings={})
        >>> [v.level for v in audit_summary(result)]
        ['ok', 'n/a', 'n/a', 'n/a']

    References:
        Gneiting, T., Balabdaoui, F. and Raftery, A. E. (2007). Probabilistic forecasts,
        calibration and sharpness. J. R. Stat. Soc. B 69(2), 243-268.
    """
    return [_calibration(result), _agreement(result), _domain(result), _bias(result)]
