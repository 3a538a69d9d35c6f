"""Sobol' bar charts and the parameter-GSA heat map draw what they are given."""

from types import SimpleNamespace

import jax
import numpy as np
import numpyro.distributions as dist
import pytest

from edtjax.report.sensitivity_plots import (
    plot_parameter_gsa,
    plot_sobol_comparison,
    plot_sobol_indices,
)
from edtjax.sensitivity import sobol_indices


@pytest.mark.slow
def test_bars_and_png(tmp_path):
    factors = {"a": dist.Normal(0.0, 1.0), "b": dist.Uniform(-1.0, 1.0)}
    r = sobol_indices(jax.random.key(0), lambda v: v["a"] + v["b"] ** 2, factors, 256)
    fig = plot_sobol_indices(r, title="test")
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # 2 factors x (first, total)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["['a']", "['b']"]
    fig.savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_mismatched_result_is_rejected():
    fake = SimpleNamespace(first_order={"a": 1.0}, total_order={"a": 1.0, "b": 2.0})
    with pytest.raises(ValueError, match="same structure"):
        plot_sobol_indices(fake)


def _indices(first, total, half=0.05):
    first, total = np.asarray(first), np.asarray(total)
    return {
        "first": first,
        "first_ci": np.stack([first - half, first + half], -1),
        "total": total,
        "total_ci": np.stack([total - half, total + half], -1),
    }


def test_sobol_comparison_pairs_simulator_and_surrogate():
    sim = _indices([[0.6, 0.1], [0.3, 0.8]], [[0.65, 0.15], [0.35, 0.85]])
    sur = _indices([[0.5, 0.1], [0.3, 0.7]], [[0.6, 0.2], [0.4, 0.8]])
    fig = plot_sobol_comparison(sur, sim, input_names=["a", "b"], output_names=["y", "z"])
    assert len(fig.axes) == 4
    ax = fig.axes[2]  # second output, first-order
    assert ax.get_title() == "z: first-order index"
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [0.1, 0.8, 0.1, 0.7])  # simulator bars, then surrogate
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["simulator", "surrogate"]
    alone = plot_sobol_comparison(sur, input_names=["a", "b"], output_names=["y", "z"])
    assert len(alone.axes[0].patches) == 2


def test_parameter_gsa_annotates_every_cell():
    first, total = np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([[0.5, 0.6], [0.7, 0.8]])
    fig = plot_parameter_gsa(["l0", "l1"], first, total, output_names=["y", "z"])
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == ["0.50", "0.60", "0.70", "0.80"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), first)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: plot_sobol_comparison(s, input_names=["a"], output_names=["y", "z"]), "first"),
        (
            lambda s: plot_sobol_comparison(
                {"first": 1}, input_names=["a", "b"], output_names=["y", "z"]
            ),
            "first_ci",
        ),
        (
            lambda s: plot_sobol_comparison(s, input_names="ab", output_names=["y", "z"]),
            "input_names",
        ),
        (
            lambda s: plot_parameter_gsa(["l0"], s["first"], s["total"], output_names=["y", "z"]),
            "first",
        ),
    ],
)
def test_bad_comparison_input(call, match):
    s = _indices([[0.6, 0.1], [0.3, 0.8]], [[0.65, 0.15], [0.35, 0.85]])
    with pytest.raises(ValueError, match=match):
        call(s)
