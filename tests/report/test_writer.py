"""The report folder: complete, self-contained, escaped, atomic, never silently overwritten."""

import base64
import json
import math
import re
from html.parser import HTMLParser

import pytest

from edtjax.audit import AuditResult, format_summary
from edtjax.report import writer
from edtjax.report._html import render_html
from edtjax.report.writer import write_audit_report
from tests.report.test_audit_figures import (
    EXPECTED_FILES,
    INPUTS,
    OUTPUTS,
    TOTAL_NOTE,
    declared_validity,
    edit_numbers,
    empirical_sobol,
    minimal_result,
    synthetic_result,
)


def _minimal(name):
    """A result whose stages all did not run: one figure (timings), quick to write."""
    return minimal_result(name, {"fit": 0.5, "report": 0.1})


class _Nesting(HTMLParser):
    """Checks that every non-void element is closed in order."""

    VOID = frozenset({"meta", "img", "br"})

    def __init__(self):
        super().__init__()
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "report"
    result = synthetic_result()
    return write_audit_report(out, result), result


def test_every_file_is_written_and_nothing_else(report):
    out, _ = report
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*EXPECTED_FILES, "report.html", "report.json", "queries.csv", "queries.json"]
    )
    assert [p.name for p in out.parent.iterdir()] == ["report"]  # no temporary folder left
    for name in EXPECTED_FILES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_embeds_every_png_and_references_nothing_external(report):
    out, _ = report
    page = (out / "report.html").read_text()
    for name in EXPECTED_FILES:
        encoded = base64.b64encode((out / name).read_bytes()).decode()
        assert f'src="data:image/png;base64,{encoded}"' in page
    sources = re.findall(r"""src\s*=\s*["']?([^"'\s>]*)""", page)
    assert len(sources) == len(EXPECTED_FILES)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    links = re.findall(r"""href\s*=\s*["']?([^"'\s>]*)""", page)
    assert links and all(link.startswith("#") for link in links)  # in-page anchors only
    anchors = set(re.findall(r'id="([^"]+)"', page))
    assert {link[1:] for link in links} <= anchors
    for external in ("<script", "<link", "url(", "@import", "http://", "https://", "<iframe"):
        assert external not in page.lower()


def test_html_is_well_nested(report):
    out, _ = report
    parser = _Nesting()
    parser.feed((out / "report.html").read_text())
    assert parser.errors == [] and parser.stack == []


def test_json_round_trips_every_number(report):
    out, result = report
    document = json.loads((out / "report.json").read_text())
    assert document["numbers"] == result.numbers
    back = AuditResult.from_json(document["numbers"], {}, document["timings"])
    assert back == result._replace(arrays={})  # report.json reads back into the same records
    assert document["timings"] == result.timings
    assert list(document["timings"]) == list(result.timings)  # order the stages ran
    assert document["figures"] == EXPECTED_FILES
    from edtjax.report.summary import audit_summary, verdict_records

    assert document["verdicts"] == verdict_records(audit_summary(result))
    assert [v["level"] for v in document["verdicts"]] == [v.level for v in audit_summary(result)]


