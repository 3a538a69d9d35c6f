"""The final terminal summary of an audit: :func:`format_summary`."""

from __future__ import annotations

from collections.abc import Sequence

from edtjax.audit.records import (
    BiasResult,
    FirstOrderIndices,
    HybridResult,
    IndexTable,
    LawValidity,
    QueryAnswers,
    ReliabilityResult,
    Skipped,
    SobolResult,
    TransportResult,
)
from edtjax.audit.result import AuditResult, check_audit_result

__all__ = ["format_summary"]


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if j == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    rule = "-" * len(line(cells[0]))
    return [title, rule, line(cells[0]), rule, *(line(r) for r in cells[1:]), ""]


def _top(
    indices: IndexTable | FirstOrderIndices | None,
    names: Sequence[str],
    j: int,
    k: int = 3,
    index: str = "total",
) -> str:
    values = None if indices is None else getattr(indices, index)
    if values is None:
        return "-"
    column = [row[j] for row in values]
    order = sorted(range(len(column)), key=lambda i: -column[i])[:k]
    return ", ".join(f"{names[i]} {column[i]:.2f}" for i in order)


def _sobol(sobol: SobolResult, names: Sequence[str], outputs: Sequence[str]) -> list[str]:
    """The Sobol' section: the input law, the top inputs, agreement, and the validity share."""
    law = sobol.law.description
    lines = [f"Sobol' indices under the input law: {law}"] if law else []
    if not sobol.total_available:
        emp = sobol.empirical
        rows = [
            [
                out_name,
                _top(emp and emp.data, names, j, index="first"),
                _top(emp and emp.surrogate, names, j, index="first"),
            ]
            for j, out_name in enumerate(outputs)
        ]
        lines += _table(
            "Sobol' first-order indices, top inputs",
            ["output", "labelled outputs", "surrogate"],
            rows,
        )
        agreement = emp and emp.agreement
        if agreement:
            lines.append(
                f"agreement (first order): max |dS| {agreement.max_abs_diff_first:.3f}, same "
                f"ranking: {_fmt(agreement.same_ranking)}"
            )
        if sobol.total_note:
            lines.append(f"no total indices: {sobol.total_note}")
        return [*lines, ""]
    rows = [
        [out_name, _top(sobol.simulator, names, j), _top(sobol.surrogate, names, j)]
        for j, out_name in enumerate(outputs)
    ]
    lines += _table("Sobol' total indices, top inputs", ["output", "simulator", "surrogate"], rows)
    agreement = sobol.agreement
    if agreement:
        lines.append(
            f"agreement: max |dS| {agreement.max_abs_diff_first:.3f}, max |dT| "
            f"{agreement.max_abs_diff_total:.3f}, same ranking: "
            f"{_fmt(agreement.same_ranking)}"
        )
    validity = sobol.validity
    if isinstance(validity, LawValidity):
        lines.append(
            f"validity of the law: {validity.n_outside} of {validity.num_draws} draws "
            f"({validity.share_outside:.1%}) outside the domain (threshold "
            f"{validity.threshold:.0%}); describes extrapolation: "
            f"{_fmt(validity.describes_extrapolation)}"
        )
        restricted = validity.restricted
        if isinstance(restricted, Skipped):
            lines.append(f"  restricted indices: not available, {restricted.reason}")
        else:
            for who in ("surrogate", "simulator"):
                if getattr(restricted, who):
                    tops = "; ".join(
                        f"{o}: {_top(getattr(restricted, who), names, j, index='first')}"
                        for j, o in enumerate(outputs)
                    )
                    lines.append(
                        f"  first order within the domain ({who}, "
                        f"{restricted.num_draws} draws): {tops}"
                    )
    return [*lines, ""]


def _queries(q: QueryAnswers | None, outputs: Sequence[str]) -> list[str]:
    """The answer per query in a few lines: counts, the most extreme, labelled errors."""
    if not q:
        return []
    lines = [
        f"Queries: {q.n_outside} of {q.count} judged outside the domain, {q.n_inside} "
        f"inside (combined p-value <= alpha = {q.alpha}); every query in queries.csv",
    ]
    extreme = [
        f"#{e.query} p={_fmt(e.p_combined)}" + (f" ({e.pushed_out_by})" if e.pushed_out_by else "")
        for e in q.extreme[:5]
        if e.verdict == "outside"
    ]
    if extreme:
        lines.append("  most extreme: " + ", ".join(extreme))
    lines.append("")
    lab = q.labelled
    if lab:
        rows = []
        for g, label in ((lab.inside, "accepted"), (lab.outside, "flagged")):
            mae = ", ".join(_fmt(v) for v in g.mae) if g.mae else "-"
            cov = ", ".join(_fmt(v) for v in g.coverage) if g.coverage else "-"
            rows.append([label, g.count, mae, cov, g.n_large_errors])
        lines += _table(
            "Labelled queries: surrogate error by verdict",
            [
                "queries",
                "count",
                f"MAE ({', '.join(outputs)})",
                f"coverage {q.interval_level:.0%}",
                "large errors",
            ],
            rows,
        )
        lines += [
            f"a query has a large error when {lab.large_error_definition}; caught (flagged) "
            f"{_fmt(lab.large_errors_caught)} of {lab.n_large_errors}",
            "",
        ]
    return lines


