"""Calibration and coverage figures draw the curves they are given."""

import numpy as np
import pytest

from edtjax.report.uq_plots import plot_calibration_curve, plot_coverage


def test_calibration_curve_lines_follow_the_data():
    p = np.linspace(0.0, 1.0, 11)
    fig = plot_calibration_curve(p, {"ensemble": p**2, "bnn": p})
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["ideal", "ensemble", "bnn"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), p**2)
    assert ax.get_xlim() == (0.0, 1.0)


def test_coverage_draws_raw_and_conformal_per_method():
    q = np.linspace(0.1, 0.9, 9)
    fig = plot_coverage(q, {"a": q - 0.1, "b": q}, {"a": q})
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["ideal", "a (raw)", "a (conformal)", "b (raw)"]
    assert lines[1].get_color() == lines[2].get_color()
    assert lines[2].get_linestyle() == "--"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: plot_calibration_curve(np.ones(3), {}), "observed"),
        (lambda: plot_calibration_curve(np.ones(3), {"a": np.ones(4)}), "observed"),
        (lambda: plot_calibration_curve(np.ones((3, 1)), {"a": np.ones(3)}), "expected"),
        (lambda: plot_coverage(np.ones(3), {"a": [0.1, np.nan, 0.3]}), "finite"),
        (lambda: plot_coverage(np.ones(3), {"a": np.ones(3)}, {"b": np.ones(3)}), "conformal"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