def test_queries_csv_and_json_have_one_row_per_query_in_order(report):
    import csv

    out, result = report
    q = result.numbers["queries"]
    m = q["count"]
    with open(out / "queries.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["query"]) for r in rows] == list(range(m))
    document = json.loads((out / "queries.json").read_text())
    assert [r["query"] for r in document["queries"]] == list(range(m))
    assert document["columns"] == list(rows[0])
    x = result.arrays["inputs/queries"]
    outside = result.arrays["queries/outside"]
    for i, (row, record) in enumerate(zip(rows, document["queries"], strict=True)):
        assert float(row["conductivity"]) == x[i, 0] == record["conductivity"]  # full precision
        assert row["verdict"] == record["verdict"] == ("outside" if outside[i] else "inside")
        p = float(row["p[combined]"])
        assert (p <= q["alpha"]) == (row["verdict"] == "outside")
        assert float(row["abs_error[T_max]"]) == result.arrays["queries/abs_error"][i, 0]
        assert row["pushed_out_by"] == ("conductivity" if outside[i] else "")
        assert record["pushed_out_by"] == ("conductivity" if outside[i] else None)
    page = (out / "report.html").read_text()
    assert "6 of 10 queries are judged outside the domain of validity, 4 inside" in page
    assert "most extreme queries (lowest combined p-values)" in page
    assert "accepted (inside)" in page and "flagged (outside)" in page


def test_user_queries_are_not_called_shifted_in_the_report(tmp_path):
    def user_queries(numbers):
        numbers["case"]["queries_shifted_by_construction"] = False
        for ind in numbers["reliability"]["indicators"].values():
            ind["detection_rate"] = ind["auroc"] = None

    result = edit_numbers(synthetic_result(), user_queries)
    out = write_audit_report(tmp_path / "r", result)
    page = (out / "report.html").read_text()
    assert "shifted queries" not in page and "shifted by construction: it flags" not in page
    assert "<th>auroc</th>" not in page and "<th>detection_rate</th>" not in page
    assert "not assumed to be shifted" in page


def test_sobol_section_names_the_empirical_law_and_gives_first_order_indices():
    d, o = len(INPUTS), len(OUTPUTS)
    sobol = empirical_sobol(
        [[0.61, 0.1], [0.3, 0.5], [0.05, 0.2]], [[0.6, 0.1], [0.3, 0.5], [0.05, 0.2]]
    )
    result = edit_numbers(synthetic_result(), lambda n: n.update(sobol=sobol))
    page = render_html(result, [], "now")
    sobol = page[page.index('id="sobol"') : page.index('id="parameter_gsa"')]
    assert "Input law of the sensitivity analysis: empirical (120 runs)." in sobol
    assert TOTAL_NOTE in sobol and "First-order indices on the labelled runs" in sobol
    header = "<th>first T_max (labelled outputs)</th><th>first T_max (surrogate)</th>"
    assert header in sobol and "0.61 [0.56, 0.66]" in sobol
    assert sobol.count("<tr>") == 1 + d + 1 + 4  # first-order table, agreement table
    assert "Not available" not in sobol and "needs the simulator" not in sobol
    summary = page[page.index("Summary") : page.index('id="case"')]
    assert "Do simulator and surrogate agree" in summary and "empirical (120 runs)" in summary
    text = format_summary(result)
    assert "Sobol' indices under the input law: empirical (120 runs)" in text
    assert "Sobol' first-order indices, top inputs" in text and "conductivity 0.61" in text
    assert f"no total indices: {TOTAL_NOTE}" in text
    assert o == 2


@pytest.mark.parametrize("restricted", [True, False])
def test_sobol_section_gives_the_declared_laws_share_outside_and_restricted_indices(restricted):
    numbers = synthetic_result().numbers
    sobol = numbers["sobol"]
    sobol["law"] = {
        "kind": "declared",
        "source": "config [inputs]",
        "description": "declared by config [inputs]: conductivity ~ Gumbel(loc=1, scale=2)",
        "inputs": {"conductivity": "Gumbel(loc=1, scale=2) <tail>", "porosity": "U", "source": "U"},
        "num_runs": None,
    }
    sobol["total_available"] = True
    sobol["validity"] = declared_validity(0.65, restricted=restricted)
    result = AuditResult.from_json(numbers, synthetic_result().arrays, {})
    page = render_html(result, [], "now")
    section = page[page.index('id="sobol"') : page.index('id="parameter_gsa"')]
    assert "conductivity ~ Gumbel(loc=1, scale=2)" in section
    assert '<td class="l">Gumbel(loc=1, scale=2) &lt;tail&gt;</td>' in section  # escaped
    assert "65% of 1000 draws from the declared input laws lie outside." in section
    assert '<td class="l">judged outside the validity domain</td><td class="l">650</td>' in section
    assert '<td class="l">share outside</td><td class="l">65.0%</td>' in section
    assert '<td class="l">threshold</td><td class="l">20.0%</td>' in section
    assert '<td class="l">the indices describe extrapolation</td><td class="l">yes</td>' in section
    assert "First-order indices within the validity domain" in section
    if restricted:
        assert "restricted to the validity domain; 350 accepted draws" in section
        assert "<th>first T_max (surrogate)</th>" in section
    else:
        assert "Not available: only 12 of 1000 draws are inside" in section
    summary = page[page.index("Summary") : page.index('id="case"')]
    assert "650 of 1000 draws from the declared input laws (65.0%)" in summary
    text = format_summary(result)
    assert "validity of the law: 650 of 1000 draws (65.0%) outside the domain" in text
    assert "describes extrapolation: yes" in text
    assert ("first order within the domain (surrogate, 350 draws)" in text) == restricted


def test_text_is_escaped_and_sections_are_present(report):
    out, _ = report
    page = (out / "report.html").read_text()
    assert "Surrogate audit: thermodiffusion &lt;test&gt; &amp; co" in page
    assert "<test>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # config value, shown as text
    assert "Expected peak temperature &lt;K&gt;." in page
    summary = page.index("Summary")
    for heading in ("The case", "Surrogates", "Sobol", "Reliability indicators", "Stage timings"):
        assert page.index(heading) > summary
    assert "Not available" not in page
    assert "Why caution:" in page  # each verdict says why its level


def test_optional_parts_none_say_why(tmp_path):
    result = synthetic_result(with_optional=False)
    out = write_audit_report(tmp_path / "r", result)
    page = (out / "report.html").read_text()
    assert "Not available: no simulator (user data)." in page
    assert "Not available: no downstream quantity was given" in page
    assert json.loads((out / "report.json").read_text())["numbers"]["bias"] is None


def test_refuses_to_overwrite_and_leaves_the_first_report_untouched(report):
    out, _ = report
    before = _snapshot(out)
    with pytest.raises(FileExistsError, match="--force") as info:
        write_audit_report(out, _minimal("second run"))
    assert "\n" not in str(info.value)
    assert _snapshot(out) == before
    assert [p.name for p in out.parent.iterdir()] == ["report"]


def test_force_replaces_the_report(tmp_path):
    out = write_audit_report(tmp_path / "r", _minimal("first run"))
    other = _minimal("second run")
    write_audit_report(out, other, force=True)
    assert "Surrogate audit: second run" in (out / "report.html").read_text()
    assert json.loads((out / "report.json").read_text())["numbers"] == other.numbers
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_failure_while_writing_leaves_old_report_and_no_partial_one(tmp_path, monkeypatch):
    out = write_audit_report(tmp_path / "r", _minimal("first run"))
    before = _snapshot(out)
    calls = []

    def failing_write(path, data):
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        with open(path, "xb") as f:
            f.write(data)

    monkeypatch.setattr(writer, "_write", failing_write)
    with pytest.raises(ValueError, match="No space left on device"):
        write_audit_report(out, _minimal("second run"), force=True)
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["r"]
    calls.clear()
    with pytest.raises(ValueError, match="cannot write the report"):
        write_audit_report(tmp_path / "new", _minimal("third run"))
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: edit_numbers(r, lambda n: n["surrogates"]["bnn"].update(nll=math.nan)),
        lambda r: edit_numbers(r, lambda n: n.pop("sobol")),
        lambda r: r.arrays.pop("shift/sinkhorn/null") is not None and r,
        lambda r: r.timings.update(train=-1.0) or r,
        lambda r: edit_numbers(r, lambda n: n["surrogates"].update(bnn=3.0)),
        lambda r: edit_numbers(r, lambda n: n["parameter_gsa"].pop("groups")),
        lambda r: edit_numbers(r, lambda n: n["bias"].update(interval=0.5)),
        lambda r: edit_numbers(r, lambda n: n["bias"].update(unknown_key=1.0)),
    ],
)
def test_contract_violation_raises_and_leaves_nothing(tmp_path, edit):
    with pytest.raises(ValueError, match=r"result|numbers|timings"):
        write_audit_report(tmp_path / "r", edit(synthetic_result()))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_location_is_a_one_line_value_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="cannot write the report") as info:
        write_audit_report(blocker / "report", synthetic_result())
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="not a report folder"):
        write_audit_report(blocker, synthetic_result(), force=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="not a report folder"):
        write_audit_report(tmp_path / "data", synthetic_result(), force=True)
    assert (tmp_path / "data" / "keep.csv").read_text() == "1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "data"]


