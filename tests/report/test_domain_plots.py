"""Depth maps draw the validity boundary at the threshold; quantile contours are closed."""

import chex
import numpy as np
import pytest

from edtjax.report.domain_plots import plot_depth_map, plot_quantile_contours


def _map():
    g = np.linspace(-2.0, 2.0, 41)
    xx, yy = np.meshgrid(g, g[:31])
    return g, g[:31], np.hypot(xx, yy)


def test_boundary_is_the_threshold_contour():
    gx, gy, s = _map()
    fig = plot_depth_map(
        gx,
        gy,
        s,
        1.0,
        input_names=["a", "b"],
        indicator="radius",
        train=np.zeros((5, 2)),
        queries_inside=np.zeros((2, 2)),
        queries_outside=np.ones((3, 2)),
        fixed={"c": 0.5},
    )
    ax = fig.axes[0]
    assert ax.get_xlabel() == "a" and ax.get_ylabel() == "b"
    assert "c = 0.5" in ax.get_title()
    boundary = ax.collections[-4]  # the threshold contour, drawn before the three scatters
    assert list(boundary.levels) == [1.0]
    vertices = np.concatenate(boundary.get_paths()[0].to_polygons())
    np.testing.assert_allclose(np.hypot(*vertices.T), 1.0, atol=0.02)  # grid step 0.1
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "validity boundary (radius = 1)",
        "training inputs",
        "queries judged inside (all inputs)",
        "queries judged outside (all inputs)",
        "points projected on the slice: see the verdicts",
    ]


def test_threshold_outside_the_score_range_is_said():
    gx, gy, s = _map()
    fig = plot_depth_map(gx, gy, s, 10.0, input_names=["a", "b"])
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["whole slice inside the domain"]


def test_quantile_contours_are_closed_and_ordered():
    t = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t)], -1)
    fig = plot_quantile_contours(
        {0.9: 2.0 * circle, 0.5: circle}, np.zeros((3, 2)), input_names=["a", "b"]
    )
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines] == ["τ = 0.50", "τ = 0.90"]
    xy = lines[1].get_xydata()
    chex.assert_shape(xy, (17, 2))
    np.testing.assert_allclose(xy[0], xy[-1])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda g, s: plot_depth_map(g, g, s, 1.0, input_names=["a", "b"]), "score"),
        (lambda g, s: plot_depth_map(g, g[:31], s, np.nan, input_names=["a", "b"]), "threshold"),
        (lambda g, s: plot_depth_map(g, g[:31], s, 1.0, input_names=["a"]), "input_names"),
        (
            lambda g, s: plot_depth_map(
                g, g[:31], s, 1.0, input_names=["a", "b"], train=np.zeros((3, 3))
            ),
            "train",
        ),
        (
            lambda g, s: plot_quantile_contours({}, np.zeros((3, 2)), input_names=["a", "b"]),
            "contours",
        ),
        (
            lambda g, s: plot_quantile_contours(
                {1.5: np.zeros((4, 2))}, np.zeros((3, 2)), input_names=["a", "b"]
            ),
            "contour level",
        ),
    ],
)
def test_bad_input(call, match):
    g, _, s = _map()
    with pytest.raises(ValueError, match=match):
        call(g, s)
