"""Verdicts of the summary on small exact cases."""

import math

import pytest

from edtjax.report.summary import audit_summary, format_number, unavailable_reason
from tests.test_report_audit_figures import synthetic_result


def _numbers(**changes):
    numbers = synthetic_result().numbers
    numbers.update(changes)
    return numbers


def _cal(coverages, conformal, n_test=400):
    numbers = _numbers()
    numbers["case"]["n_test"] = n_test
    numbers["surrogates"] = {
        f"m{i}": {"coverage_90": c, "conformal_coverage_90": k}
        for i, (c, k) in enumerate(zip(coverages, conformal, strict=True))
    }
    return audit_summary(numbers)[0]


def test_calibration_band_is_three_binomial_standard_errors():
    tol = 3.0 * math.sqrt(0.9 * 0.1 / 400)  # = 0.045
    assert _cal([0.9 - tol + 1e-9], [0.9]).status == "good"
    v = _cal([0.9 - tol - 1e-3], [0.9])
    assert v.status == "warn" and "too narrow" in v.answer and "± 4.5%" in v.answer
    assert _cal([0.96], [0.9]).answer.count("too wide") == 1
    assert _cal([0.8], [0.8]).status == "bad"
    assert _cal([0.9, 0.7], [0.9, 0.9]).status == "warn"
    assert "test-set size unknown" in _cal([0.9], [0.9], n_test=None).answer


def _sobol(first, total, half):
    def ci(v):
        return [[[x - half, x + half] for x in row] for row in v]

    return {"first": first, "first_ci": ci(first), "total": total, "total_ci": ci(total)}


def test_agreement_counts_overlapping_intervals_and_names_top_input():
    numbers = _numbers()
    numbers["case"]["input_names"] = ["a", "b"]
    numbers["case"]["output_names"] = ["y"]
    sim = _sobol([[0.6], [0.2]], [[0.7], [0.3]], 0.05)
    sur = _sobol([[0.62], [0.4]], [[0.71], [0.3]], 0.05)  # b's first order differs by 0.2
    agreement = {"max_abs_diff_first": 0.2, "max_abs_diff_total": 0.01, "same_ranking": True}
    numbers["sobol"] = {"simulator": sim, "surrogate": sur, "agreement": agreement}
    v = audit_summary(numbers)[1]
    assert v.status == "warn"
    assert "overlap for 3 of 4 indices" in v.answer
    assert "simulator, total index): a for y" in v.answer
    numbers["sobol"]["surrogate"] = sim
    assert audit_summary(numbers)[1].status == "good"
    numbers["sobol"]["simulator"] = None
    v = audit_summary(numbers)[1]
    assert v.status == "n/a" and "no simulator" in v.answer and "a for y" in v.answer


def test_domain_counts_flagged_queries_and_excess_false_alarms():
    v = audit_summary(_numbers())[2]
    assert "flags 9 of 10 shifted queries (90.0%)" in v.answer
    assert "1 of 12 in-domain queries (8.0%" in v.answer
    assert "1 of 2 (sinkhorn)" in v.answer
    assert v.status == "warn"
    numbers = _numbers()
    numbers["case"]["n_queries_in"] = 100
    numbers["reliability"]["alpha"] = 0.05
    # bound 0.05 + 3 sqrt(0.05 * 0.95 / 100) = 0.115
    numbers["reliability"]["indicators"]["combined"]["false_alarm_rate"] = 0.12
    v = audit_summary(numbers)[2]
    assert v.status == "bad" and "more often than α allows" in v.answer
    numbers["reliability"]["indicators"]["combined"]["false_alarm_rate"] = 0.11
    assert audit_summary(numbers)[2].status == "warn"


def test_bias_interval_and_unavailable_sections():
    v = audit_summary(_numbers())[3]
    assert v.status == "good"
    assert "0.018, 90.0% interval [0.01, 0.03]; actual bias 0.02 (inside" in v.answer
    numbers = _numbers()
    numbers["bias"]["contains_true"] = False
    assert audit_summary(numbers)[3].status == "bad"
    skipped = _numbers(bias={"skipped": "no downstream quantity in the config"})
    assert audit_summary(skipped)[3].answer == (
        "Not available: no downstream quantity in the config."
    )
    statuses = [v.status for v in audit_summary(_numbers(sobol=None, reliability=None))]
    assert statuses[1:3] == ["n/a", "n/a"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (True, "yes"), (7, "7"), (0.000123456, "0.000123"), ([0.5, 2], "[0.5, 2]")],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_unavailable_reason():
    assert unavailable_reason({"depth_maps": []}, "depth_maps") == (
        "the audit computed no 2-D slices"
    )
    assert unavailable_reason({"x": {"a": 1}}, "x") is None
    assert unavailable_reason({}, "anything") == "this stage did not run"