def test_force_replaces_only_a_report_and_never_through_a_link(tmp_path):
    from edtjax.report import check_report_folder

    first = write_audit_report(tmp_path / "r", _minimal("first run"))
    assert check_report_folder(first, force=True) == first  # a report: may be replaced
    (tmp_path / "empty").mkdir()
    assert check_report_folder(tmp_path / "empty", force=True) == tmp_path / "empty"
    assert check_report_folder(tmp_path / "new", force=False) == tmp_path / "new"

    def refused(folder, reason):
        with pytest.raises(ValueError, match=reason) as info:
            check_report_folder(folder, force=True)
        assert "not a report folder" in str(info.value) and "\n" not in str(info.value)

    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "report.json").write_text('{"rows": 3}')  # a report.json not written by edtjax
    (fake / "report.html").write_text("<p>mine</p>")
    refused(fake, "its report.json is not an edtjax report")
    extra = tmp_path / "extra"
    write_audit_report(extra, _minimal("with notes"))
    (extra / "notes.txt").write_text("my notes")
    refused(extra, "it also holds 'notes.txt'")
    no_html = tmp_path / "no_html"
    write_audit_report(no_html, _minimal("no page"))
    (no_html / "report.html").unlink()
    refused(no_html, "no report.html")
    link = tmp_path / "link"
    link.symlink_to(first, target_is_directory=True)
    refused(link, "symbolic link")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    refused(dangling, "symbolic link")
    with pytest.raises(ValueError, match="symbolic link"):  # the writer itself refuses too
        write_audit_report(link, _minimal("second run"), force=True)
    assert (extra / "notes.txt").read_text() == "my notes" and not (tmp_path / "nowhere").exists()
    assert json.loads((first / "report.json").read_text())["numbers"]["case"]["name"] == (
        "first run"
    )


def test_report_files_follow_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        out = write_audit_report(tmp_path / "r", _minimal("modes"))
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {0o640}  # 0o666 less the umask, as open() gives
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
