"""Verdicts of the summary on small exact cases."""

import math

import pytest

from edtjax.audit import AuditResult
from edtjax.audit.records import Skipped
from edtjax.report.summary import format_number, unavailable_reason
from tests.report.test_audit_figures import (
    INPUTS,
    OUTPUTS,
    TOTAL_NOTE,
    declared_validity,
    empirical_sobol,
    synthetic_result,
)
from tests.report.test_audit_figures import minimal_result as _minimal


def _numbers(**changes):
    numbers = synthetic_result().numbers
    numbers.update(changes)
    return numbers


def audit_summary(numbers):
    """The verdicts of the result whose JSON numbers are ``numbers``."""
    from edtjax.report.summary import audit_summary

    return audit_summary(AuditResult.from_json(numbers, {}, {}))


def _cal(coverages, conformal, n_test=400):
    numbers = _numbers()
    numbers["case"]["n_test"] = n_test
    base = numbers["surrogates"]["bnn"]
    numbers["surrogates"] = {
        f"m{i}": {**base, "coverage_90": c, "conformal_coverage_90": k}
        for i, (c, k) in enumerate(zip(coverages, conformal, strict=True))
    }
    return audit_summary(numbers)[0]


def test_calibration_band_is_three_binomial_standard_errors():
    tol = 3.0 * math.sqrt(0.9 * 0.1 / 400)  # = 0.045
    assert _cal([0.9 - tol + 1e-9], [0.9]).level == "ok"
    v = _cal([0.9 - tol - 1e-3], [0.9])
    assert v.level == "caution" and "too narrow" in v.answer and "± 4.5%" in v.answer
    assert _cal([0.96], [0.9]).answer.count("too wide") == 1
    assert _cal([0.8], [0.8]).level == "problem"
    assert _cal([0.9, 0.7], [0.9, 0.9]).level == "caution"
    assert "test-set size unknown" in _cal([0.9], [0.9], n_test=None).answer


def _sobol(first, total, half):
    def ci(v):
        return [[[x - half, x + half] for x in row] for row in v]

    return {
        "first": first,
        "first_ci": ci(first),
        "total": total,
        "total_ci": ci(total),
        "num_samples": 1024,
    }


def test_agreement_counts_overlapping_intervals_and_names_top_input():
    numbers = _numbers()
    numbers["case"]["input_names"] = ["a", "b"]
    numbers["case"]["output_names"] = ["y"]
    sim = _sobol([[0.6], [0.2]], [[0.7], [0.3]], 0.05)
    sur = _sobol([[0.62], [0.4]], [[0.71], [0.3]], 0.05)  # b's first order differs by 0.2
    agreement = {"max_abs_diff_first": 0.2, "max_abs_diff_total": 0.01, "same_ranking": True}
    agreement |= {"ranking_conflicts": [], "same_top_input": True}
    numbers["sobol"].update(simulator=sim, surrogate=sur, agreement=agreement, validity=None)
    v = audit_summary(numbers)[1]
    assert v.level == "caution"
    assert "overlap for 3 of 4 indices" in v.answer
    assert "simulator, total index): a for y" in v.answer
    numbers["sobol"]["surrogate"] = sim
    assert audit_summary(numbers)[1].level == "ok"
    numbers["sobol"]["simulator"] = None
    v = audit_summary(numbers)[1]
    assert v.level == "n/a" and "no simulator" in v.answer and "a for y" in v.answer


