"""Shift-test, indicator-score and timing figures."""

import numpy as np
import pytest

from edtjax.report.validity_plots import (
    plot_indicator_scores,
    plot_shift_tests,
    plot_stage_timings,
)


def test_shift_tests_one_panel_per_test_with_observed_line():
    null = np.random.default_rng(0).gamma(2.0, size=100)
    fig = plot_shift_tests({"a": null, "b": null}, {"a": 9.0, "b": 1.0}, {"a": 0.01, "b": 0.5})
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title() == "a: p = 0.01"
    assert fig.axes[0].lines[0].get_xdata()[0] == 9.0
    assert sum(p.get_height() for p in fig.axes[1].patches) == 100


def test_indicator_scores_grid_hides_unused_panels():
    rng = np.random.default_rng(0)
    s = {k: rng.uniform(size=20) for k in "abcde"}
    fig = plot_indicator_scores(s, {k: v + 1.0 for k, v in s.items()}, dict.fromkeys(s, 1.0))
    assert len(fig.axes) == 6 and sum(ax.get_visible() for ax in fig.axes) == 5
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "in-domain (20)",
        "shifted (20)",
        "threshold 1",
    ]
    empty = plot_indicator_scores({"a": s["a"]}, {"a": np.zeros(0)}, {"a": 0.5})
    assert len(empty.axes[0].get_legend().get_texts()) == 2


def test_stage_timings_bars_in_run_order():
    fig = plot_stage_timings({"simulate": 1.5, "train": 12.0, "sobol": 3.2})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["simulate", "train", "sobol"]
    assert [p.get_width() for p in ax.patches] == [1.5, 12.0, 3.2]
    assert "total 16.7 s" in ax.get_title()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_shift_tests({}, {}, {}), "nulls"),
        (lambda: plot_shift_tests({"a": np.ones(3)}, {}, {"a": 0.1}), "statistics"),
        (lambda: plot_shift_tests({"a": np.ones(3)}, {"a": 1.0}, {"a": 1.5}), "p_values"),
        (lambda: plot_shift_tests({"a": np.ones(0)}, {"a": 1.0}, {"a": 0.5}), "at least one"),
        (lambda: plot_indicator_scores({"a": np.ones(3)}, {}, {"a": 1.0}), "scores_shifted"),
        (lambda: plot_indicator_scores({"a": np.ones(3)}, {"a": [np.inf]}, {"a": 1.0}), "finite"),
        (lambda: plot_stage_timings({"a": -1.0}), "timings"),
        (lambda: plot_stage_timings({}), "timings"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
