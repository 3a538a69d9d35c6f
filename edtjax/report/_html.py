"""The self-contained ``report.html`` of an audit: inline CSS, figures as ``data:`` URIs."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape

from edtjax.audit.records import (
    FirstOrderIndices,
    IndexTable,
    Skipped,
    SobolResult,
)
from edtjax.audit.result import AuditResult
from edtjax.report.audit_figures import ReportFigure
from edtjax.report.summary import audit_summary, format_number, unavailable_reason

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a;
       max-width: 1100px; margin: 2em auto; padding: 0 1.2em; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em;
       margin-top: 2em; } h3 { margin-bottom: 0.3em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.92em; }
.wide { overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.l, th.l { text-align: left; }
.verdicts { border-collapse: separate; border-spacing: 0 0.4em; width: 100%; }
.verdicts td { border: none; text-align: left; vertical-align: top; padding: 0.5em 0.8em; }
.verdicts td.q { font-weight: 600; width: 27%; }
.good td { background: #e3f4e6; } .warn td { background: #fff3d6; }
.bad td { background: #fbe0de; } .na td { background: #eeeeee; }
.badge { font-size: 0.8em; font-weight: 700; text-transform: uppercase; }
figure { margin: 1em 0 1.6em; } figure img { max-width: 100%; border: 1px solid #e5e5e5; }
figcaption { color: #333; font-size: 0.92em; max-width: 900px; }
.na-note { color: #666; font-style: italic; }
.why { color: #444; font-size: 0.9em; margin-top: 0.3em; }
.toc { font-size: 0.92em; } .toc a { color: #0b5cad; text-decoration: none; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""

_STATUS = {"ok": ("good", "ok"), "caution": ("warn", "caution"), "problem": ("bad", "problem")}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    def cell(tag: str, i: int, v: object) -> str:
        cls = ' class="l"' if i < left else ""
        text = v if isinstance(v, str) else format_number(v)
        return f"<{tag}{cls}>{_e(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def _figure(fig: ReportFigure, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(fig.title)}">'
        f"<figcaption><b>{_e(fig.title)}.</b> {_e(fig.caption)}</figcaption></figure>"
    )


def _na(why: str) -> str:
    return f'<p class="na-note">Not available: {_e(why)}.</p>'


def _ci(v: float, ci: Sequence[float]) -> str:
    return f"{format_number(v)} [{format_number(ci[0])}, {format_number(ci[1])}]"


def _case(result: AuditResult) -> str:
    c = result.case
    keys = ("n_train", "n_calibration", "n_test", "n_queries", "seed")
    rows = [
        ("inputs", ", ".join(c.input_names)),
        ("outputs", ", ".join(c.output_names)),
        *((k, getattr(c, k)) for k in keys),
        ("queries shifted by construction", c.queries_shifted_by_construction),
        ("surrogate", f"{c.surrogate.name}: {c.surrogate.statement}"),
        ("edtjax version", c.edtjax_version),
    ]
    config = json.dumps(c.config, indent=2, sort_keys=True)
    return (
        _table(("", "value"), rows, left=2)
        + f"<details><summary>Full configuration</summary><pre>{_e(config)}</pre></details>"
    )


def _surrogates(result: AuditResult) -> str:
    outputs = result.case.output_names
    cols = ("nll", "crps", "coverage_90", "width_90", "calibration_error")
    cols += ("conformal_coverage_90", "conformal_width_90")
    header = ["method", *(f"RMSE {o}" for o in outputs), *cols]
    rows = [
        [method, *m.rmse, *(getattr(m, k) for k in cols)] for method, m in result.surrogates.items()
    ]
    note = (
        "<p>On the in-domain test set; NLL, CRPS and interval widths are in standardised "
        "output units; coverages are of central 90% intervals.</p>"
    )
    return note + _table(header, rows)


def _ci_or_value(v: float, ci: Sequence[float] | None) -> str:
    return format_number(v) if ci is None else _ci(v, ci)


def _sobol_table(s: IndexTable, inputs: list[str], outputs: list[str]) -> str:
    header = ["input"]
    for o in outputs:
        header += [f"first {o}", f"total {o}"]
    rows = []
    for i, name in enumerate(inputs):
        row = [name]
        for j in range(len(outputs)):
            row += [_ci(s.first[i][j], s.first_ci[i][j])]
            row += [_ci(s.total[i][j], s.total_ci[i][j])]
        rows.append(row)
    return _table(header, rows) + f"<p>Sample size: {_e(format_number(s.num_samples))}.</p>"


def _first_order_table(
    series: Sequence[tuple[str, FirstOrderIndices | None]], inputs: list[str], outputs: list[str]
) -> str:
    """First-order indices (with intervals where given) of several series side by side."""
    present = [(label, s) for label, s in series if s]
    header = ["input"] + [f"first {o} ({label})" for o in outputs for label, _ in present]
    rows = []
    for i, name in enumerate(inputs):
        row = [name]
        for j in range(len(outputs)):
            for _, s in present:
                ci = s.first_ci
                row.append(_ci_or_value(s.first[i][j], None if ci is None else ci[i][j]))
        rows.append(row)
    sizes = "; ".join(f"{label}: {format_number(s.num_samples)}" for label, s in present)
    return _table(header, rows) + f"<p>Sample sizes: {_e(sizes)}.</p>"


def _law(sobol: SobolResult) -> str:
    law = sobol.law
    html = f"<p><b>Input law of the sensitivity analysis: {_e(law.description)}.</b></p>"
    if law.inputs:
        rows = list(law.inputs.items())
        html += _table(("input", f"law ({law.source})"), rows, left=2)
    return html


def _validity(sobol: SobolResult, inputs: list[str], outputs: list[str]) -> str:
    v = sobol.validity
    if v is None:  # not judged (no reliability stage): nothing to show
        return ""
    html = "<h3>Does the law lie in the surrogate's validity domain?</h3>"
    if isinstance(v, Skipped):
        return html + _na(v.reason)
    html += f"<p>{_e(v.statement)}.</p>"
    rows = [
        ("draws from the declared laws", v.num_draws),
        ("judged outside the validity domain", v.n_outside),
        ("share outside", _pct(v.share_outside)),
        ("threshold", _pct(v.threshold)),
        ("indicator (α)", f"{v.indicator} ({format_number(v.alpha)})"),
        ("the indices describe extrapolation", v.describes_extrapolation),
    ]
    html += _table(("", "value"), rows, left=2)
    restricted = v.restricted
    html += "<h3>First-order indices within the validity domain</h3>"
    if isinstance(restricted, Skipped):
        return html + _na(restricted.reason)
    html += f"<p>{_e(restricted.note)}; {_e(restricted.num_draws)} accepted draws.</p>"
    series = [("surrogate", restricted.surrogate), ("simulator", restricted.simulator)]
    if not any(s for _, s in series):
        return html + _na("no indices on the accepted draws")
    return html + _first_order_table(series, inputs, outputs)


def _sobol(result: AuditResult) -> str:
    sobol, c = result.sobol, result.case
    inputs, outputs = list(c.input_names), list(c.output_names)
    html = _law(sobol) + "<p>Estimates with their confidence intervals in brackets.</p>"
    if not sobol.total_available:
        html += f"<p>{_e(sobol.total_note or 'total indices are not available')}.</p>"
        emp = sobol.empirical
        html += "<h3>First-order indices on the labelled runs</h3>"
        if emp is None:
            html += _na("not computed")
        else:
            html += f"<p>{_e(emp.method)}.</p>"
            html += _first_order_table(
                [("labelled outputs", emp.data), ("surrogate", emp.surrogate)], inputs, outputs
            )
        html += "<h3>Agreement (surrogate vs labelled outputs, first order)</h3>"
        agree = None if emp is None else emp.agreement
        if agree is None:
            html += _na("needs the surrogate's indices")
        else:
            html += _table(("", "value"), list(agree.to_json().items()), left=2)
        if isinstance(sobol.validity, Skipped):
            html += f"<p>Validity of the law: {_e(sobol.validity.reason)}.</p>"
        return html
    for who in ("simulator", "surrogate"):
        html += f"<h3>{who.capitalize()}</h3>"
        s = getattr(sobol, who)
        if s is None:
            why = (
                "no simulator (user data)"
                if who == "simulator"
                else sobol.surrogate_note or "not computed"
            )
            html += _na(why)
        else:
            html += _sobol_table(s, inputs, outputs)
    agree = sobol.agreement
    html += "<h3>Agreement</h3>"
    if agree is None:
        html += _na("needs the simulator's and the surrogate's indices")
    else:
        html += _table(("", "value"), list(agree.to_json().items()), left=2)
    return html + _validity(sobol, inputs, outputs)


def _parameter_gsa(result: AuditResult) -> str:
    g, outputs = result.parameter_gsa, result.case.output_names
    header = ["group", *(f"first {o}" for o in outputs), *(f"total {o}" for o in outputs)]
    rows = [[name, *g.first[i], *g.total[i]] for i, name in enumerate(g.groups)]
    return _table(header, rows) + f"<p>Sample size: {_e(format_number(g.num_samples))}.</p>"


def _transport(result: AuditResult) -> str:
    t = result.transport
    html = "<h3>Shift tests</h3>"
    if t.shift_tests:
        rows = [
            (n, v.compared, v.statistic, v.p_value, v.rejected) for n, v in t.shift_tests.items()
        ]
        html += _table(("test", "compared", "statistic", "p-value", "rejected"), rows, left=2)
    else:
        html += _na("no shift test ran")
    html += "<h3>Monge–Kantorovich depth</h3>"
    shifted = result.case.queries_shifted_by_construction
    labels = {
        "in_domain_mean": "in-domain test split",
        "shifted_mean": "queries (shifted by construction)" if shifted else "queries",
    }
    rows = [(labels[k], v) for k, v in t.mk_depth.to_json().items()]
    html += _table(("", "mean depth"), rows)
    levels = format_number(t.contour_levels)
    inputs = ", ".join(t.contour_inputs)
    html += f"<p>Quantile contours of levels {_e(levels)} in ({_e(inputs)}).</p>"
    return html


def _reliability(result: AuditResult) -> str:
    r = result.reliability
    shifted = result.case.queries_shifted_by_construction
    cols = ("threshold", "false_alarm_rate", "detection_rate", "auroc", "error_spearman")
    if not shifted:  # no detection rate nor AUROC without queries known to be shifted
        cols = ("threshold", "false_alarm_rate", "error_spearman")
    rows = [[n, *(getattr(v, k) for k in cols)] for n, v in r.indicators.items()]
    evaluated = (
        "Detection rate and AUROC are computed on this case's queries because they are shifted "
        "by construction (an evaluation of the indicators, not an answer about new inputs)."
        if shifted
        else "False alarms are counted on the held-out in-domain test split. Your queries are "
        "not assumed to be shifted, so no detection rate or AUROC is computed on them: which "
        "of them are outside is the answer given in the queries section."
    )
    return (
        f"<p>Thresholds calibrated by split conformal prediction at α = "
        f"{_e(format_number(r.alpha))}: an in-domain query is flagged with probability "
        "at most α; a query is outside the domain when its score exceeds the threshold. "
        f"{_e(evaluated)} The rank correlation ρ of score and surrogate error uses every point "
        "whose true output is known.</p>" + _table(("indicator", *cols), rows)
    )


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100.0 * x:.1f}%"


def _queries(result: AuditResult) -> str:
    q, case = result.queries, result.case
    inputs, outputs = list(case.input_names), list(case.output_names)
    alpha, n = q.alpha, q.count
    html = (
        f"<p><b>{_e(q.n_outside)} of {_e(n)} queries are judged outside the domain of "
        f"validity, {_e(q.n_inside)} inside</b> (the combined indicator's conformal "
        f"p-value ≤ α = {_e(format_number(alpha))}). An in-domain query is flagged with "
        f"probability at most α, so about {_e(format_number(alpha * n if alpha else None))} "
        "flags are expected even if every query were inside. Every query, in your order, with "
        "its prediction, its conformal interval at level "
        f"{_e(_pct(q.interval_level))}, each indicator's score and p-value, the verdict "
        "and the input that pushes it out most is in <code>queries.csv</code> and "
        "<code>queries.json</code>.</p>"
    )
    attribution = q.attribution
    if isinstance(attribution, Skipped):
        html += f"<p>Attribution not available: {_e(attribution.reason)}.</p>"
    else:
        html += (
            "<p>“Pushed out by”: the input along which the score grows fastest, "
            f"{_e(attribution.method)} (differentiable: "
            f"{_e(', '.join(attribution.indicators))}; not differentiable, so not "
            f"used: {_e(', '.join(attribution.not_differentiable) or 'none')}).</p>"
        )
    extreme = q.extreme
    if extreme:
        header = ["query", "p combined", "verdict", "pushed out by"]
        header += [f"mean {o} [interval]" for o in outputs] + inputs
        rows = []
        for e in extreme:
            cells = [str(e.query), e.p_combined, e.verdict, e.pushed_out_by]
            cells += [_ci(mean, ci) for mean, ci in zip(e.mean, e.interval, strict=True)]
            cells += [e.inputs[a] for a in inputs]
            rows.append(cells)
        html += f"<h3>The {len(extreme)} most extreme queries (lowest combined p-values)</h3>"
        html += _table(header, rows, left=1)
    lab = q.labelled
    html += "<h3>Labelled queries: does the verdict track the surrogate's error?</h3>"
    if not lab:
        html += _na("the queries carry no true outputs")
        return html
    header = ["queries", "count", *(f"MAE {o}" for o in outputs)]
    header += [*(f"coverage {o}" for o in outputs), "large errors"]
    rows = []
    for g, label in ((lab.inside, "accepted (inside)"), (lab.outside, "flagged (outside)")):
        mae = g.mae or [None] * len(outputs)
        cover = g.coverage or [None] * len(outputs)
        rows.append([label, g.count, *mae, *cover, g.n_large_errors])
    html += _table(header, rows)
    html += (
        f"<p>A query has a <i>large error</i> when {_e(lab.large_error_definition)}. "
        "Large errors "
        f"among the queries: {_e(lab.n_large_errors)}; share caught (flagged): "
        f"{_e(_pct(lab.large_errors_caught))}; share of flagged queries with a large "
        f"error: {_e(_pct(lab.flagged_with_large_error))}; rank correlation of the "
        f"combined score with the error: {_e(format_number(lab.error_spearman))}. "
        "Coverage is of the conformal intervals at level "
        f"{_e(_pct(q.interval_level))}; MAE in the outputs' units.</p>"
    )
    return html


def _depth_maps(result: AuditResult) -> str:
    rows = []
    for m in result.depth_maps:
        fixed = ", ".join(f"{k} = {format_number(v)}" for k, v in m.fixed.items())
        rows.append((m.indicator, ", ".join(m.inputs), fixed, m.threshold))
    return _table(("indicator", "slice inputs", "other inputs held at", "threshold"), rows, left=3)


def _bias(result: AuditResult) -> str:
    b = result.bias
    html = f"<p>{_e(b.description)}</p>"
    rows = []
    for k, v in b.to_json().items():
        if isinstance(v, dict):  # a nested estimate, e.g. the posterior spread
            rows.extend((f"{k} {sub}", format_number(w, 5)) for sub, w in v.items())
        elif k != "description":  # 5 digits: the bias is a small difference of large numbers
            rows.append((k, format_number(v, 5)))
    return html + _table(("", "value"), rows, left=2)


def _hybrid(result: AuditResult) -> str:
    h = result.hybrid
    outputs = result.case.output_names
    rows = [
        ("queries", h.n_queries),
        ("fell back to the simulator", f"{h.n_fallback} ({100 * h.fallback_share:.1f}%)"),
        ("fallback share on the in-domain test split", h.fallback_share_in_domain),
        ("alpha (in-domain fallback at most)", h.alpha),
        ("hybrid time (s)", h.hybrid_seconds),
        ("simulator alone (s)", h.simulator_seconds),
        ("speed-up", "n/a" if h.speedup is None else f"{h.speedup:.2f}x"),
    ]
    for j, name in enumerate(outputs):
        rows.append(
            (
                f"{name}: mean / max abs. error of the hybrid (surrogate alone: mean)",
                f"{format_number(h.mean_abs_error[j])} / {format_number(h.max_abs_error[j])} "
                f"({format_number(h.surrogate_mean_abs_error[j])})",
            )
        )
    return f"<p>{_e(h.description)}.</p>" + _table(("", "value"), rows, left=2)


_SECTIONS = (
    ("case", "The case", _case),
    ("queries", "Your queries: inside or outside the domain of validity", _queries),
    ("surrogates", "Surrogates: accuracy and calibration", _surrogates),
    ("sobol", "Sobol' indices of the inputs", _sobol),
    ("parameter_gsa", "Sensitivity to network parameters", _parameter_gsa),
    ("transport", "Training inputs and distribution shift (optimal transport)", _transport),
    ("reliability", "Reliability indicators", _reliability),
    ("depth_maps", "Domain of validity over 2-D slices", _depth_maps),
    ("bias", "Surrogate-induced bias downstream", _bias),
    ("hybrid", "The surrogate in the loop (hybrid simulation)", _hybrid),
)


def render_html(
    result: AuditResult, images: Sequence[tuple[ReportFigure, bytes]], created: str
) -> str:
    """The report page: title, verdicts, one section per stage, timings (all text escaped)."""
    name = result.case.name
    verdicts = "".join(
        f'<tr class="{_STATUS.get(v.level, ("na", "n/a"))[0]}"><td class="q">{_e(v.question)}'
        f'<br><span class="badge">{_e(_STATUS.get(v.level, ("na", "n/a"))[1])}</span></td>'
        f'<td>{_e(v.answer)}<div class="why">Why {_e(v.level)}: '
        f"{_e('; '.join(v.reasons))}.</div></td></tr>"
        for v in audit_summary(result)
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Surrogate audit: {_e(name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Surrogate audit: {_e(name)}</h1>",
        f'<p class="meta">Created {_e(created)} · edtjax {_e(result.case.edtjax_version)}</p>',
        f'<h2>Summary</h2><table class="verdicts"><tbody>{verdicts}</tbody></table>',
        '<p class="toc">Sections: '
        + " · ".join(f'<a href="#{key}">{_e(title)}</a>' for key, title, _ in _SECTIONS)
        + ' · <a href="#timings">Stage timings</a></p>',
    ]
    for key, title, render in _SECTIONS:
        parts.append(f'<h2 id="{_e(key)}">{_e(title)}</h2>')
        why = unavailable_reason(getattr(result, key), key) if key != "case" else None
        parts.append(_na(why) if why is not None else render(result))
        parts += [_figure(f, png) for f, png in images if f.section == key]
    parts.append('<h2 id="timings">Stage timings</h2>')
    if result.timings:
        rows = [(k, v) for k, v in result.timings.items()]
        rows.append(("total", sum(result.timings.values())))
        parts.append(_table(("stage", "seconds"), rows))
        parts += [_figure(f, png) for f, png in images if f.section == "timings"]
    else:
        parts.append(_na("no stage timings were recorded"))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