def test_agreement_on_the_empirical_law_compares_first_order_indices_with_the_data():
    # No declared laws: the surrogate's first-order indices against the labelled outputs',
    # same rule (ranking, overlapping intervals of half-width 0.05), never "n/a".
    d, o = len(INPUTS), len(OUTPUTS)
    base = [[0.6, 0.1], [0.3, 0.5], [0.05, 0.2]]
    numbers = _numbers(sobol=empirical_sobol(base, base))
    v = audit_summary(numbers)[1]
    assert v.level == "ok" and v.answer.startswith("Yes")
    assert "overlap for 6 of 6 indices" in v.answer
    assert "Input law of the sensitivity analysis: empirical (120 runs)." in v.answer
    assert TOTAL_NOTE in v.answer and "conductivity for T_max" in v.answer
    shifted = [[0.6, 0.1], [0.3, 0.62], [0.05, 0.2]]  # one interval no longer overlaps
    v = audit_summary(_numbers(sobol=empirical_sobol(shifted, base)))[1]
    assert v.level == "caution" and "1 of 6 first-order index intervals" in v.reasons[0]
    swapped = empirical_sobol(shifted, base, same_ranking=False)
    assert audit_summary(_numbers(sobol=swapped))[1].level == "problem"
    # without intervals (few runs) only the ranking counts
    sobol = empirical_sobol(base, base)
    sobol["empirical"]["data"]["first_ci"] = None
    v = audit_summary(_numbers(sobol=sobol))[1]
    assert v.level == "ok" and "no confidence intervals" in v.answer
    sobol["empirical"]["surrogate"] = None
    assert audit_summary(_numbers(sobol=sobol))[1].level == "n/a"
    assert d == 3 and o == 2


def test_declared_laws_that_describe_extrapolation_are_a_caution():
    numbers = _numbers()
    sobol = numbers["sobol"]
    sobol["law"] |= {"kind": "declared", "description": "declared by config [inputs]: a ~ U"}
    sobol["total_available"] = True
    sobol["surrogate"] = dict(sobol["simulator"])  # indices that agree
    assert audit_summary(numbers)[1].level == "ok"
    sobol["validity"] = declared_validity(0.1)  # at most the threshold: nothing changes
    v = audit_summary(numbers)[1]
    assert v.level == "ok" and "10% of 1000 draws" in v.answer
    assert "Input law of the sensitivity analysis: declared by config [inputs]" in v.answer
    sobol["validity"] = declared_validity(0.65)
    v = audit_summary(numbers)[1]
    assert v.level == "caution"
    assert any("650 of 1000 draws" in r and "extrapolates" in r for r in v.reasons)
    # the simulator's own disagreement stays the worse level
    sobol["agreement"]["same_ranking"] = False
    sobol["surrogate"]["first_ci"] = [[[5.0, 6.0]] * 2] * 3
    assert audit_summary(numbers)[1].level == "problem"
    # without a simulator the verdict is no longer "n/a": the indices describe extrapolation
    sobol["simulator"] = sobol["agreement"] = None
    v = audit_summary(numbers)[1]
    assert v.level == "caution" and "no simulator to compare with" not in v.reasons
    sobol["validity"] = declared_validity(0.05)
    assert audit_summary(numbers)[1].level == "n/a"


def test_domain_counts_flagged_queries_and_excess_false_alarms():
    v = audit_summary(_numbers())[2]
    assert "6 of 10 queries are judged outside the domain and 4 inside" in v.answer
    assert "flags 1 of 12 (8.0%, target at most α = 10.0%)" in v.answer
    # detection counted only because this synthetic case's queries are shifted by construction
    assert "shifted by construction: it flags 9 of 10 (90.0%), AUROC 0.95" in v.answer
    assert "1 of 1 (sinkhorn)" in v.answer  # the in-domain test is not a test of the queries
    assert v.level == "caution" and v.topic == "domain"
    assert any("6 of 10 queries" in r for r in v.reasons)
    numbers = _numbers()
    numbers["case"]["n_queries_in"] = 100
    numbers["reliability"]["alpha"] = 0.05
    # bound 0.05 + 3 sqrt(0.05 * 0.95 / 100) = 0.115
    numbers["reliability"]["indicators"]["combined"]["false_alarm_rate"] = 0.12
    v = audit_summary(numbers)[2]
    assert v.level == "problem" and "more often than α allows" in v.answer
    numbers["reliability"]["indicators"]["combined"]["false_alarm_rate"] = 0.11
    assert audit_summary(numbers)[2].level == "caution"