def format_summary(result: AuditResult) -> str:
    """Render the audit's key numbers as plain-text tables for the terminal.

    Sections: surrogate metrics per method (test split), the input law of the Sobol'
    indices and the top-3 inputs by total index for simulator and surrogate per output (by
    first-order index for the labelled outputs and the surrogate on the empirical law, where
    totals are not available), with declared laws the share of their draws outside the
    validity domain and the first-order indices within it, shift tests, reliability
    indicators (false alarms on the test split; detection rate and AUROC only when the
    queries are shifted by construction), the queries (how many are outside, the most
    extreme, and with true outputs the error among accepted and flagged ones), the downstream
    bias, and stage timings. The four verdicts are not repeated here: they come from
    :func:`edtjax.report.audit_summary`, which the command line prints after this text.

    Args:
        result: an :class:`~edtjax.audit.AuditResult` (checked with
            :func:`~edtjax.audit.check_audit_result`).

    Returns:
        The summary text (lines joined by ``\\n``). Cost: linear in the size of the result.

    Example:
        >>> from edtjax.audit import AuditResult
        >>> from edtjax.audit.records import CaseInfo, SurrogateInfo
        >>> case = CaseInfo("toy", ["a", "b"], ["y"], 8, 4, 4, 4, 0, 0, False, 0, {}, "0",
        ...                 False, SurrogateInfo("trained", "ensemble", "trained"))
        >>> stages = dict.fromkeys(["surrogates", "sobol", "parameter_gsa", "transport",
        ...                         "reliability", "depth_maps", "queries", "bias"])
        >>> result = AuditResult(case, **stages, arrays={}, timings={"split": 0.1})
        >>> print(format_summary(result).splitlines()[-1])
        total      0.1

    References:
        See :mod:`edtjax.audit.pipeline`.
    """
    check_audit_result(result)
    out: list[str] = []
    case = result.case
    out += [
        f"edtjax audit: {case.name} ({case.n_train} train, {case.n_calibration} "
        f"calibration, {case.n_test} test, {case.n_queries} queries"
        + (", shifted by construction)" if case.queries_shifted_by_construction else ")"),
        "",
    ]
    sur = case.surrogate
    if sur.source != "trained":
        out += [f"surrogate: {sur.name}, {sur.statement}", ""]
    outputs = case.output_names
    if result.surrogates:
        rows = [
            [
                method,
                ", ".join(_fmt(v) for v in m.rmse),
                m.nll,
                m.crps,
                m.coverage_90,
                m.width_90,
                m.conformal_coverage_90,
                m.calibration_error,
            ]
            for method, m in result.surrogates.items()
        ]
        out += _table(
            "Surrogates (test split; nll, crps, widths in standardised units)",
            [
                "method",
                f"rmse ({', '.join(outputs)})",
                "nll",
                "crps",
                "cov90",
                "width90",
                "conf.cov90",
                "calib.err",
            ],
            rows,
        )
    if isinstance(result.sobol, SobolResult):
        out += _sobol(result.sobol, case.input_names, outputs)
    transport = result.transport
    if isinstance(transport, TransportResult):
        rows = [
            [name, t.statistic, t.p_value, t.rejected] for name, t in transport.shift_tests.items()
        ]
        out += _table("Shift tests", ["test", "statistic", "p-value", "rejected"], rows)
    rel = result.reliability
    if isinstance(rel, ReliabilityResult):
        if case.queries_shifted_by_construction:
            rows = [
                [name, r.false_alarm_rate, r.detection_rate, r.auroc, r.error_spearman]
                for name, r in rel.indicators.items()
            ]
            header = ["indicator", "false alarms", "detection", "AUROC", "rho(score, error)"]
            title = "shifted queries by construction"
        else:
            rows = [
                [name, r.false_alarm_rate, r.error_spearman] for name, r in rel.indicators.items()
            ]
            header = ["indicator", "false alarms (test split)", "rho(score, error)"]
            title = "queries not assumed shifted"
        out += _table(f"Reliability indicators (alpha = {rel.alpha}; {title})", header, rows)
    out += _queries(result.queries, outputs)
    bias = result.bias
    if isinstance(bias, BiasResult):
        lo, hi = bias.interval
        out += [
            f"Bias of {bias.quantity}: exact {_fmt(bias.exact, 5)}, surrogate "
            f"{_fmt(bias.surrogate, 5)}, true bias {_fmt(bias.true_bias)}, predicted "
            f"{_fmt(bias.predicted_bias)} [{_fmt(lo)}, {_fmt(hi)}] at "
            f"{bias.level:.0%} (contains the true bias: {_fmt(bias.contains_true)})",
        ]
        if bias.posterior_spread:
            s_lo, s_hi = bias.posterior_spread.interval
            out.append(
                f"  spread of the ensemble members about their mean: [{_fmt(s_lo)}, {_fmt(s_hi)}]"
            )
        out.append("")
    hybrid = result.hybrid
    if isinstance(hybrid, HybridResult):
        errors = ", ".join(
            f"{name} {_fmt(e)}"
            for name, e in zip(result.case.output_names, hybrid.mean_abs_error, strict=True)
        )
        speedup = "n/a" if hybrid.speedup is None else f"{hybrid.speedup:.2f}x"
        out += [
            f"Hybrid on the queries: {hybrid.n_fallback} of {hybrid.n_queries} fell back to "
            f"the simulator ({hybrid.fallback_share:.0%}; in-domain "
            f"{hybrid.fallback_share_in_domain:.0%} at alpha {hybrid.alpha:g}), speed-up "
            f"{speedup}, mean abs. error {errors}",
            "",
        ]
    rows = [[stage, seconds] for stage, seconds in result.timings.items()]
    rows.append(["total", sum(result.timings.values())])
    out += _table("Stage timings (s)", ["stage", "seconds"], rows)
    return "\n".join(out).rstrip("\n")
