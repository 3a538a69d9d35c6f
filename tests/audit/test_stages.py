"""The audit's Sobol' agreement rule and its held-out bias interval, on exact small cases."""

import math

import numpy as np
import pytest
from scipy import stats

from edtjax.audit._sensitivity import sobol_agreement
from edtjax.audit.records import IndexTable

INPUTS, OUTPUTS = ("a", "b", "c"), ("y",)


def _indices(total, half_width):
    total = np.asarray(total, float)[:, None]
    ci = np.stack([total - half_width, total + half_width], axis=-1)
    return IndexTable(total.tolist(), ci.tolist(), total.tolist(), ci.tolist(), 1024)


def test_agreement_ignores_swaps_the_simulator_cannot_resolve():
    # a >> b ~ c: the simulator cannot order b and c (overlapping intervals)
    sim = _indices([0.8, 0.1, 0.09], 0.02)
    swapped = _indices([0.79, 0.08, 0.095], 0.02)
    agree = sobol_agreement(sim, swapped, INPUTS, OUTPUTS)
    assert agree.same_ranking and agree.ranking_conflicts == []
    assert agree.same_top_input
    assert agree.max_abs_diff_total == pytest.approx(0.02)


def test_agreement_reports_swaps_of_separated_inputs():
    sim = _indices([0.8, 0.1, 0.09], 0.02)
    wrong = _indices([0.05, 0.1, 0.7], 0.02)
    agree = sobol_agreement(sim, wrong, INPUTS, OUTPUTS)
    assert not agree.same_ranking and not agree.same_top_input
    assert agree.ranking_conflicts == ["y: a > b", "y: a > c"]


def test_agreement_needs_the_simulator():
    assert sobol_agreement(None, _indices([0.5, 0.3, 0.2], 0.01), INPUTS, OUTPUTS) is None


def test_held_out_bias_interval_covers_at_its_level():
    """The interval r_bar ± t s sqrt(1/n + 1/M) for the mean of M new residuals.

    Exact check of the construction used by the bias stage: with Gaussian residuals the
    interval is a t-based prediction interval of exact level, so over R = 4000 repetitions the
    miss count is Binomial(R, 0.1); 0.1 ± 4.5 binomial s.e. fails with probability < 1e-5.
    """
    from edtjax.audit._bias import _interval

    rng = np.random.default_rng(0)
    n, m, reps, level = 40, 200, 4000, 0.9
    misses = 0
    for _ in range(reps):
        held_out = rng.normal(0.3, 2.0, n)
        true_bias = float(np.mean(rng.normal(0.3, 2.0, m)))
        bias, (lo, hi) = _interval(held_out, m, level)
        assert bias == pytest.approx(float(np.mean(held_out)))
        misses += not lo <= true_bias <= hi
    se = math.sqrt(0.1 * 0.9 / reps)
    assert abs(misses / reps - 0.1) < 4.5 * se
    # width: t quantile times the standard error of a difference of means
    r = np.arange(10.0)
    _, (lo, hi) = _interval(r, 5, 0.9)
    assert (hi - lo) / 2 == pytest.approx(
        stats.t.ppf(0.95, 9) * np.std(r, ddof=1) * math.sqrt(1 / 10 + 1 / 5)
    )