def test_domain_on_user_queries_never_assumes_they_are_shifted():
    numbers = _numbers()
    numbers["case"]["queries_shifted_by_construction"] = False
    numbers["case"]["n_queries_shifted"] = 0
    for ind in numbers["reliability"]["indicators"].values():
        ind["detection_rate"] = ind["auroc"] = None
    v = audit_summary(numbers)[2]
    assert "shifted" not in v.answer and "AUROC" not in v.answer and "detection" not in v.answer
    assert "6 of 10 queries are judged outside" in v.answer
    # labelled queries: errors among accepted vs flagged, and the large errors caught
    assert "among the 4 accepted" in v.answer and "among the 6 flagged" in v.answer
    assert "6 of 6 flagged (100.0%)" in v.answer
    # nothing outside, no test rejecting: ok
    numbers["queries"]["n_outside"], numbers["queries"]["n_inside"] = 0, 10
    numbers["queries"]["labelled"] = None
    numbers["transport"]["shift_tests"]["sinkhorn"]["rejected"] = False
    assert audit_summary(numbers)[2].level == "ok"


def test_accepted_labelled_queries_with_poor_coverage_are_a_caution():
    numbers = _numbers()
    numbers["queries"]["n_outside"], numbers["queries"]["n_inside"] = 0, 10
    numbers["transport"]["shift_tests"]["sinkhorn"]["rejected"] = False
    lab = numbers["queries"]["labelled"]
    lab["inside"] = {"count": 100, "mae": [0.1, 0.2], "coverage": [0.9, 0.8], "n_large_errors": 3}
    # 0.8 < 0.9 - 3 sqrt(0.9 * 0.1 / 100) = 0.81
    v = audit_summary(numbers)[2]
    assert v.level == "caution" and "accepts queries where the surrogate fails" in v.reasons[0]
    lab["inside"]["coverage"] = [0.9, 0.82]
    assert audit_summary(numbers)[2].level == "ok"


def test_verdict_records_and_levels():
    from edtjax.report.summary import reaches_level, verdict_records

    verdicts = audit_summary(_numbers())
    records = verdict_records(verdicts)
    assert [r["topic"] for r in records] == ["calibration", "agreement", "domain", "bias"]
    assert all(r["level"] in ("ok", "caution", "problem", "n/a") and r["reasons"] for r in records)
    levels = [v.level for v in verdicts]
    assert len(reaches_level(verdicts, "caution")) == sum(
        x in ("caution", "problem") for x in levels
    )
    assert len(reaches_level(verdicts, "problem")) == levels.count("problem")
    with pytest.raises(ValueError, match="level"):
        reaches_level(verdicts, "bad")


def test_bias_interval_and_unavailable_sections():
    v = audit_summary(_numbers())[3]
    assert v.level == "ok"
    assert "0.018, 90.0% interval [0.01, 0.03]; actual bias 0.02 (inside" in v.answer
    numbers = _numbers()
    numbers["bias"]["contains_true"] = False
    assert audit_summary(numbers)[3].level == "problem"
    skipped = _numbers(bias={"skipped": "no downstream quantity in the config"})
    assert audit_summary(skipped)[3].answer == (
        "Not available: no downstream quantity in the config."
    )
    statuses = [v.level for v in audit_summary(_numbers(sobol=None, reliability=None))]
    assert statuses[1:3] == ["n/a", "n/a"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "—"), (True, "yes"), (7, "7"), (0.000123456, "0.000123"), ([0.5, 2], "[0.5, 2]")],
)
def test_format_number(value, text):
    assert format_number(value) == text


def test_unavailable_reason():
    assert unavailable_reason([], "depth_maps") == "the audit computed no 2-D slices"
    assert unavailable_reason(Skipped("no quantity"), "bias") == "no quantity"
    assert unavailable_reason(synthetic_result().bias, "bias") is None
    assert unavailable_reason(None, "anything") == "this stage did not run"
    assert unavailable_reason(_minimal("toy", {}).surrogates, "surrogates") == (
        "no surrogate was fitted"
    )
    assert unavailable_reason(synthetic_result().depth_maps, "depth_maps") is None
